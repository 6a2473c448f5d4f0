"""A local fake Web Push service for tests and benchmarks.

It plays both halves of the far end of Web Push: the *push service*
(verifies the VAPID ``Authorization`` header per RFC 8292, checks the
RFC 8030 headers, answers with a status) and the *browser* (holds each
subscription's P-256 key and auth secret, decrypts the aes128gcm body per
RFC 8291 and records what arrived).

Usage::

    from app.notify.webpush import generate_vapid_keypair
    from tests.notify.push_server import FakePushServer, Respond

    private, public = generate_vapid_keypair()
    with FakePushServer(vapid_public_key=public, delay=0.0) as server:
        sub = server.new_subscription()                       # always 201
        gone = server.new_subscription(behaviour=410)         # always 410
        flaky = server.new_subscription(behaviour=[500, 500, 201])
        limited = server.new_subscription(behaviour=Respond(429, retry_after="7"))
        ...send to them...
        server.received        # list[Received] (decrypted JSON payloads)
        server.request_count   # HTTP requests seen
        server.connection_count  # distinct TCP connections accepted

As a pytest fixture::

    @pytest.fixture
    def push_server(vapid_keys):
        with FakePushServer(vapid_public_key=vapid_keys[1]) as server:
            yield server

Requests are refused (and listed in ``server.rejected``) with 401 for a
missing/non-vapid Authorization; 403 when ``k`` is not the expected key, the
ES256 signature does not verify, ``aud`` is not this server's origin, ``exp``
is past or more than 24 h ahead, or ``sub`` is not mailto:/https:; 400 for
a missing TTL, a bad Urgency/Topic or an undecryptable body; 415 unless
``Content-Encoding: aes128gcm``; 413 above ``max_body``; 404 for an unknown
subscription.

The server runs ``http.server.ThreadingHTTPServer`` (HTTP/1.1 keep-alive,
every response has a Content-Length) in a daemon thread on 127.0.0.1 and a
free port. Only the standard library, ``cryptography`` and ``http_ece`` are
used.

``tls=True`` serves https with a throw-away self-signed certificate for
``hostname`` (trust it through ``server.ca_file``) and records the SNI names
clients sent in ``server.sni_names``; ``hostname`` (default: the listening
address) is the name put in endpoints and expected in the VAPID ``aud``, so a
test can hand out ``https://push.test:PORT/...`` endpoints and resolve
``push.test`` to 127.0.0.1 itself.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import os
import re
import secrets
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import urlsplit

import http_ece
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.notify.fake_http import OneWriteHandler

__all__ = ["FakePushServer", "Received", "Rejected", "Respond"]

MAX_JWT_LIFETIME = 24 * 3600
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_URGENCIES = {"very-low", "low", "normal", "high"}
_PUSH_PATH_RE = re.compile(r"^/push/([A-Za-z0-9_-]+)$")
_MAX_READ = 1 << 20  # larger bodies are refused and the connection closed


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(data: str) -> bytes:
    data = data.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", data):
        raise ValueError("not base64url")
    data = data.rstrip("=")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Respond:
    """A scripted answer: status code, optional Retry-After / extra headers,
    and an extra delay (seconds, on top of the server-wide ``delay``)."""

    status: int = 201
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def of(cls, value: "BehaviourItem") -> "Respond":
        if isinstance(value, Respond):
            return value
        if isinstance(value, bool):
            raise TypeError("behaviour must be a status code, Respond or (status, retry_after)")
        if isinstance(value, int):
            return cls(value)
        if isinstance(value, tuple) and len(value) == 2:
            status, retry_after = value
            return cls(int(status), None if retry_after is None else str(retry_after))
        raise TypeError(f"unsupported behaviour item: {value!r}")


BehaviourItem = Union[int, Respond, "tuple[int, Any]"]
Behaviour = Union[None, BehaviourItem, "list[BehaviourItem]"]


@dataclass(frozen=True)
class Received:
    """A message the fake browser decrypted successfully."""

    sub_id: str
    payload: Any
    ttl: int
    urgency: str | None
    topic: str | None
    headers: dict[str, str]  # names lower-cased
    claims: dict[str, Any] = field(default_factory=dict)
    connection_id: int = 0


@dataclass(frozen=True)
class Rejected:
    """A request the fake push service refused before delivery."""

    sub_id: str | None
    status: int
    reason: str


@dataclass
class _Subscriber:
    sub_id: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    script: list[Respond]
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def next_response(self) -> Respond:
        """Sequence semantics: consume one item per request; the last repeats."""
        with self.lock:
            self.requests += 1
            if not self.script:
                return Respond(201)
            if len(self.script) > 1:
                return self.script.pop(0)
            return self.script[0]


def _script(behaviour: Behaviour) -> list[Respond]:
    """A list is a sequence of answers; anything else is one answer forever."""
    if behaviour is None:
        return []
    if isinstance(behaviour, list):
        if not behaviour:
            raise ValueError("empty behaviour sequence")
        return [Respond.of(b) for b in behaviour]
    return [Respond.of(behaviour)]


class _AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------


_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100


class _Headers:
    """Case-insensitive request headers (first value wins on ``get``)."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        self._first: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # many workers may connect at once

    def __init__(self, address: tuple[str, int], push: "FakePushServer") -> None:
        self.push = push
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def get_request(self):
        sock, address = super().get_request()
        if self.push._tls is not None:  # the handshake runs in the handler thread (see _Handler.setup)
            sock = self.push._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gives up (or refuses our certificate) is not a test failure


class _Handler(OneWriteHandler):
    server_version = "FakePush/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        self.connection_id = self.server.push._on_connect(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.push._on_disconnect(self.connection)

    def parse_request(self) -> bool:
        """HTTP/1.x request line and headers, without the email package.

        Same contract as BaseHTTPRequestHandler.parse_request (sets command,
        path, request_version, headers, close_connection; answers errors
        itself and returns False), but about 5x cheaper: the stdlib version
        runs the headers through email.feedparser, which dominated the fake
        service's CPU in the benchmark.
        """
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3:
            self.send_error(400, f"Bad request line {requestline!r}")
            return False
        command, path, version = words
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(505, f"Unsupported HTTP version {version!r}")
            return False
        self.command, self.path, self.request_version = command, path, version

        headers = _Headers()
        while True:
            line = self.rfile.readline(_MAX_HEADER_LINE + 1)
            if len(line) > _MAX_HEADER_LINE:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            if line[:1] in (b" ", b"\t"):  # obsolete line folding (RFC 9112 5.2)
                self.send_error(400, "Folded header")
                return False
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep or not name or name != name.strip():
                self.send_error(400, "Bad header line")
                return False
            if len(headers) >= _MAX_HEADERS:
                self.send_error(431, "Too many headers")
                return False
            headers.add(name, value.strip())
        self.headers = headers  # type: ignore[assignment]

        connection = headers.get("Connection", "").lower()
        if version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = connection != "keep-alive"
        if version == "HTTP/1.1" and headers.get("Expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def version_string(self) -> str:
        return self.server_version

    def handle_expect_100(self) -> bool:
        ok = super().handle_expect_100()
        self.wfile.flush()  # responses are buffered; the client waits for this one
        return ok

    def do_POST(self) -> None:  # noqa: N802
        self.server.push._handle_post(self)

    def _not_allowed(self) -> None:
        self.server.push._count_request()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if 0 < length <= _MAX_READ:
            self.rfile.read(length)
        elif length != 0 or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
        self.server.push._reply(self, 405, {"Allow": "POST"}, {"error": "method not allowed"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed  # noqa: N815


# --------------------------------------------------------------------------
# The fake push service
# --------------------------------------------------------------------------


class FakePushServer:
    """Fake push service + browser. See the module docstring.

    :param vapid_public_key: the application server's VAPID public key
        (uncompressed point, base64url) that every request must be signed by.
    :param delay: seconds slept before answering each request (models the
        network round trip); may be changed while running.
    :param max_body: bodies larger than this get 413 (real services: 4096).
    """

    def __init__(
        self,
        vapid_public_key: str,
        *,
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = 4096,
        hostname: str | None = None,
        tls: bool = False,
    ) -> None:
        raw = _b64url_decode(vapid_public_key)
        self._vapid_raw = raw
        self._vapid_b64 = _b64url(raw)
        self._vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        self.delay = float(delay)
        self.max_body = max_body
        self._host = host
        self._port = port
        self.hostname = hostname or host
        self.sni_names: list[str | None] = []
        self.ca_file: str | None = None
        self._tls: ssl.SSLContext | None = self._tls_context() if tls else None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._subs: dict[str, _Subscriber] = {}
        self._received: list[Received] = []
        self._rejected: list[Rejected] = []
        self._request_count = 0
        self._connection_count = 0
        self._open_sockets: dict[socket.socket, int] = {}
        self._peak_open = 0
        # token -> claims, filled only after the signature verified against
        # the configured key. Claims (aud/exp/sub) are re-checked every time.
        self._verified_tokens: dict[str, dict[str, Any]] = {}
        self._message_ids = itertools.count(1)  # under self._lock

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "FakePushServer":
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-push-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        # Unblock handler threads idling on keep-alive connections.
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakePushServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.hostname}:{self.port}"

    def _tls_context(self) -> ssl.SSLContext:
        """A self-signed certificate for ``hostname`` (and localhost/127.0.0.1), kept in a temp file."""
        import datetime as _dt
        import ipaddress as _ip

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.hostname)])
        alt: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(_ip.ip_address("127.0.0.1"))]
        try:
            alt.append(x509.IPAddress(_ip.ip_address(self.hostname)))
        except ValueError:
            alt.append(x509.DNSName(self.hostname))
        now = _dt.datetime.now(_dt.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        folder = tempfile.mkdtemp(prefix="fake-push-tls-")
        self.ca_file = os.path.join(folder, "cert.pem")
        key_file = os.path.join(folder, "key.pem")
        with open(self.ca_file, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)

        def record_sni(_sock, server_name, _context):
            with self._lock:
                self.sni_names.append(server_name)

        context.sni_callback = record_sni
        return context

    # -- subscriptions -----------------------------------------------------

    def new_subscription(self, behaviour: Behaviour = None) -> dict:
        """Create a fake browser subscription; returns PushSubscription JSON.

        ``behaviour``: ``None`` (always 201), a status code (``410``), a
        :class:`Respond` (``Respond(429, retry_after="30")``), a tuple
        ``(429, "30")``, or a list of those answered in turn, the last one
        repeating (``[500, 500, 201]``).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        sub_id = secrets.token_urlsafe(12)
        with self._lock:
            self._subs[sub_id] = _Subscriber(sub_id, key, auth, _script(behaviour))
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{sub_id}",
            "keys": {"p256dh": _b64url(public), "auth": _b64url(auth)},
        }

    def sub_id(self, subscription: dict | str) -> str:
        if isinstance(subscription, str):
            return subscription
        parts = urlsplit(subscription["endpoint"])
        match = _PUSH_PATH_RE.match(parts.path)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or not match:
            raise ValueError("not one of this server's endpoints")
        return match.group(1)

    def set_behaviour(self, subscription: dict | str, behaviour: Behaviour) -> None:
        sub = self._subs[self.sub_id(subscription)]
        with sub.lock:
            sub.script = _script(behaviour)

    def requests_for(self, subscription: dict | str) -> int:
        return self._subs[self.sub_id(subscription)].requests

    # -- observations ------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def received_for(self, subscription: dict | str) -> list[Received]:
        sub_id = self.sub_id(subscription)
        return [r for r in self.received if r.sub_id == sub_id]

    @property
    def rejected(self) -> list[Rejected]:
        with self._lock:
            return list(self._rejected)

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._request_count

    @property
    def connection_count(self) -> int:
        """Distinct TCP connections accepted since start (or reset)."""
        with self._lock:
            return self._connection_count

    @property
    def peak_open_connections(self) -> int:
        with self._lock:
            return self._peak_open

    def reset(self) -> None:
        """Forget received/rejected messages and zero the counters."""
        with self._lock:
            self._received.clear()
            self._rejected.clear()
            self._request_count = 0
            self._connection_count = 0
            self.sni_names.clear()
            self._peak_open = len(self._open_sockets)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` messages were received (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- request handling (called from handler threads) --------------------

    def _on_connect(self, sock: socket.socket) -> int:
        with self._lock:
            self._connection_count += 1
            self._open_sockets[sock] = self._connection_count
            self._peak_open = max(self._peak_open, len(self._open_sockets))
            return self._connection_count

    def _on_disconnect(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.pop(sock, None)

    def _count_request(self) -> None:
        with self._lock:
            self._request_count += 1

    def _reply(
        self,
        handler: _Handler,
        status: int,
        headers: dict[str, str] | None = None,
        body: dict | None = None,
        close: bool = False,
        extra_delay: float = 0.0,
    ) -> None:
        delay = self.delay + extra_delay
        if delay > 0:
            time.sleep(delay)
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if data:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if data and handler.command != "HEAD":
            handler.wfile.write(data)

    def _reject(
        self, handler: _Handler, sub_id: str | None, status: int, reason: str, close: bool = False
    ) -> None:
        with self._lock:
            self._rejected.append(Rejected(sub_id, status, reason))
        self._reply(handler, status, body={"error": reason}, close=close)

    def _handle_post(self, handler: _Handler) -> None:
        self._count_request()
        headers = handler.headers

        # Body first, so the keep-alive stream stays in sync on any answer.
        if headers.get("Transfer-Encoding"):
            return self._reject(handler, None, 411, "chunked body not supported", close=True)
        try:
            length = int(headers.get("Content-Length", "0"))
        except ValueError:
            return self._reject(handler, None, 400, "bad Content-Length", close=True)
        if length < 0 or length > _MAX_READ:
            return self._reject(handler, None, 413, "payload too large", close=True)
        body = handler.rfile.read(length) if length else b""

        match = _PUSH_PATH_RE.match(handler.path)
        sub = self._subs.get(match.group(1)) if match else None
        if sub is None:
            return self._reject(handler, None, 404, "no such subscription")

        try:
            claims = self._check_vapid(headers.get("Authorization"))
        except _AuthError as exc:
            return self._reject(handler, sub.sub_id, exc.status, exc.reason)

        ttl_text = headers.get("TTL")
        if ttl_text is None or not re.fullmatch(r"[0-9]{1,10}", ttl_text.strip()):
            return self._reject(handler, sub.sub_id, 400, "missing or invalid TTL")
        ttl = int(ttl_text)
        if (headers.get("Content-Encoding") or "").strip().lower() != "aes128gcm":
            return self._reject(handler, sub.sub_id, 415, "Content-Encoding must be aes128gcm")
        urgency = headers.get("Urgency")
        if urgency is not None and urgency not in _URGENCIES:
            return self._reject(handler, sub.sub_id, 400, "invalid Urgency")
        topic = headers.get("Topic")
        if topic is not None and not _TOPIC_RE.match(topic):
            return self._reject(handler, sub.sub_id, 400, "invalid Topic")
        if len(body) > self.max_body:
            return self._reject(handler, sub.sub_id, 413, "payload too large")
        if not body:
            return self._reject(handler, sub.sub_id, 400, "empty body")

        respond = sub.next_response()
        if not 200 <= respond.status < 300:
            extra = dict(respond.headers)
            if respond.retry_after is not None:
                extra["Retry-After"] = respond.retry_after
            return self._reply(
                handler, respond.status, extra, {"error": f"scripted {respond.status}"},
                extra_delay=respond.delay,
            )

        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=sub.private_key,
                auth_secret=sub.auth_secret,
                version="aes128gcm",
            )
            payload = json.loads(plaintext.decode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - any failure is a bad message
            return self._reject(handler, sub.sub_id, 400, f"undecryptable: {type(exc).__name__}")

        received = Received(
            sub_id=sub.sub_id,
            payload=payload,
            ttl=ttl,
            urgency=urgency,
            topic=topic,
            headers={k.lower(): v for k, v in headers.items()},
            claims=dict(claims),
            connection_id=handler.connection_id,
        )
        with self._cond:
            self._received.append(received)
            message_id = next(self._message_ids)
            self._cond.notify_all()
        location = f"{self.origin}/message/{message_id}"
        self._reply(
            handler, respond.status, {"Location": location, **respond.headers},
            extra_delay=respond.delay,
        )

    # -- VAPID (RFC 8292) --------------------------------------------------

    def _check_vapid(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise _AuthError(401, "missing Authorization")
        scheme, _, params = authorization.strip().partition(" ")
        if scheme.lower() != "vapid":
            raise _AuthError(401, "Authorization scheme must be vapid")
        fields: dict[str, str] = {}
        for part in params.split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name.strip().lower()] = value.strip()
        token, key = fields.get("t"), fields.get("k")
        if not token or not key:
            raise _AuthError(401, "vapid Authorization needs t= and k=")
        if key != self._vapid_b64:  # fast path: the usual unpadded spelling
            try:
                key_raw = _b64url_decode(key)
            except (ValueError, binascii.Error):
                raise _AuthError(403, "k is not base64url") from None
            if key_raw != self._vapid_raw:
                raise _AuthError(403, "k is not the expected VAPID public key")

        with self._lock:
            claims = self._verified_tokens.get(token)
        if claims is None:
            claims = self._verify_jwt(token)
            with self._lock:
                if len(self._verified_tokens) > 10_000:
                    self._verified_tokens.clear()
                self._verified_tokens[token] = claims

        if claims.get("aud") != self.origin:
            raise _AuthError(403, f"aud {claims.get('aud')!r} != {self.origin!r}")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise _AuthError(403, "exp missing or not an integer")
        if exp <= now:
            raise _AuthError(403, "JWT expired")
        if exp > now + MAX_JWT_LIFETIME + 60:  # 60 s clock-skew allowance
            raise _AuthError(403, "exp more than 24 h ahead")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not (
            re.match(r"^mailto:[^@\s]+@[^@\s]+$", sub) or re.match(r"^https://[^\s/]+", sub)
        ):
            raise _AuthError(403, "sub must be a mailto: or https: URL")
        return claims

    def _verify_jwt(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise _AuthError(403, "JWT must have three parts")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise _AuthError(403, "JWT is not base64url JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256":
            raise _AuthError(403, "JWT alg must be ES256")
        if not isinstance(claims, dict):
            raise _AuthError(403, "JWT claims must be an object")
        if len(signature) != 64:
            raise _AuthError(403, "ES256 signature must be 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._vapid_key.verify(
                der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            raise _AuthError(403, "JWT signature does not verify") from None
        return claims
