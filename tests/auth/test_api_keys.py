"""Integration keys: created by admins, secret shown once, stored hashed, scoped, revocable."""
import hashlib

import pytest
from flask import jsonify
from sqlalchemy import func, select

from app.auth import service
from app.common.guard import auth_required, current_principal
from app.auth.models import ApiKey
from app.common.clock import utcnow
from app.common.idempotency import IdempotencyRecord
from app.errors import Invalid
from app.extensions import db
from tests.conftest import assert_error

# Pure HTTP-layer behaviour: storage does not matter, so one backend is enough (CONVENTIONS, Tests).
http_only = pytest.mark.parametrize("backend", ["sqlite"])

KEYS = "/api/v1/api-keys"


def _count_keys():
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def _create(client, headers, name="ERP", scopes=("orders:write",), **kw):
    return client.post(KEYS, json={"name": name, "scopes": list(scopes)}, headers=headers, **kw)


def test_admin_creates_a_key_whose_secret_is_shown_once_and_stored_hashed(client, auth, demo):
    admin = auth.headers("admin")
    r = _create(client, admin, scopes=["orders:write", "inventory:write"])
    assert r.status_code == 201, r.json
    body = r.json
    secret = body["key"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert body["name"] == "ERP"
    assert sorted(body["scopes"]) == ["inventory:write", "orders:write"]
    assert isinstance(body["id"], int)
    assert body["revoked_at"] is None

    listed = client.get(KEYS, headers=admin)
    assert listed.status_code == 200
    assert listed.json["total"] == 1
    [item] = listed.json["items"]
    assert item["id"] == body["id"]
    assert "key" not in item
    assert secret not in listed.get_data(as_text=True)

    row = db.session.get(ApiKey, body["id"])
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [getattr(row, column.key) for column in ApiKey.__table__.columns]
    assert all(secret not in str(value) for value in stored), "the plaintext secret must not be stored"
    assert len(row.prefix) < len(secret) // 2  # a hint to recognise the key, not the key


@http_only
def test_key_validation(client, auth, demo):
    admin = auth.headers("admin")
    err = assert_error(_create(client, admin, scopes=["orders:write", "root:everything"]), 422, "validation_error")
    assert list(err["details"]) == ["scopes.1"]  # the item at fault, by index
    err = assert_error(_create(client, admin, scopes=[]), 422)
    assert "scopes" in err["details"]
    err = assert_error(client.post(KEYS, json={"scopes": ["orders:write"]}, headers=admin), 422)
    assert "name" in err["details"]
    assert _count_keys() == 0


def test_create_api_key_service_refuses_unknown_scopes(app, demo):
    with pytest.raises(Invalid):
        service.create_api_key(name="x", scopes=["orders:write", "admin"], created_by=None, now=utcnow())
    assert _count_keys() == 0


def test_staff_and_leads_cannot_manage_keys(client, auth, demo):
    key_id = _create(client, auth.headers("admin")).json["id"]
    for login in ("staff.wh1", "lead.cs", "quality.qa"):
        headers = auth.headers(login)
        assert_error(client.get(KEYS, headers=headers), 403, "forbidden")
        assert_error(_create(client, headers), 403, "forbidden")
        assert_error(client.delete(f"{KEYS}/{key_id}", headers=headers), 403, "forbidden")
    assert _count_keys() == 1
    assert db.session.get(ApiKey, key_id).revoked_at is None
    assert_error(client.get(KEYS), 401)


def test_revoked_key_stops_working(client, auth, demo, app_with_routes):
    extra = app_with_routes(_register_scoped_route)
    admin = auth.headers("admin")
    created = _create(client, admin).json
    api = extra.test_client()
    ok = _post_orders(api, {"X-API-Key": created["key"]})
    assert ok.status_code == 200 and ok.json == {"key_id": created["id"]}

    r = client.delete(f"{KEYS}/{created['id']}", headers=admin)
    assert r.status_code == 200
    assert r.json["revoked_at"] is not None
    assert "key" not in r.json
    assert_error(_post_orders(api, {"X-API-Key": created["key"]}), 401, "invalid_api_key")
    # revoking again is harmless; an unknown key is 404
    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 200
    assert_error(client.delete(f"{KEYS}/999999", headers=admin), 404, "not_found")


@http_only
def test_unknown_key_is_401(client, demo):
    assert_error(client.get("/api/v1/me", headers={"X-API-Key": "bk_not-a-real-key"}), 401, "invalid_api_key")


def test_a_key_never_acts_as_a_person(client, auth, demo):
    secret = _create(client, auth.headers("admin"), scopes=["orders:write", "inventory:write", "volumes:write",
                                                            "catalog:write"]).json["key"]
    key = {"X-API-Key": secret}
    for path in ("/api/v1/me", "/api/v1/tasks/inbox", "/api/v1/users", "/api/v1/api-keys"):
        r = client.get(path, headers=key)
        assert r.status_code in (401, 403), (path, r.status_code)
        assert_error(r, r.status_code)
    assert_error(client.patch("/api/v1/me", json={"on_duty": False}, headers=key), 403)
    # a key holding every scope still cannot mint keys or create people
    assert_error(_create(client, key), 403)
    assert_error(client.post("/api/v1/groups", json={"name": "by-key"}, headers=key), 403)
    assert _count_keys() == 1


def _register_scoped_route(extra_app):
    @extra_app.post("/api/v1/_test/orders")
    @auth_required(scope="orders:write")
    def _orders():
        principal = current_principal()
        return jsonify({"key_id": principal.api_key.id if principal.api_key else None})


def _post_orders(api, headers=None):
    # The second app has its own session: end this one's transaction (SQLite holds its write lock until then).
    db.session.commit()
    return api.post("/api/v1/_test/orders", headers=headers or {})


def test_scope_guard(client, auth, demo, app_with_routes):
    extra = app_with_routes(_register_scoped_route)
    api = extra.test_client()
    admin = auth.headers("admin")
    orders = _create(client, admin, name="OMS", scopes=["orders:write"]).json
    stock = _create(client, admin, name="WMS", scopes=["inventory:write"]).json

    r = _post_orders(api, {"X-API-Key": orders["key"]})
    assert r.status_code == 200 and r.json == {"key_id": orders["id"]}
    assert_error(_post_orders(api, {"X-API-Key": stock["key"]}), 403, "insufficient_scope")
    assert_error(_post_orders(api), 401)
    # people still pass a scoped guard (admin posts integration bodies by hand)
    r = _post_orders(api, admin)
    assert r.status_code == 200 and r.json == {"key_id": None}


def test_idempotent_replay_of_key_creation_redacts_the_secret(client, auth, demo):
    headers = auth.headers("admin", **{"Idempotency-Key": "create-erp-key-1"})
    first = _create(client, headers)
    assert first.status_code == 201
    assert first.json["key"] and "key_redacted" not in first.json

    replay = _create(client, headers)
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json["key"] is None
    assert replay.json["key_redacted"] is True
    assert replay.json["id"] == first.json["id"]
    assert _count_keys() == 1
    record = db.session.scalar(select(IdempotencyRecord))
    assert first.json["key"] not in (record.response_body or "")
