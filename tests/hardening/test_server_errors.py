"""Through a real gunicorn with Baton's configuration (app/gunicorn_conf.py): what the server refuses before the app
sees it, and the bodies only a real server can send (chunked framing), all answer JSON in the error format."""
import json
import socket

import pytest

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASH
from tests.hardening import world as worlds
from tests.hardening.live import SECRET_KEY, Server

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn on a SQLite database of its own (nothing here depends on the database), body limit 64 KiB."""
    folder = tmp_path_factory.mktemp("server-errors")
    url = f"sqlite:///{folder / 'baton.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, **FAST_HASH})
    with app.app_context():
        db.create_all()
        worlds.seed(app.test_client())
        db.session.remove()
        db.engine.dispose()
    running = Server(url, folder, config="app/gunicorn_conf.py", threads=2, env={"BATON_MAX_BODY_BYTES": str(MAX_BODY)})
    yield running
    running.kill()


def exchange(server: Server, raw: bytes) -> tuple[int, dict, dict]:
    """Send raw bytes, read the answer until the server closes; answer (status, headers, JSON body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: read its answer
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers.get("content-type", "").startswith("application/json"), (status, received[:300])
    payload = json.loads(body[: int(headers["content-length"])])
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message", "details"}, payload
    return status, headers, payload["error"]


def request(method: str, target: bytes, headers: list[bytes] = (), body: bytes = b"") -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: baton.test", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


JSON_CHUNKED = [b"Content-Type: application/json", b"Transfer-Encoding: chunked"]


def test_what_gunicorn_refuses_itself_is_json(server):
    cases = [
        (request("GET", b"/api/v1/work-orders?q=" + b"a" * 5000), 414, "uri_too_long"),
        (request("GET", b"/api/v1/me", [b"X-H%d: v" % i for i in range(120)]), 431, "headers_too_large"),
        (request("GET", b"/api/v1/me", [b"X-Big: " + b"v" * 9000]), 431, "headers_too_large"),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (request("GET", b"/api/v1/templates/\xed\xa0\x80"), 400, "bad_request"),  # raw surrogate bytes in the path
        (request("GET", b"/api/v1/me", [b"Bad Header: x"]), 400, "bad_request"),
    ]
    for raw, status, code in cases:
        got, headers, error = exchange(server, raw)
        assert (got, error["code"]) == (status, code), (raw[:80], got, error)
        assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"


def test_a_malformed_chunked_body_is_400_not_500(server):
    for bad in (b"ZZ\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"):
        status, _, error = exchange(server, request("POST", b"/api/v1/auth/login", JSON_CHUNKED, bad))
        assert status == 400 and error["code"] in ("malformed_body", "bad_request"), (bad, status, error)


def test_a_chunked_body_over_the_limit_is_413_not_malformed_json(server):
    body = json.dumps({"login": "admin", "password": "x" * (MAX_BODY + 10)}).encode()
    status, _, error = exchange(server, request("POST", b"/api/v1/auth/login", JSON_CHUNKED, chunked(body[:40000], body[40000:])))
    assert (status, error["code"]) == (413, "payload_too_large")
    # Under the limit, a chunked body is read whole and parsed like any other.
    small = json.dumps({"login": "admin", "password": "wrong password"}).encode()
    status, _, error = exchange(server, request("POST", b"/api/v1/auth/login", JSON_CHUNKED, chunked(small[:10], small[10:])))
    assert (status, error["code"]) == (401, "invalid_credentials")


def test_surrogates_and_deep_json_through_the_server(server):
    for target, body, status, code in (
        (b"/api/v1/auth/login", b'{"login": "\\ud800", "password": "x"}', 422, "validation_error"),
        (b"/api/v1/auth/login", b"[" * 30_000 + b"]" * 30_000, 400, "malformed_json"),
        (b"/api/v1/auth/login", b'{"login": "a", "password": ' + b"9" * 5000 + b"}", 400, "malformed_json"),
    ):
        raw = request("POST", target, [b"Content-Type: application/json", b"Content-Length: %d" % len(body)], body)
        got, _, error = exchange(server, raw)
        assert (got, error["code"]) == (status, code), (body[:60], got, error)
    for target in (b"/api/v1/templates/%ED%A0%80", b"/api/v1/work-orders/99999999999", b"/api/v1/tasks/" + b"9" * 3000):
        got, _, error = exchange(server, request("GET", target))
        assert got in (401, 404), (target[:60], got, error)  # no route, or sign in first: never a 500
