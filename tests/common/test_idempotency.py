"""Every POST honours Idempotency-Key: a replay returns the first response and changes nothing (docs/design.md §9)."""
import threading
from datetime import timedelta

from sqlalchemy import event, func, select, update

from app.auth.models import ApiKey
from app.common import idempotency
from app.common.clock import utcnow
from app.common.idempotency import IdempotencyRecord
from app.extensions import db
from app.org import service as org
from app.org.models import Group
from tests.conftest import assert_error, statements

GROUPS = "/api/v1/groups"
KEYS = "/api/v1/api-keys"


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _with_key(headers, key):
    return {**headers, "Idempotency-Key": key}


def test_replay_returns_the_first_response_and_changes_nothing(client, auth, demo):
    headers = _with_key(auth.headers("admin"), "group-create-0001")
    body = {"name": "Cold chain", "members": [demo.uid("staff.wh1")]}
    first = client.post(GROUPS, json=body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    for _ in range(2):
        again = client.post(GROUPS, json=body, headers=headers)
        assert again.status_code == first.status_code
        assert again.json == first.json
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.mimetype == "application/json"
    assert _count(Group) == 1
    assert _count(IdempotencyRecord) == 1


def test_a_key_costs_a_request_two_statements(client, auth, demo):
    """Every action a phone sends carries a key (its outbox): taking the key and storing the answer are one statement
    each, and a replay reads the stored answer once."""
    headers = auth.headers("admin")
    client.post(GROUPS, json={"name": "Warm-up", "members": []}, headers=headers)  # signed in, statements cached
    with statements() as without_key:
        assert client.post(GROUPS, json={"name": "Keyless", "members": []}, headers=headers).status_code == 201
    keyed = _with_key(headers, "group-create-counted")
    with statements() as with_key:
        first = client.post(GROUPS, json={"name": "Keyed", "members": []}, headers=keyed)
    assert first.status_code == 201
    added = [" ".join(s.split())[:60] for s in with_key if s not in without_key]
    assert len(with_key) == len(without_key) + 2, added
    assert added[0].startswith("INSERT INTO idempotency_records") and added[-1].startswith("UPDATE idempotency_records")
    with statements() as replay:
        again = client.post(GROUPS, json={"name": "Keyed", "members": []}, headers=keyed)
    assert again.json == first.json and again.headers.get("Idempotent-Replayed") == "true"
    # who signed in, the key found taken, the stored answer
    assert len(replay) == 3, [" ".join(s.split())[:60] for s in replay]


def test_a_replay_ends_its_transaction_with_commit(client, auth, demo):
    """A replay writes nothing (the key's insert found it taken), so it ends with COMMIT: a ROLLBACK would make psycopg
    forget the connection's prepared statements."""
    headers = _with_key(auth.headers("admin"), "group-create-replayed")
    assert client.post(GROUPS, json={"name": "Replayed", "members": []}, headers=headers).status_code == 201
    ended = []
    listeners = {name: (lambda name: lambda *_: ended.append(name))(name) for name in ("commit", "rollback")}
    for name, listener in listeners.items():
        event.listen(db.engine, name, listener)
    try:
        again = client.post(GROUPS, json={"name": "Replayed", "members": []}, headers=headers)
    finally:
        for name, listener in listeners.items():
            event.remove(db.engine, name, listener)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert ended == ["commit"], ended


def test_without_a_key_each_post_executes(client, auth, demo):
    headers = auth.headers("admin")
    a = client.post(KEYS, json={"name": "ERP", "scopes": ["orders:write"]}, headers=headers)
    b = client.post(KEYS, json={"name": "ERP", "scopes": ["orders:write"]}, headers=headers)
    assert (a.status_code, b.status_code) == (201, 201) and a.json["id"] != b.json["id"]
    assert _count(IdempotencyRecord) == 0


def test_same_key_with_a_different_body_is_refused(client, auth, demo):
    headers = _with_key(auth.headers("admin"), "group-create-0002")
    assert client.post(GROUPS, json={"name": "Night shift"}, headers=headers).status_code == 201
    assert_error(client.post(GROUPS, json={"name": "Day shift"}, headers=headers), 422, "idempotency_key_reused")
    # a different path is a different request too
    assert_error(client.post(KEYS, json={"name": "Night shift"}, headers=headers), 422, "idempotency_key_reused")
    assert [g for g in db.session.scalars(select(Group.name))] == ["Night shift"]


def test_keys_are_per_caller(client, auth, demo):
    org.create_user(login="admin2", password="second-admin-pw", name="Second admin", roles=["admin"])
    second = client.post("/api/v1/auth/login", json={"login": "admin2", "password": "second-admin-pw"})
    key = "nightly-erp-key"
    body = {"name": "ERP", "scopes": ["orders:write"]}
    a = client.post(KEYS, json=body, headers=_with_key(auth.headers("admin"), key))
    b = client.post(KEYS, json=body, headers={"Authorization": f"Bearer {second.json['token']}", "Idempotency-Key": key})
    assert (a.status_code, b.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in b.headers
    assert a.json["id"] != b.json["id"] and b.json["key"]
    assert _count(ApiKey) == 2


def test_an_expired_key_executes_again(client, auth, demo):
    headers = _with_key(auth.headers("admin"), "erp-key-expiring")
    body = {"name": "ERP", "scopes": ["orders:write"]}
    first = client.post(KEYS, json=body, headers=headers)
    assert first.status_code == 201
    db.session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    again = client.post(KEYS, json=body, headers=headers)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["id"] != first.json["id"] and again.json["key"]
    assert _count(ApiKey) == 2
    # ... and the fresh record replays from now on
    third = client.post(KEYS, json=body, headers=headers)
    assert third.headers.get("Idempotent-Replayed") == "true" and third.json["id"] == again.json["id"]
    assert _count(ApiKey) == 2


def test_prune_expired_removes_only_old_records(client, auth, demo, app):
    admin = auth.headers("admin")
    body = {"name": "ERP", "scopes": ["orders:write"]}
    first = client.post(KEYS, json=body, headers=_with_key(admin, "old"))
    client.post(KEYS, json={**body, "name": "WMS"}, headers=_with_key(admin, "recent"))
    ttl = app.config["IDEMPOTENCY_TTL_SECONDS"]
    assert idempotency.prune_expired(now=utcnow()) == 0
    db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == "old")
                       .values(expires_at=utcnow() - timedelta(seconds=5)))
    db.session.commit()
    assert idempotency.prune_expired(now=utcnow()) == 1
    assert [r.key for r in db.session.scalars(select(IdempotencyRecord))] == ["recent"]
    again = client.post(KEYS, json=body, headers=_with_key(admin, "old"))
    assert again.status_code == 201 and again.json["id"] != first.json["id"]
    assert idempotency.prune_expired(now=utcnow() + timedelta(seconds=ttl + 1)) == 2


def test_a_failed_request_is_not_stored(client, auth, demo):
    headers = _with_key(auth.headers("admin"), "group-create-0003")
    bad = client.post(GROUPS, json={"name": "Forklift", "members": [999999]}, headers=headers)
    assert_error(bad, 422)
    assert _count(IdempotencyRecord) == 0
    fixed = client.post(GROUPS, json={"name": "Forklift", "members": [demo.uid("staff.wh1")]}, headers=headers)
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers
    assert _count(Group) == 1


def test_unauthenticated_and_invalid_keys(client, auth, demo):
    assert_error(client.post(GROUPS, json={"name": "X"}, headers={"Idempotency-Key": "anon"}), 401)
    assert _count(IdempotencyRecord) == 0
    admin = auth.headers("admin")
    for key in ("", "   ", "k" * 201, "tab\there"):
        assert_error(client.post(GROUPS, json={"name": "X"}, headers=_with_key(admin, key)), 422,
                     "invalid_idempotency_key")
    assert _count(Group) == 0
    assert client.post(GROUPS, json={"name": "X"}, headers=_with_key(admin, "k" * 200)).status_code == 201


def test_sign_in_is_never_stored(client, demo):
    body = {"login": "admin", "password": "baton-demo"}
    a = client.post("/api/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    b = client.post("/api/v1/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert (a.status_code, b.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in b.headers
    assert _count(IdempotencyRecord) == 0


def test_concurrent_requests_with_one_key_execute_once(app, auth, demo):
    """Ten phones retry the same POST at the same moment: one group, one answer."""
    headers = _with_key(auth.headers("admin"), "group-create-race")
    body = {"name": "Race group", "members": [demo.uid("staff.wh1")]}
    db.session.commit()  # SQLite: free the write lock this session holds
    n = 10
    barrier = threading.Barrier(n)
    results, errors = [], []

    def post():
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                r = client.post(GROUPS, json=body, headers=headers)
                results.append((r.status_code, r.json, r.headers.get("Idempotent-Replayed")))
                db.session.remove()
        except Exception as exc:  # surfaced below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == n
    assert all(status < 500 for status, _, _ in results), results
    created = [r for r in results if r[0] == 201]
    waited_too_long = [r for r in results if r[0] == 409]
    assert len(created) + len(waited_too_long) == n, results
    assert all(body["error"]["code"] == "idempotency_in_progress" for _, body, _ in waited_too_long)
    assert created and all(r[1] == created[0][1] for r in created)
    assert sum(1 for r in created if r[2] != "true") == 1  # exactly one execution, the rest replays
    db.session.expire_all()
    assert _count(Group) == 1
    assert _count(IdempotencyRecord) == 1
    assert db.session.scalar(select(IdempotencyRecord.state)) == "done"


def test_a_change_whose_answer_was_lost_says_so_instead_of_hanging(app, client, demo, auth):
    """A worker died after committing the change but before storing the answer: the key is pending and old."""
    from datetime import timedelta

    from app.common.clock import utcnow
    from app.common.idempotency import IdempotencyRecord
    from app.extensions import db

    headers = auth.headers("admin", **{"Idempotency-Key": "lost-1"})
    body = {"name": "g-lost", "members": []}
    assert client.post("/api/v1/groups", json=body, headers=headers).status_code == 201
    # Make it look as if the worker died after the commit: answer missing, record pending for minutes.
    record = db.session.scalar(db.select(IdempotencyRecord).where(IdempotencyRecord.key == "lost-1"))
    record.state, record.status_code, record.response_body = "pending", None, None
    record.created_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    response = client.post("/api/v1/groups", json=body, headers=headers)
    assert response.status_code == 409 and response.json["error"]["code"] == "idempotency_answer_lost"
    from app.org.models import Group

    assert db.session.scalar(db.select(db.func.count()).select_from(Group).where(Group.name == "g-lost")) == 1
