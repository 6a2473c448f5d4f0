"""Attachment storage: a local folder by default, S3 with presigned URLs in AWS (chosen by configuration)."""
import os
import uuid
from pathlib import Path

# Allowed types, recognised by their first bytes, not by the name or the header the client sent.
SIGNATURES = {
    "image/jpeg": [b"\xff\xd8\xff"],
    "image/png": [b"\x89PNG\r\n\x1a\n"],
    "image/gif": [b"GIF87a", b"GIF89a"],
    "application/pdf": [b"%PDF-"],
}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp", "image/heic": "heic", "application/pdf": "pdf"}
ALLOWED_TYPES = tuple(EXTENSIONS)


def sniff(head: bytes) -> str | None:
    """The content type the bytes really are, among the allowed ones."""
    for content_type, magics in SIGNATURES.items():
        if any(head.startswith(m) for m in magics):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
        return "image/heic"
    return None


def new_key(work_order_id: int, content_type: str) -> str:
    return f"work-orders/{work_order_id}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"


class LocalStorage:
    """Files under a folder on this machine (the embedded default)."""

    presigned = False

    def __init__(self, root: str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("key escapes the storage folder")
        return path

    def save(self, key: str, stream, max_bytes: int) -> int:
        """Write a stream, refusing it (and leaving nothing behind) once it exceeds max_bytes."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        size = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise OverflowError(size)
                    out.write(chunk)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return size

    def open(self, key: str):
        return open(self._path(key), "rb")


class S3Storage:
    """S3 through boto3: the phone uploads straight to S3 with a presigned POST; downloads are presigned GETs."""

    presigned = True

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None):
        import boto3

        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or os.environ.get("AWS_REGION", "us-east-1"))

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires: int = 900) -> dict:
        return self.client.generate_presigned_post(
            self.bucket, key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires,
        )

    def head(self, key: str) -> tuple[int, bytes] | None:
        """Size and first bytes of an uploaded object, or None if it is not there."""
        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError:
            return None
        head = self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-31")["Body"].read()
        return meta["ContentLength"], head

    def save(self, key: str, stream, max_bytes: int) -> int:
        data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise OverflowError(len(data))
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return len(data)

    def download_url(self, key: str, filename: str, content_type: str, expires: int = 300) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'},
            ExpiresIn=expires,
        )


def from_config(config) -> LocalStorage | S3Storage:
    """The storage named by BATON_ATTACHMENT_STORAGE (`local` or `s3`)."""
    if config["ATTACHMENT_STORAGE"] == "s3":
        return S3Storage(config["S3_BUCKET"], endpoint_url=config.get("AWS_ENDPOINT_URL"))
    return LocalStorage(config["ATTACHMENT_DIR"])
