"""Security properties of every answer: headers, no CORS, uploads judged by their bytes, secrets never logged."""
import io
import logging
import re
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASH, assert_error
from tests.hardening import world as worlds
from tests.hardening.world import PNG, V1

ROOT = Path(__file__).resolve().parents[2]
# Headers are a property of the HTTP layer: one database is enough.
http_only = pytest.mark.parametrize("backend", ["sqlite"])


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


def assert_safe_headers(response, what: str, *, production: bool = False) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in ("no-referrer", "strict-origin-when-cross-origin", "same-origin"), what
    csp = _directives(headers.get("Content-Security-Policy", ""))
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src, (what, headers.get("Content-Security-Policy"))
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert unsafe not in script_src, (what, unsafe, script_src)
    assert csp.get("object-src") == ["'none'"] or csp.get("default-src") == ["'none'"], (what, csp)
    assert csp.get("frame-ancestors") == ["'none'"] or "sandbox" in csp, (what, csp)
    hsts = headers.get("Strict-Transport-Security")
    if production:
        assert hsts and int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000, (what, hsts)
    else:
        assert hsts is None, (what, hsts)  # HSTS on plain-HTTP development would pin browsers to HTTPS on localhost
    for name in headers.keys():
        assert not name.lower().startswith("access-control-"), (what, name)


def _sample_responses(client, w) -> dict:
    """One answer of each kind the app gives: JSON, lists, errors of every class, files, docs, the PWA, health."""
    admin, staff = w.bearer("admin"), w.bearer("staff.wh1")
    ids = w.ids
    samples = {
        "GET /me": client.get(f"{V1}/me", headers=admin),
        "GET work order": client.get(f"{V1}/work-orders/{ids['work_order']}", headers=admin),
        "GET list": client.get(f"{V1}/work-orders?per_page=2", headers=admin),
        "GET inbox": client.get(f"{V1}/tasks/inbox", headers=staff),
        "POST 201": client.post(f"{V1}/groups", json={"name": "Headers"}, headers=admin),
        "401": client.get(f"{V1}/me"),
        "401 bad token": client.get(f"{V1}/me", headers={"Authorization": "Bearer nope"}),
        "403": client.get(f"{V1}/api-keys", headers=staff),
        "404 private": client.get(f"{V1}/work-orders/{ids['private_work_order']}", headers=staff),
        "404 route": client.get(f"{V1}/no-such-thing"),
        "405": client.delete(f"{V1}/me", headers=admin),
        "400 malformed": client.post(f"{V1}/groups", data="{", content_type="application/json", headers=admin),
        "422": client.post(f"{V1}/groups", json={"name": 7}, headers=admin),
        "409": client.post(f"{V1}/groups", json={"name": "Headers"}, headers=admin),
        "attachment": client.get(f"{V1}/attachments/{ids['attachment']}", headers=admin),
        "openapi": client.get(f"{V1}/openapi.json"),
        "docs": client.get("/api/docs"),
        "docs asset": client.get("/api/docs/init.js"),
        "healthz": client.get("/healthz"),
        "pwa": client.get("/"),
        "pwa deep link": client.get("/some/client/route"),
        "preflight": client.options(f"{V1}/me", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "GET"}),
    }
    return samples


@http_only
def test_every_kind_of_answer_carries_the_security_headers(app, client):
    w = worlds.build(client)
    for what, response in _sample_responses(client, w).items():
        assert response.status_code < 500, (what, response.status_code)
        assert_safe_headers(response, what)


@http_only
def test_production_adds_hsts_and_keeps_the_rest(app, tmp_path):
    production = create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "p" * 8 + "roduction-secret-key-of-forty-chars-x",
        "PRODUCTION": True,
        "ATTACHMENT_DIR": str(tmp_path / "uploads"),
        **FAST_HASH,
    })
    assert len(production.config["SECRET_KEY"]) >= 40
    with production.app_context():
        client = production.test_client()
        w = worlds.build(client)
        for what, response in _sample_responses(client, w).items():
            assert response.status_code < 500, (what, response.status_code)
            assert_safe_headers(response, what, production=True)
        db.session.remove()
        db.engine.dispose()


@http_only
def test_no_cors_headers_for_any_origin(app, client, auth, demo):
    admin = auth.headers("admin")
    for origin in ("https://evil.example", "null", "http://localhost:5000"):
        for response in (
            client.get(f"{V1}/me", headers={**admin, "Origin": origin}),
            client.post(f"{V1}/auth/login", json={"login": "admin", "password": "baton-demo"}, headers={"Origin": origin}),
            client.options(f"{V1}/work-orders", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "Authorization"}),
        ):
            assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")], dict(response.headers)


@http_only
def test_uploads_are_judged_by_their_bytes_and_served_inert(app, client):
    w = worlds.build(client)
    admin, wo = w.bearer("admin"), w.ids["work_order"]

    def upload(data: bytes, name: str, content_type: str = "image/jpeg"):
        return client.post(f"{V1}/work-orders/{wo}/attachments", headers=admin, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name, content_type)})

    html = b"<!doctype html><html><script>fetch('/api/v1/me')</script></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for data, name in ((html, "photo.jpg"), (svg, "photo.png"), (b"MZ\x90\x00" + b"\x00" * 60, "scan.pdf"),
                       (b"", "empty.jpg"), (b"GIF8", "short.gif")):
        err = assert_error(upload(data, name), 422, "unsupported_file_type")
        assert "file" in err["details"]

    # A real image named like a page is stored as the image its bytes are, and served inert.
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"<script>alert(1)</script>"
    stored = upload(jpeg, "page.html", content_type="text/html")
    assert stored.status_code == 201, stored.json
    assert stored.json["content_type"] == "image/jpeg"
    served = client.get(stored.json["url"], headers=admin)
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    csp = _directives(served.headers["Content-Security-Policy"])
    assert "sandbox" in csp and csp.get("default-src") == ["'none'"], csp
    assert "script-src" not in csp

    pdf = upload(b"%PDF-1.7\n" + b"0" * 64, "report.pdf")
    assert pdf.status_code == 201, pdf.json
    served = client.get(pdf.json["url"], headers=admin)
    assert served.headers["Content-Disposition"].startswith("attachment"), served.headers  # downloaded, not rendered
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    served.close()
    # and the PNG uploaded by the world
    assert client.get(f"{V1}/attachments/{w.ids['attachment']}", headers=admin).data == PNG


@http_only
def test_tokens_passwords_and_api_keys_never_reach_the_logs(app, client, caplog):
    caplog.set_level(logging.DEBUG)  # everything any logger says, at every level
    w = worlds.build(client)
    secrets = {"admin token": w.tokens["admin"], "api key": w.keys["all"], "password": "baton-demo"}
    for scope in worlds.SCOPES:
        secrets[f"key {scope}"] = w.keys[scope]

    created = client.post(f"{V1}/api-keys", json={"name": "logged?", "scopes": ["orders:write"]},
                          headers={**w.bearer("admin"), "Idempotency-Key": "log-check-1"})
    assert created.status_code == 201
    secrets["new key"] = created.json["key"]
    replay = client.post(f"{V1}/api-keys", json={"name": "logged?", "scopes": ["orders:write"]},
                         headers={**w.bearer("admin"), "Idempotency-Key": "log-check-1"})
    assert secrets["new key"] not in replay.get_data(as_text=True)  # the replay never shows the secret again
    wrong_password = "Wr0ng-password-that-must-not-be-logged"
    assert client.post(f"{V1}/auth/login", json={"login": "admin", "password": wrong_password}).status_code == 401
    forged = w.tokens["admin"][:-4] + "AAAA"
    stale_key = "bk_" + "x" * 43
    for headers in ({"Authorization": f"Bearer {forged}"}, {"Authorization": f"Basic {forged}"}, {"X-API-Key": stale_key},
                    {"X-API-Key": w.keys["all"]}, w.bearer("admin")):
        client.get(f"{V1}/me", headers=headers)
        client.post(f"{V1}/orders", json={"orders": "nope"}, headers=headers)
    # an unstorable value and a conflict are logged: with the request line only
    client.post(f"{V1}/departments", json={"code": "HQ", "name": "again"}, headers=w.bearer("admin"))
    client.post(f"{V1}/auth/login", json={"login": "admin\u0000", "password": wrong_password})
    secrets.update({"wrong password": wrong_password, "forged token": forged, "stale key": stale_key})

    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for name, secret in secrets.items():
        assert secret not in logged, f"{name} appears in the logs"
    assert "bk_" not in logged


def test_make_targets_for_hardening_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("audit", "fuzz", "load", "soak"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "pip-audit" in makefile
