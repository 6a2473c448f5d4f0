"""Sign-in, throttling, tokens and the signed-in person's own profile."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from app import create_app
from app.auth import service, throttle
from app.auth.models import LoginThrottle
from app.common.clock import utcnow
from app.errors import TooManyRequests, Unauthorized
from app.extensions import db
from tests.conftest import FAST_HASH, assert_error, names

# Pure HTTP-layer behaviour: storage does not matter, so one backend is enough (CONVENTIONS, Tests).
http_only = pytest.mark.parametrize("backend", ["sqlite"])

LOGIN = "/api/v1/auth/login"
PASSWORD = "baton-demo"


def _login(client, login, password=PASSWORD, address="192.0.2.10"):
    return client.post(LOGIN, json={"login": login, "password": password}, environ_base={"REMOTE_ADDR": address})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _service_login(app, login, password, *, now, address="198.51.100.7", device_token=None):
    cfg = app.config
    return service.login(
        login=login, password=password, address=address, device_token=device_token, now=now, secret_key=cfg["SECRET_KEY"],
        policy=throttle.ThrottlePolicy.from_config(cfg), device_max_age=cfg["DEVICE_COOKIE_MAX_AGE_SECONDS"],
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


# --- throttling: the guesser slows down, the owner of the login does not ------------------------


def test_a_guesser_elsewhere_does_not_lock_the_owner_out(client, demo, app):
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 3):
        r = _login(client, "staff.wh1", "wrong", address="203.0.113.66")
        assert r.status_code in (401, 429)
    # the owner, from the warehouse, signs in at once with the right password
    assert _login(client, "staff.wh1", PASSWORD, address="192.0.2.10").status_code == 200


def test_each_failure_past_the_free_attempts_doubles_the_wait(app, demo):
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    t0 = utcnow()
    for _ in range(free):
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=t0)
    waits, now = [], t0
    for _ in range(4):
        with pytest.raises(TooManyRequests) as refused:  # even the right password is not checked while waiting
            _service_login(app, "mgr.ops", PASSWORD, now=now)
        assert refused.value.code == "too_many_attempts"
        wait = refused.value.details["retry_after"]
        assert refused.value.headers["Retry-After"] == str(wait)
        waits.append(wait)
        now += timedelta(seconds=wait)
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=now)
    assert waits == [1, 2, 4, 8]
    now += timedelta(seconds=16)
    signed_in = _service_login(app, "mgr.ops", PASSWORD, now=now)
    assert signed_in.user.login == "mgr.ops"
    # a success starts that login and address afresh
    for _ in range(free):
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=now)


def test_the_wait_is_capped(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", 60)
    now = utcnow()
    for _ in range(40):
        try:
            _service_login(app, "mgr.ops", "wrong", now=now)
        except Unauthorized:
            pass
        except TooManyRequests as waiting:
            assert waiting.details["retry_after"] <= 60
            now += timedelta(seconds=waiting.details["retry_after"])


def test_failures_from_a_shared_address_do_not_block_everyone_behind_it(client, demo, app):
    """50 failures from the warehouse's NAT address (Part I locked the whole warehouse out here)."""
    nat = "198.51.100.99"
    logins = ["staff.wh1", "staff.wh1b", "driver.li", "no.such.user", "driver.wang"]
    for i in range(50):
        assert_error(_login(client, logins[i % len(logins)] if i < 25 else f"nobody{i}", "guess", address=nat), 401)
    for login in ("admin", "mgr.wh1", "staff.wh2"):
        assert _login(client, login, PASSWORD, address=nat).status_code == 200, login


def test_spraying_from_one_address_stops_unknown_devices_there_but_not_known_ones(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 4)
    nat = "198.51.100.98"
    known = app.test_client()  # this phone signed in to staff.wh2 before
    assert _login(known, "staff.wh2", address=nat).status_code == 200
    sprayer = app.test_client()
    for login in ("staff.wh1", "staff.wh1b", "driver.li", "no.such.user"):
        assert_error(_login(sprayer, login, "guess", address=nat), 401, "invalid_credentials")
    r = _login(sprayer, "admin", PASSWORD, address=nat)
    assert_error(r, 429, "too_many_attempts")
    assert int(r.headers["Retry-After"]) > 0
    assert _login(known, "staff.wh2", address=nat).status_code == 200
    # the same person on an unknown device elsewhere is fine: the login itself had no failures
    assert _login(app.test_client(), "admin", PASSWORD, address="198.51.100.100").status_code == 200


def test_distributed_guessing_stops_unknown_devices_but_not_the_owners_phone(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_LOGIN", 4)
    phone = app.test_client()
    assert _login(phone, "staff.wh1", address="192.0.2.10").status_code == 200
    botnet = app.test_client()
    for i in range(4):
        assert_error(_login(botnet, "staff.wh1", "wrong", address=f"203.0.113.{i + 1}"), 401, "invalid_credentials")
    assert_error(_login(app.test_client(), "staff.wh1", PASSWORD, address="203.0.113.200"), 429, "too_many_attempts")
    assert _login(phone, "staff.wh1", address="192.0.2.11").status_code == 200
    assert _login(app.test_client(), "staff.wh1b", address="203.0.113.200").status_code == 200  # others unaffected


@http_only
def test_the_device_cookie_is_httponly_strict_signed_and_scoped_to_sign_in(app, client, demo):
    r = _login(client, "staff.wh1")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("baton_device=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age="):
        assert attribute in cookie, cookie
    assert "Secure" not in cookie  # development over plain http; production adds it
    value = cookie.split(";")[0].split("=", 1)[1]
    claims = throttle.read_device(token=value, secret_key=app.config["SECRET_KEY"], max_age=3600)
    assert claims["l"] == [["staff.wh1", demo.user("staff.wh1").session_version]] and len(claims["d"]) == 32
    forged = throttle.remember_device(device=None, login="staff.wh1", session_version=demo.user("staff.wh1").session_version,
                                      secret_key="another-secret-key-of-enough-length!")
    assert throttle.read_device(token=forged, secret_key=app.config["SECRET_KEY"], max_age=3600) is None
    assert throttle.read_device(token="garbage", secret_key=app.config["SECRET_KEY"], max_age=3600) is None


def test_a_forged_device_cookie_earns_no_trust(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_LOGIN", 2)
    attacker = app.test_client()
    forged = throttle.remember_device(device=None, login="staff.wh1", session_version=demo.user("staff.wh1").session_version,
                                      secret_key="another-secret-key-of-enough-length!")
    attacker.set_cookie(throttle.DEVICE_COOKIE, forged, path="/api/v1/auth")
    for i in range(2):
        assert_error(_login(attacker, "staff.wh1", "wrong", address=f"203.0.113.{i + 1}"), 401)
    assert_error(_login(attacker, "staff.wh1", PASSWORD, address="203.0.113.9"), 429, "too_many_attempts")


def test_a_password_reset_ends_a_devices_standing_with_that_login(app, auth, demo, monkeypatch):
    """A stolen phone's cookie must not keep skipping the distributed-guessing limit after the password is reset."""
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_LOGIN", 2)
    phone = app.test_client()
    assert _login(phone, "staff.wh1", address="192.0.2.10").status_code == 200
    admin = auth.headers("admin")
    r = app.test_client().patch(f"/api/v1/users/{demo.uid('staff.wh1')}", json={"password": "plum ferry lantern"}, headers=admin)
    assert r.status_code == 200
    for i in range(2):
        assert_error(_login(app.test_client(), "staff.wh1", "wrong", address=f"203.0.113.{i + 1}"), 401)
    # the old phone is an unknown device again: it waits like any other
    assert_error(_login(phone, "staff.wh1", "plum ferry lantern", address="192.0.2.10"), 429, "too_many_attempts")


def test_waiting_out_the_longest_delay_does_not_start_the_doubling_again(app, demo, monkeypatch):
    longest = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", longest)
    now = utcnow()
    while True:  # guess as fast as the delays allow, until the wait is the longest one
        try:
            _service_login(app, "mgr.ops", "wrong", now=now)
        except Unauthorized:
            continue
        except TooManyRequests as waiting:
            now += timedelta(seconds=waiting.details["retry_after"])
            if waiting.details["retry_after"] == longest:
                break
    with pytest.raises(Unauthorized):
        _service_login(app, "mgr.ops", "wrong", now=now)  # allowed after the wait, and counted
    with pytest.raises(TooManyRequests) as waiting:
        _service_login(app, "mgr.ops", "wrong", now=now + timedelta(seconds=1))
    assert waiting.value.details["retry_after"] == longest - 1  # still the longest delay, not a fresh start


def test_one_ipv6_subscriber_is_one_address(app, demo):
    t0 = utcnow()
    for i in range(app.config["LOGIN_FREE_ATTEMPTS"]):
        with pytest.raises(Unauthorized):  # each guess from another address of the same /64
            _service_login(app, "mgr.ops", "wrong", now=t0, address=f"2001:db8:1:2::{i + 1:x}")
    with pytest.raises(TooManyRequests):
        _service_login(app, "mgr.ops", "wrong", now=t0, address="2001:db8:1:2:ffff::9")
    assert throttle.address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"


def test_successful_logins_from_one_address_are_never_counted(client, demo, app):
    """A warehouse behind one NAT address: everyone signs in at the start of the shift."""
    logins = ["staff.wh1", "staff.wh1b", "mgr.wh1", "staff.wh2", "staff.wh2b", "driver.li"]
    for i in range(60):
        r = app.test_client().post(LOGIN, json={"login": logins[i % len(logins)], "password": PASSWORD},
                                   environ_base={"REMOTE_ADDR": "100.64.0.1"})
        assert r.status_code == 200, (i, r.json)
    assert db.session.scalar(select(func.coalesce(func.sum(LoginThrottle.failures), 0))) == 0


def test_a_success_does_not_hide_failures_of_other_logins(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 3)
    nat = "100.64.0.2"
    for login in ("staff.wh1", "staff.wh1b"):
        assert_error(_login(app.test_client(), login, "guess", address=nat), 401)
    assert _login(app.test_client(), "driver.li", address=nat).status_code == 200  # counted neither way
    assert_error(_login(app.test_client(), "driver.wang", "guess", address=nat), 401)
    assert_error(_login(app.test_client(), "driver.chen", address=nat), 429, "too_many_attempts")


def test_reaching_the_address_limit_with_a_success_blocks_nothing(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 2)
    nat = "100.64.0.3"
    assert_error(_login(app.test_client(), "staff.wh1", "guess", address=nat), 401)
    assert _login(app.test_client(), "driver.li", address=nat).status_code == 200  # the reservation that hit the limit
    assert _login(app.test_client(), "driver.chen", address=nat).status_code == 200


def test_failures_expire_after_a_quiet_window(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_LOGIN", 3)
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    t0 = utcnow()
    for i in range(3):
        with pytest.raises(Unauthorized):
            _service_login(app, "mgr.ops", "wrong", now=t0, address=f"198.51.100.{i + 1}")
    with pytest.raises(TooManyRequests) as locked:
        _service_login(app, "mgr.ops", PASSWORD, now=t0 + timedelta(seconds=window - 1))
    assert locked.value.details["retry_after"] == 1
    signed_in = _service_login(app, "mgr.ops", PASSWORD, now=t0 + timedelta(seconds=window + 1))
    assert signed_in.token and signed_in.user.login == "mgr.ops"


def test_prune_drops_only_quiet_counters(app, demo):
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    now = utcnow()
    with pytest.raises(Unauthorized):
        _service_login(app, "mgr.ops", "wrong", now=now - timedelta(seconds=window + 60), address="198.51.100.1")
    with pytest.raises(Unauthorized):
        _service_login(app, "mgr.wh1", "wrong", now=now - timedelta(seconds=10), address="198.51.100.2")
    # mgr.ops's pair and login counters and the first address's counter are quiet; mgr.wh1's three are not
    assert service.prune_login_throttles(now=now, window=window) == 3
    assert {row.key for row in db.session.scalars(select(LoginThrottle))} == {"mgr.wh1", "198.51.100.2", "mgr.wh1|198.51.100.2"}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_failures_check_no_more_passwords_than_the_free_attempts(app, demo):
    """40 guesses at once from one address used to check 11 passwords against a limit of 5."""
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    racing = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
                         "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 45, "max_overflow": 5, "pool_timeout": 60}, **FAST_HASH})
    db.session.rollback()
    barrier = threading.Barrier(40)

    def guess(i):
        with racing.app_context():
            barrier.wait(timeout=60)
            r = racing.test_client().post(LOGIN, json={"login": "staff.wh1", "password": f"guess-{i}"},
                                          environ_base={"REMOTE_ADDR": "203.0.113.50"})
            db.session.remove()
            return r.status_code

    try:
        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(guess, range(40)))
    finally:
        with racing.app_context():
            db.engine.dispose()
    assert statuses.count(401) == free, statuses
    assert statuses.count(429) == 40 - free, statuses
    pair = db.session.get(LoginThrottle, ("pair", "staff.wh1|203.0.113.50"))
    assert pair.failures == free


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
    # The first character: it carries six bits of the signature. (The last one of a 43-character base64url text
    # carries two padding bits, so changing it could leave the signature's bytes as they were: a flaky test.)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
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


def test_a_stand_in_is_named_by_login_and_answered_by_name(client, auth, demo):
    """Settings ask for a login, not an id; /me names the stand-in (people by name, never by id)."""
    headers = auth.headers("staff.wh1")
    r = client.patch("/api/v1/me", json={"on_duty": False, "delegate_id": "Staff.WH1b"}, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["delegate_id"] == demo.uid("staff.wh1b")
    assert r.json["delegate"] == {"id": demo.uid("staff.wh1b"), "login": "staff.wh1b", "name": demo.user("staff.wh1b").name}
    assert client.get("/api/v1/me", headers=headers).json["delegate"]["login"] == "staff.wh1b"
    err = assert_error(client.patch("/api/v1/me", json={"delegate_id": "nobody.here"}, headers=headers), 422)
    assert list(err["details"]) == ["delegate_id"]
    assert_error(client.patch("/api/v1/me", json={"delegate_id": "staff.wh1"}, headers=headers), 422)  # not oneself
    assert client.patch("/api/v1/me", json={"delegate_id": None}, headers=headers).json["delegate"] is None


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
        assert names(err["details"], field), (body, err)
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
    for i in range(app.config["LOGIN_FREE_ATTEMPTS"]):
        variant = "staff.wh1".upper() if i % 2 else "Staff.Wh1"
        assert_error(_login(client, variant, "wrong", address="203.0.113.1"), 401, "invalid_credentials")
    assert_error(_login(client, "staff.wh1", address="203.0.113.1"), 429, "too_many_attempts")
