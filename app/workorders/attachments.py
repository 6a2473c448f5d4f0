"""Attachments: photos and files on a work order, with size and type limits checked on the bytes."""
import re
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from app.errors import Conflict, Invalid, NotFound, Unauthorized
from app.extensions import db
from app.flows.forms import attachment_refs
from app.org.models import User
from app.workorders import timeline
from app.workorders.models import Attachment, Task
from app.workorders.policy import visible_work_order
from app.workorders.storage import ALLOWED_TYPES, new_key, sniff


def _clean_name(filename: str) -> str:
    name = re.sub(r"[^\w.\- ]+", "_", filename or "file").strip(" .") or "file"
    return name[-200:]


def _check_task(work_order_id: int, task_id: int | None) -> None:
    if task_id is not None:
        task = db.session.get(Task, task_id)
        if task is None or task.work_order_id != work_order_id:
            raise Invalid("That task is not part of this work order.", details={"task_id": ["not in this work order"]})


def attachment_errors(*, work_order_id: int | None, fields: list[dict], values: dict, prefix: str = "data") -> dict:
    """Form values of `attachment`, `photos` and `signature` fields must name stored attachments of this work order,
    and photos and signatures must be images, by field path (`data.photos.1` for the second photo).

    An id of another work order's attachment, of one not uploaded (yet), or of none at all reads the same:
    which attachments exist elsewhere is not the form's business. A work order being created has none yet.
    """
    wanted = attachment_refs(fields, values)
    if not wanted:
        return {}
    found: dict[int, str] = {}
    if work_order_id is not None:
        found = dict(db.session.execute(select(Attachment.id, Attachment.content_type).where(
            Attachment.id.in_({attachment_id for _, attachment_id, _ in wanted}), Attachment.work_order_id == work_order_id,
            Attachment.status == "stored")).all())
    errors: dict[str, list[str]] = {}
    for path, attachment_id, image in wanted:
        if attachment_id not in found and image:
            errors[f"{prefix}.{path}"] = ["must be an image uploaded to this work order"]
        elif attachment_id not in found:
            errors[f"{prefix}.{path}"] = ["must be an attachment uploaded to this work order"]
        elif image and not found[attachment_id].startswith("image/"):
            errors[f"{prefix}.{path}"] = ["must be an image (a photo or a drawing), not a document"]
    return errors


def _recorded(user: User, work_order_id: int, attachment: Attachment, now: datetime) -> Attachment:
    timeline.record(work_order_id=work_order_id, task_id=attachment.task_id, kind="attachment_added", actor_id=user.id, now=now,
                    details={"attachment_id": attachment.id, "filename": attachment.filename, "content_type": attachment.content_type,
                             "size": attachment.size})
    return attachment


def upload(*, user: User, work_order_id: int, stream, filename: str, task_id: int | None, storage, max_bytes: int,
           now: datetime) -> Attachment:
    """Store an uploaded file whose bytes are an allowed type and within the size limit."""
    work_order = visible_work_order(user, work_order_id)
    _check_task(work_order.id, task_id)
    head = stream.read(32)
    content_type = sniff(head)
    if content_type is None:
        raise Invalid("Only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files can be attached.", code="unsupported_file_type",
                      details={"file": ["content is not an allowed type"]})
    key = new_key(work_order.id, content_type)

    class _Rejoined:
        def __init__(self):
            self.first = head

        def read(self, n=-1):
            if self.first:
                out, self.first = self.first, b""
                return out
            return stream.read(n)

    try:
        size = storage.save(key, _Rejoined(), max_bytes)
    except OverflowError:
        raise Invalid(f"Files may be at most {max_bytes // (1024 * 1024)} MB.", code="file_too_large", details={"file": ["too large"]})
    attachment = Attachment(work_order_id=work_order.id, task_id=task_id, filename=_clean_name(filename), content_type=content_type,
                            size=size, storage_key=key, status="stored", uploaded_by_id=user.id, created_at=now)
    db.session.add(attachment)
    db.session.flush()
    _recorded(user, work_order.id, attachment, now)
    db.session.commit()
    return attachment


def request_upload(*, user: User, work_order_id: int, filename: str, content_type: str, size: int, task_id: int | None,
                   storage, max_bytes: int, now: datetime) -> tuple[Attachment, dict]:
    """Announce a file and get a presigned upload (S3); confirm it once uploaded."""
    work_order = visible_work_order(user, work_order_id)
    _check_task(work_order.id, task_id)
    if content_type not in ALLOWED_TYPES:
        raise Invalid("Only photos and PDF files can be attached.", code="unsupported_file_type", details={"content_type": [f"one of {list(ALLOWED_TYPES)}"]})
    if size > max_bytes:
        raise Invalid(f"Files may be at most {max_bytes // (1024 * 1024)} MB.", code="file_too_large", details={"size": ["too large"]})
    if not getattr(storage, "presigned", False):
        raise Conflict("This server takes uploads directly: send multipart/form-data with a `file`.", code="direct_upload_only")
    key = new_key(work_order.id, content_type)
    attachment = Attachment(work_order_id=work_order.id, task_id=task_id, filename=_clean_name(filename), content_type=content_type,
                            size=size, storage_key=key, status="pending", uploaded_by_id=user.id, created_at=now)
    db.session.add(attachment)
    db.session.commit()
    return attachment, storage.presign_upload(key, content_type, max_bytes)


def confirm_upload(*, user: User, attachment_id: int, storage, now: datetime) -> Attachment:
    """Check a presigned upload arrived and is what it claimed to be."""
    attachment = get_attachment(user=user, attachment_id=attachment_id)
    if attachment.status == "stored":
        return attachment
    found = storage.head(attachment.storage_key)
    if found is None:
        raise Conflict("The file has not been uploaded yet.", code="upload_missing")
    size, head = found
    if sniff(head) != attachment.content_type:
        attachment.status = "rejected"
        db.session.commit()
        raise Invalid("The uploaded file is not the announced type.", code="unsupported_file_type")
    attachment.size = size
    attachment.status = "stored"
    _recorded(user, attachment.work_order_id, attachment, now)
    db.session.commit()
    return attachment


def get_attachment(*, user: User, attachment_id: int) -> Attachment:
    """An attachment of a work order the user may see."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("No such attachment.")
    visible_work_order(user, attachment.work_order_id)
    return attachment


# Viewing in the app: an <img> cannot send the Authorization header, so each reader gets, in the answers that name an
# attachment, a link signed for them and that one attachment, good for VIEW_SECONDS (like a presigned S3 URL). It
# stops working at once when they are deactivated or change their password (the session version is in it).
VIEW_SALT = "attachment-view"
VIEW_SECONDS = 15 * 60


def view_link(*, secret: str, user: User, attachment_id: int) -> str:
    """A short-lived link that shows `attachment_id` to `user` without a header (thumbnails, full screen, download)."""
    token = URLSafeTimedSerializer(secret, salt=VIEW_SALT).dumps([attachment_id, user.id, user.session_version])
    return f"/api/v1/attachments/{attachment_id}/view?t={token}"


def viewed_attachment(*, secret: str, attachment_id: int, token: str) -> Attachment:
    """The attachment a view link names, when the link is genuine, current, and its reader may still see it."""
    try:
        named, user_id, version = URLSafeTimedSerializer(secret, salt=VIEW_SALT).loads(token, max_age=VIEW_SECONDS)
    except SignatureExpired:
        raise Unauthorized("This link has expired; open the work order again.", code="link_expired")
    except (BadSignature, ValueError, TypeError):
        raise Unauthorized("This link is not valid.", code="link_invalid")
    user = db.session.get(User, user_id)
    if named != attachment_id or user is None or not user.active or user.session_version != version:
        raise Unauthorized("This link is not valid.", code="link_invalid")
    return get_attachment(user=user, attachment_id=attachment_id)
