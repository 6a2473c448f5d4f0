"""Sign-in, throttling, tokens and the signed-in person's own profile."""
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from app.auth import service
from app.auth.models import LoginFailure
from app.common.clock import utcnow
from app.errors import TooManyRequests, Unauthorized
from app.extensions import db
from tests.conftest import assert_error

# Pure HTTP-layer behaviour: storage does not matter, so one backend is enough (CONVENTIONS, Tests).
http_only = pytest.mark.parametrize("backend", ["sqlite"])

LOGIN = "/api/v1/auth/login"
PASSWORD = "baton-demo"


def _login(client, login, password=PASSWORD, address="192.0.2.10"):
    return client.post(LOGIN, json={"login": login, "password": password}, environ_base={"REMOTE_ADDR": address})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _failures():
    return db.session.scalar(select(func.count()).select_from(LoginFailure))


def _service_login(app, login, password, *, now, address="198.51.100.7"):
    cfg = app.config
    return service.login(
        login=login, password=password, address=address, now=now, secret_key=cfg["SECRET_KEY"],
        window=cfg["LOGIN_FAILURE_WINDOW_SECONDS"], max_login=cfg["LOGIN_MAX_FAILURES_PER_LOGIN"],
        max_address=cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"],
    )


def _token_issued_at(monkeypatch, app, user, timestamp):
    """A real token whose itsdangerous timestamp lies at `timestamp` (seconds since the epoch)."""
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(timestamp))
        return service.issue_token(user=user, secret_key=app.config["SECRET_KEY"])


# --- signing in ---------------------------------------------------------------------------


def test_login_answers_a_token_and_the_user_with_roles_and_permissions(client, demo):
    r = _login(client, "cs.agent1")
    assert r.status_code == 200, r.json
    body = r.json
    assert body["token"] and isinstance(body["token"], str)
    assert body["expires_in"] == client.application.config["TOKEN_TTL_SECONDS"]
    user = body["user"]
    assert user["id"] == demo.uid("cs.agent1")
    assert user["login"] == "cs.agent1"
    assert user["roles"] == ["staff"]
    assert user["permissions"] == ["andon.pull"]
    assert "password" not in user and "password_hash" not in user
    me = client.get("/api/v1/me", headers=_bearer(body["token"]))
    assert me.status_code == 200
    assert me.json["id"] == demo.uid("cs.agent1")


def test_wrong_password_and_unknown_login_answer_the_same(client, demo):
    wrong = assert_error(_login(client, "staff.wh1", "not-the-password"), 401, "invalid_credentials")
    unknown = assert_error(_login(client, "nobody.here", "not-the-password"), 401, "invalid_credentials")
    assert wrong == unknown  # nothing reveals which logins exist


def test_inactive_user_cannot_sign_in(client, demo):
    demo.user("staff.wh1").active = False
    db.session.commit()
    assert_error(_login(client, "staff.wh1"), 401, "invalid_credentials")


@http_only
def test_login_requires_both_fields(client, demo):
    err = assert_error(client.post(LOGIN, json={"login": "admin"}), 422, "validation_error")
    assert "password" in err["details"]


def test_failures_per_login_lock_that_login_even_with_the_right_password(client, demo, app):
    limit = app.config["LOGIN_MAX_FAILURES_PER_LOGIN"]
    for i in range(limit):
        # from different addresses: it is the login that is counted here
        assert_error(_login(client, "staff.wh1", "wrong", address=f"203.0.113.{i + 1}"), 401, "invalid_credentials")
    r = _login(client, "staff.wh1", PASSWORD, address="203.0.113.200")
    assert_error(r, 429, "too_many_attempts")
    assert int(r.headers["Retry-After"]) > 0
    # other people are not affected
    assert _login(client, "staff.wh1b", address="203.0.113.200").status_code == 200


def test_failures_per_address_lock_that_address(client, demo, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 4)
    nat = "198.51.100.99"
    for login in ("staff.wh1", "staff.wh1b", "driver.li", "no.such.user"):
        assert_error(_login(client, login, "guess", address=nat), 401, "invalid_credentials")
    r = _login(client, "admin", PASSWORD, address=nat)
    assert_error(r, 429, "too_many_attempts")
    assert int(r.headers["Retry-After"]) > 0
    # the same person from elsewhere is fine: the login itself had no failures
    assert _login(client, "admin", PASSWORD, address="198.51.100.100").status_code == 200


def test_successful_logins_from_one_address_are_never_counted(client, demo, app):
    """A warehouse behind one NAT address: everyone signs in at the start of the shift."""
    assert app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] < 60
    logins = ["staff.wh1", "staff.wh1b", "mgr.wh1", "staff.wh2", "staff.wh2b", "driver.li"]
    for i in range(60):
        r = _login(client, logins[i % len(logins)], address="100.64.0.1")
        assert r.status_code == 200, (i, r.json)
    assert _failures() == 0


def test_a_success_does_not_hide_failures_of_other_logins(client, demo, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 3)
    nat = "100.64.0.2"
    for login in ("staff.wh1", "staff.wh1b"):
        assert_error(_login(client, login, "guess", address=nat), 401)
    assert _login(client, "driver.li", address=nat).status_code == 200  # counted neither way
    assert_error(_login(client, "driver.wang", "guess", address=nat), 401)
    assert_error(_login(client, "driver.chen", address=nat), 429, "too_many_attempts")


def test_failures_expire_after_the_window(app, demo):
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    limit = app.config["LOGIN_MAX_FAILURES_PER_LOGIN"]
    t0 = utcnow()
    for _ in range(limit):
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=t0)
    with pytest.raises(TooManyRequests) as locked:
        _service_login(app, "mgr.ops", PASSWORD, now=t0 + timedelta(seconds=window - 1))
    assert locked.value.code == "too_many_attempts"
    assert "Retry-After" in locked.value.headers
    token, user = _service_login(app, "mgr.ops", PASSWORD, now=t0 + timedelta(seconds=window + 1))
    assert token and user.login == "mgr.ops"


def test_prune_login_failures_drops_only_old_ones(app, demo):
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    now = utcnow()
    for at in (now - timedelta(seconds=window + 60), now - timedelta(seconds=10)):
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=at)
    assert service.prune_login_failures(now=now, window=window) == 1
    assert _failures() == 1


# --- tokens --------------------------------------------------------------------------------


def test_expired_token_is_refused(app, demo, monkeypatch):
    user = demo.user("staff.wh1")
    ttl = 3600
    old = _token_issued_at(monkeypatch, app, user, utcnow().timestamp() - ttl - 5)
    with pytest.raises(Unauthorized) as exc:
        service.user_from_token(token=old, secret_key=app.config["SECRET_KEY"], max_age=ttl)
    assert exc.value.code == "token_expired"
    fresh = _token_issued_at(monkeypatch, app, user, utcnow().timestamp() - ttl + 60)
    assert service.user_from_token(token=fresh, secret_key=app.config["SECRET_KEY"], max_age=ttl).id == user.id


def test_expired_token_over_http(client, app, demo, monkeypatch):
    user = demo.user("staff.wh1")
    ttl = app.config["TOKEN_TTL_SECONDS"]
    old = _token_issued_at(monkeypatch, app, user, utcnow().timestamp() - ttl - 5)
    assert_error(client.get("/api/v1/me", headers=_bearer(old)), 401, "token_expired")


@http_only
def test_tampered_token_is_refused(client, auth, demo):
    token = auth.headers("staff.wh1")["Authorization"].removeprefix("Bearer ")
    payload, _, signature = token.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (f"{payload}.{flipped}", "x" + token, "not-a-token", token + "x"):
        assert_error(client.get("/api/v1/me", headers=_bearer(bad)), 401, "invalid_token")
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200


@http_only
def test_token_signed_with_another_secret_is_refused(client, demo):
    forged = service.issue_token(user=demo.user("admin"), secret_key="some-other-secret-key-of-enough-length")
    assert_error(client.get("/api/v1/me", headers=_bearer(forged)), 401, "invalid_token")


@http_only
def test_wrong_authorization_scheme_is_refused(client, demo):
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Basic YWRtaW46eA=="}), 401)


def test_deactivating_a_user_ends_their_live_token_at_once(client, auth, demo):
    staff = auth.headers("staff.wh1")
    assert client.get("/api/v1/me", headers=staff).status_code == 200
    r = client.patch(f"/api/v1/users/{demo.uid('staff.wh1')}", json={"active": False}, headers=auth.headers("admin"))
    assert r.status_code == 200 and r.json["active"] is False
    assert_error(client.get("/api/v1/me", headers=staff), 401)
    assert_error(client.get("/api/v1/tasks/inbox", headers=staff), 401)
    # reactivating does not revive the old token
    client.patch(f"/api/v1/users/{demo.uid('staff.wh1')}", json={"active": True}, headers=auth.headers("admin"))
    assert_error(client.get("/api/v1/me", headers=staff), 401)


def test_password_change_revokes_old_tokens(client, auth, demo):
    old = auth.headers("staff.wh1b")
    r = client.patch(f"/api/v1/users/{demo.uid('staff.wh1b')}", json={"password": "a-new-password"},
                     headers=auth.headers("admin"))
    assert r.status_code == 200
    assert_error(client.get("/api/v1/me", headers=old), 401, "session_revoked")
    assert_error(_login(client, "staff.wh1b", PASSWORD), 401, "invalid_credentials")
    new = _login(client, "staff.wh1b", "a-new-password", address="192.0.2.77")
    assert new.status_code == 200
    assert client.get("/api/v1/me", headers=_bearer(new.json["token"])).status_code == 200


def test_other_changes_keep_the_session(client, auth, demo):
    staff = auth.headers("staff.wh2")
    r = client.patch(f"/api/v1/users/{demo.uid('staff.wh2')}", json={"name": "Sun Renamed"}, headers=auth.headers("admin"))
    assert r.status_code == 200
    me = client.get("/api/v1/me", headers=staff)
    assert me.status_code == 200 and me.json["name"] == "Sun Renamed"


# --- /me ---------------------------------------------------------------------------------


@http_only
def test_me_without_credentials_is_401(client, demo):
    assert_error(client.get("/api/v1/me"), 401, "unauthorized")


def test_get_me(client, auth, demo):
    r = client.get("/api/v1/me", headers=auth.headers("mgr.qa"))
    assert r.status_code == 200
    body = r.json
    assert body["login"] == "mgr.qa"
    assert body["roles"] == ["lead", "quality"]
    assert body["permissions"] == ["andon.pull"]  # carried by the quality role
    assert body["department_id"] == demo.dept("QA")
    assert body["manager_id"] == demo.uid("gm.zhang")
    assert body["on_duty"] is True and body["active"] is True
    assert "password" not in body and "password_hash" not in body


def test_patch_me_availability_and_preferences(client, auth, demo):
    headers = auth.headers("staff.wh1")
    quiet = {"start": "22:00", "end": "07:00", "timezone": "Asia/Shanghai"}
    r = client.patch("/api/v1/me", json={"on_duty": False, "delegate_id": demo.uid("staff.wh1b"), "locale": "en",
                                         "quiet_hours": quiet}, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["on_duty"] is False
    assert r.json["delegate_id"] == demo.uid("staff.wh1b")
    assert r.json["locale"] == "en"
    assert r.json["quiet_hours"] == quiet
    db.session.expire_all()
    stored = demo.user("staff.wh1")
    assert (stored.on_duty, stored.delegate_id, stored.locale) == (False, demo.uid("staff.wh1b"), "en")
    # clearing
    r = client.patch("/api/v1/me", json={"on_duty": True, "delegate_id": None, "quiet_hours": None}, headers=headers)
    assert r.status_code == 200
    assert (r.json["on_duty"], r.json["delegate_id"], r.json["quiet_hours"]) == (True, None, None)
    assert r.json["locale"] == "en"  # untouched fields stay


def test_patch_me_cannot_delegate_to_self(client, auth, demo):
    err = assert_error(client.patch("/api/v1/me", json={"delegate_id": demo.uid("staff.wh1")},
                                    headers=auth.headers("staff.wh1")), 422)
    assert "delegate_id" in err["details"]
    assert demo.user("staff.wh1").delegate_id is None


def test_patch_me_delegate_must_exist_and_be_active(client, auth, demo):
    headers = auth.headers("staff.wh1")
    err = assert_error(client.patch("/api/v1/me", json={"delegate_id": 999999}, headers=headers), 422)
    assert "delegate_id" in err["details"]
    demo.user("staff.wh1b").active = False
    db.session.commit()
    assert_error(client.patch("/api/v1/me", json={"delegate_id": demo.uid("staff.wh1b")}, headers=headers), 422)


@http_only
def test_patch_me_validates(client, auth, demo):
    headers = auth.headers("staff.wh1")
    cases = [
        ({"locale": "fr"}, "locale"),
        ({"on_duty": "sometimes"}, "on_duty"),
        ({"delegate_id": "bob"}, "delegate_id"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus_Mons"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "../../etc/passwd"}}, "quiet_hours"),
        ({"quiet_hours": "22-07"}, "quiet_hours"),
        ({"roles": ["admin"]}, "roles"),  # nobody grants themselves a role
        ({"permissions": ["andon.pull"]}, "permissions"),
        ({"active": False}, "active"),
    ]
    for body, field in cases:
        err = assert_error(client.patch("/api/v1/me", json=body, headers=headers), 422, "validation_error")
        assert field in err["details"], (body, err)
    db.session.expire_all()
    user = demo.user("staff.wh1")
    assert (user.locale, user.on_duty, user.quiet_hours, user.roles, user.permissions, user.active) == (
        "zh-CN", True, None, ["staff"], [], True)


def test_sign_in_ignores_the_case_of_the_login(client, demo):
    """Phone keyboards capitalise the first letter; logins are unique regardless of case."""
    r = _login(client, " Staff.WH1 ")
    assert r.status_code == 200, r.json
    assert r.json["user"]["login"] == "staff.wh1"


def test_case_variants_share_one_failure_count(client, demo, app):
    limit = app.config["LOGIN_MAX_FAILURES_PER_LOGIN"]
    for i in range(limit):
        variant = "staff.wh1".upper() if i % 2 else "Staff.Wh1"
        assert_error(_login(client, variant, "wrong", address=f"203.0.113.{i + 1}"), 401, "invalid_credentials")
    assert_error(_login(client, "staff.wh1", address="203.0.113.99"), 429, "too_many_attempts")
