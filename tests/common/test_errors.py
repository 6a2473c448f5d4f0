"""The HTTP contract around the endpoints (docs/design.md §9): one error format, health, OpenAPI, headers."""
import threading

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from app.extensions import db
from app.org.models import Department, Group
from tests.conftest import assert_error

# Pure HTTP-layer behaviour: storage does not matter, so one backend is enough (CONVENTIONS, Tests).
http_only = pytest.mark.parametrize("backend", ["sqlite"])

V1 = "/api/v1"


def _no_html(response):
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "<!doctype" not in text.lower(), text[:200]


@http_only
def test_malformed_json_is_400(client, auth, demo):
    admin = auth.headers("admin")
    for raw in ('{"name": "x"', "{name: 'x'}", "\xff\xfe"):
        r = client.post(f"{V1}/groups", data=raw, content_type="application/json", headers=admin)
        assert_error(r, 400, "malformed_json")
    assert_error(client.post(f"{V1}/auth/login", data="{", content_type="application/json"), 400, "malformed_json")
    assert db.session.scalar(select(func.count()).select_from(Group)) == 0


@http_only
def test_wrong_types_are_422_with_details_per_field(client, auth, demo):
    admin = auth.headers("admin")
    r = client.post(f"{V1}/groups", json={"name": 7, "members": "everyone", "description": ["x"]}, headers=admin)
    err = assert_error(r, 422, "validation_error")
    assert set(err["details"]) == {"name", "members", "description"}
    assert all(isinstance(messages, list) and messages for messages in err["details"].values())
    err = assert_error(client.post(f"{V1}/groups", json={"name": "ok", "members": [1, "two"]}, headers=admin), 422)
    assert list(err["details"]) == ["members.1"]
    err = assert_error(client.post(f"{V1}/groups", json=["not", "an", "object"], headers=admin), 422)
    assert err["details"]
    err = assert_error(client.get(f"{V1}/users?department_id=abc", headers=admin), 422)
    assert "department_id" in err["details"]


@http_only
def test_unknown_fields_are_422(client, auth, demo):
    admin = auth.headers("admin")
    err = assert_error(client.post(f"{V1}/groups", json={"name": "ok", "owner": 1}, headers=admin), 422, "validation_error")
    assert "owner" in err["details"]
    # a field the client may read but not write is unknown on input
    err = assert_error(client.patch(f"{V1}/users/{demo.uid('staff.wh1')}", json={"login": "renamed"}, headers=admin), 422)
    assert "login" in err["details"]
    assert db.session.scalar(select(func.count()).select_from(Group)) == 0


@http_only
def test_missing_auth_is_401(client, demo):
    for method, path in (("get", "/me"), ("get", "/users"), ("post", "/groups"), ("get", "/tasks/inbox"),
                         ("get", "/api-keys")):
        r = getattr(client, method)(V1 + path, json={} if method == "post" else None)
        assert_error(r, 401, "unauthorized")


@http_only
def test_forbidden_is_403(client, auth, demo):
    assert_error(client.post(f"{V1}/groups", json={"name": "x"}, headers=auth.headers("driver.li")), 403, "forbidden")


def test_not_found_is_404_json_never_html(client, auth, demo):
    admin = auth.headers("admin")
    assert_error(client.get(f"{V1}/users/999999", headers=admin), 404, "not_found")
    for path in (f"{V1}/no-such-thing", f"{V1}/users/abc", "/api/v2/users", "/api/nothing", f"{V1}/"):
        for headers in ({}, admin):
            r = client.get(path, headers=headers)
            assert_error(r, 404, "not_found")
            _no_html(r)
    assert_error(client.post(f"{V1}/no-such-thing", json={}, headers=admin), 404)


@http_only
def test_method_not_allowed_is_405(client, auth, demo):
    r = client.delete(f"{V1}/me", headers=auth.headers("admin"))
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"] and "PATCH" in r.headers["Allow"]
    assert_error(client.put(f"{V1}/auth/login", json={}), 405)
    _no_html(r)


def test_conflict_is_409(client, auth, demo):
    admin = auth.headers("admin")
    client.post(f"{V1}/groups", json={"name": "Pickers"}, headers=admin)
    assert_error(client.post(f"{V1}/groups", json={"name": "Pickers"}, headers=admin), 409)


@http_only
def test_oversized_body_is_413(client, auth, demo, app, monkeypatch):
    admin = auth.headers("admin")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    r = client.post(f"{V1}/groups", json={"name": "big", "description": "x" * 2000}, headers=admin)
    assert_error(r, 413, "payload_too_large")
    r = client.post(f"{V1}/groups", json={"name": "big", "description": "x" * 2000},
                    headers={**admin, "Idempotency-Key": "big-1"})
    assert_error(r, 413, "payload_too_large")
    assert client.post(f"{V1}/groups", json={"name": "small"}, headers=admin).status_code == 201
    assert db.session.scalar(select(Group.name)) == "small"


def test_values_the_database_cannot_hold_are_422_not_500(client, auth, demo):
    admin = auth.headers("admin")
    for big in (2**31, 10**20):  # beyond PostgreSQL's integer, beyond SQLite's 64 bits
        for method, path, body in (
            ("get", f"{V1}/users/{big}", None),
            ("patch", f"{V1}/departments/{big}", {"name": "x"}),
            ("post", f"{V1}/departments", {"code": "X1", "name": "x", "parent_id": big}),
            ("post", f"{V1}/groups", {"name": "g", "members": [big]}),
            ("patch", f"{V1}/me", {"delegate_id": big}),
            ("patch", f"{V1}/users/{demo.uid('staff.wh1')}", {"manager_id": big}),
            ("get", f"{V1}/users?department_id={big}", None),
        ):
            r = getattr(client, method)(path, json=body, headers=admin)
            assert r.status_code < 500 and r.status_code != 401, (path, body, r.status_code)
            if path.startswith(f"{V1}/users?"):
                assert r.status_code == 422 or r.json["items"] == []  # no such department: nobody
            else:
                assert_error(r, r.status_code)
    for method, path, body in (
        ("post", f"{V1}/groups", {"name": "nul\u0000name"}),
        ("get", f"{V1}/users?q=a%00b", None),
        ("post", f"{V1}/auth/login", {"login": "a\u0000b", "password": "x"}),
    ):
        r = getattr(client, method)(path, json=body, headers=admin)
        # PostgreSQL refuses NUL in text (a 4xx); SQLite stores it
        assert r.status_code < 500, (path, r.status_code)
        if r.status_code >= 400:
            assert_error(r, r.status_code)
    # the session is usable after each refusal
    assert client.get(f"{V1}/me", headers=admin).status_code == 200


def test_concurrent_creates_of_one_code_never_500(app, auth, demo):
    """Two admins create the same department at once: one wins, the other gets a 4xx, never a 500."""
    admin = auth.headers("admin")
    db.session.commit()
    n = 6
    barrier = threading.Barrier(n)
    statuses = []

    def create():
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            r = client.post(f"{V1}/departments", json={"code": "RACE-1", "name": "Race"}, headers=admin)
            statuses.append((r.status_code, r.json["error"]["code"] if r.status_code >= 400 else None))
            db.session.remove()

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(statuses) == n
    assert sorted(s for s, _ in statuses) == [201] + [409] * (n - 1), statuses
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Department).where(Department.code == "RACE-1")) == 1


def _register_failing_route(extra_app):
    @extra_app.get("/api/v1/_test/boom")
    def _boom():
        raise RuntimeError("boom: password=hunter2 at /srv/baton/app/secret.py")


@http_only
def test_unexpected_exception_is_500_in_the_error_format_without_a_trace(demo, app_with_routes):
    extra = app_with_routes(_register_failing_route)
    db.session.commit()
    r = extra.test_client().get("/api/v1/_test/boom")
    err = assert_error(r, 500, "internal_error")
    assert err["details"] == {}
    text = r.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "secret.py", 'File "'):
        assert leak not in text
    _no_html(r)
    assert r.headers.get("Cache-Control") == "no-store"


def test_healthz_reports_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "database": "ok", "attachments": "ok"}


@http_only
def test_openapi_document_is_valid_and_documents_bearer_auth(client):
    r = client.get(f"{V1}/openapi.json")
    assert r.status_code == 200 and r.is_json
    spec = r.json
    validate(spec)  # raises on an invalid OpenAPI document
    assert spec["openapi"].startswith("3.")
    schemes = spec["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    api_key = [name for name, s in schemes.items() if s.get("type") == "apiKey" and s.get("name") == "X-API-Key"]
    assert bearer and api_key
    assert {bearer[0]: []} in spec["security"]
    for path in ("/auth/login", "/me", "/users", "/departments", "/groups", "/api-keys"):
        assert V1 + path in spec["paths"], path
    assert spec["paths"][f"{V1}/auth/login"]["post"].get("security") == []  # signing in needs no credentials
    assert spec["paths"][f"{V1}/me"]["get"]["summary"]  # docstrings become summaries
    # One person reference everywhere an answer names someone (assignees, candidates, actors, andons).
    people = [name for name, schema in spec["components"]["schemas"].items()
              if set(schema.get("properties", {})) == {"id", "name", "login"}]
    assert people == ["PersonRef"], people


@http_only
def test_api_docs_serve_html(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "swagger-ui" in page
    init = client.get("/api/docs/init.js")
    assert init.status_code == 200 and f"{V1}/openapi.json" in init.get_data(as_text=True)


@http_only
def test_security_headers(client, auth, demo):
    responses = {
        "api": client.get(f"{V1}/me", headers=auth.headers("admin")),
        "api error": client.get(f"{V1}/me"),
        "openapi": client.get(f"{V1}/openapi.json"),
        "docs": client.get("/api/docs"),
        "health": client.get("/healthz"),
    }
    for name, r in responses.items():
        assert r.headers.get("X-Content-Type-Options") == "nosniff", name
        assert r.headers.get("Referrer-Policy"), name
        csp = r.headers.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        script_src = directives.get("script-src", directives.get("default-src"))
        assert script_src, (name, csp)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, (name, csp)
        assert "frame-ancestors" in directives, (name, csp)
    for name in ("api", "api error", "openapi"):
        assert responses[name].headers.get("Cache-Control") == "no-store", name


@http_only
def test_every_422_names_problems_by_dotted_path(client, auth, demo):
    """One flattener (app/errors.py): nested items and list indexes are named as paths, whoever validated them."""
    admin = auth.headers("admin")
    steps = [{"key": "a", "title": "A", "assignees": {"users": ["x"]}, "sla": "soon"}]
    err = assert_error(client.post(f"{V1}/templates", json={"key": "p", "name": "P", "steps": steps}, headers=admin), 422)
    assert set(err["details"]) == {"steps.0.assignees.users.0", "steps.0.sla"}, err
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages) for messages in err["details"].values())
    body = {"orders": [{"order_no": "O1", "customer_id": "c", "lines": [{"sku": ""}]}]}
    err = assert_error(client.post(f"{V1}/orders", json=body, headers=admin), 422)
    assert any(path.startswith("orders.0.lines.0.") for path in err["details"]), err
    assert all("." not in path or path.split(".")[0] == "orders" for path in err["details"]), err
