"""When the database goes away (a restart, a failover, a dropped connection): 503 with Retry-After, never a 500;
a request run once more when that cannot apply a change twice; health says what is down; the worker backs off."""
import socket
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc

from app import create_app
from app.common import idempotency
from app.common.clock import utcnow
from app.common.idempotency import IdempotencyRecord
from app.extensions import db
from app.org.models import Group
from tests.conftest import BACKENDS, FAST_HASH, PG_ADMIN_URL, assert_error

V1 = "/api/v1"
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed: connections are refused


def unreachable_url(backend: str, tmp_path) -> str:
    if backend == "postgresql":
        return f"postgresql://postgres@127.0.0.1:{_closed_port()}/baton_nowhere"
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'baton.db'}"


@pytest.fixture
def unreachable_app(tmp_path):
    """The app configured for a database that cannot be reached (nothing listens / the folder does not exist)."""
    built = []

    def build(backend: str):
        app = create_app({"SQLALCHEMY_DATABASE_URI": unreachable_url(backend, tmp_path), "SECRET_KEY": "u" * 48,
                          "ATTACHMENT_DIR": str(tmp_path / "uploads"), "DB_RETRY_AFTER_SECONDS": 7, **FAST_HASH})
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


class KillablePool:
    """A second app on the test's PostgreSQL database with a one-connection pool whose server backend the test kills.

    The idle ping is off, so a dead pooled connection reaches the request, as it does when a busy server restarts.
    """

    def __init__(self, app):
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                               "SECRET_KEY": app.config["SECRET_KEY"], "DB_PING_IDLE_SECONDS": 0,
                               "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}, **FAST_HASH})
        self.pids: list[int] = []
        with self.app.app_context():
            event.listen(db.engine, "connect", lambda dbapi, _record: self.pids.append(dbapi.info.backend_pid))
        self.client = self.app.test_client()

    def kill(self, pids=None) -> None:
        """Terminate the server side of the pooled connections, and wait until they are gone."""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            for pid in pids or self.pids:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))

    def close(self):
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def killable(app):
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the test databases")
    db.session.commit()
    pool = KillablePool(app)
    yield pool
    pool.close()


def _groups(name=None) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(Group)
    return db.session.scalar(query.where(Group.name == name) if name else query)


def assert_unavailable(response, code="database_unavailable"):
    assert_error(response, 503, code)
    assert int(response.headers["Retry-After"]) > 0


@postgresql_only
def test_a_read_on_a_connection_the_server_dropped_is_run_again(killable, auth, demo):
    admin = auth.headers("admin")
    assert killable.client.get(f"{V1}/me", headers=admin).status_code == 200
    killable.kill()  # a restart: the pooled connection is dead, and the next request is the first to know
    r = killable.client.get(f"{V1}/me", headers=admin)
    assert r.status_code == 200, r.get_data(as_text=True)  # was a 500
    assert r.json["login"] == "admin"
    assert len(killable.pids) == 2  # the retry ran on a fresh connection


@postgresql_only
def test_a_write_that_never_sent_a_commit_is_run_again_once(killable, auth, demo):
    headers = auth.headers("admin", **{"Idempotency-Key": "outage-write-1"})
    assert killable.client.get(f"{V1}/me", headers=headers).status_code == 200
    killable.kill()
    r = killable.client.post(f"{V1}/groups", json={"name": "After the restart"}, headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert _groups("After the restart") == 1
    again = killable.client.post(f"{V1}/groups", json={"name": "After the restart"}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == r.json
    assert _groups("After the restart") == 1


@postgresql_only
def test_a_write_whose_commit_failed_is_503_and_its_retry_executes_once(killable, auth, demo):
    headers = auth.headers("admin", **{"Idempotency-Key": "outage-commit-1"})
    assert killable.client.get(f"{V1}/me", headers=headers).status_code == 200
    armed = {"commit": True}

    def die_before_commit(connection):
        if armed.pop("commit", False):  # the server goes away as the COMMIT is sent: its outcome is unknown
            killable.kill([connection.connection.dbapi_connection.info.backend_pid])

    with killable.app.app_context():
        event.listen(db.engine, "commit", die_before_commit)
    body = {"name": "Commit lost"}
    r = killable.client.post(f"{V1}/groups", json=body, headers=headers)
    assert_unavailable(r)  # not run again: a COMMIT was sent, so it might have applied
    assert _groups("Commit lost") == 0
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0  # no 503 stored as the answer
    # The phone retries with the same key: it executes, once, and is replayed after that.
    retried = killable.client.post(f"{V1}/groups", json=body, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    replayed = killable.client.post(f"{V1}/groups", json=body, headers=headers)
    assert replayed.status_code == 201 and replayed.headers.get("Idempotent-Replayed") == "true"
    assert _groups("Commit lost") == 1


@postgresql_only
def test_a_phone_s_claim_whose_one_commit_failed_is_503_and_leaves_nothing(killable, client, auth, demo):
    """A keyed claim commits its change with its answer, in one COMMIT: if that fails, neither is there, and the
    phone's retry with the same key claims it, once."""
    from app.workorders.models import Task

    people = [demo.uid("cs.agent1"), demo.uid("cs.agent2")]
    template = {"key": "outage-pool", "name": "Outage pool", "priority": "P3", "steps": [
        {"key": "pick", "title": "Pick it", "mode": "pool", "assignees": {"users": people}, "sla": "PT4H"}]}
    assert client.post(f"{V1}/templates", json=template, headers=auth.headers("admin")).status_code == 201
    created = client.post(f"{V1}/work-orders", json={"template": "outage-pool", "title": "Crate 1"}, headers=auth.headers("lead.cs"))
    (task,) = created.json["tasks"]
    headers = auth.headers("cs.agent1", **{"Idempotency-Key": "outage-claim-1"})
    assert killable.client.get(f"{V1}/me", headers=headers).status_code == 200
    armed = {"commit": True}

    def die_before_commit(connection):
        if armed.pop("commit", False):
            killable.kill([connection.connection.dbapi_connection.info.backend_pid])

    with killable.app.app_context():
        event.listen(db.engine, "commit", die_before_commit)
    claim = f"{V1}/tasks/{task['id']}/claim"
    failed = killable.client.post(claim, json={}, headers=headers)
    assert_unavailable(failed)
    assert failed.headers["Cache-Control"] == "no-store" and failed.headers["X-Content-Type-Options"] == "nosniff"
    db.session.expire_all()
    assert db.session.get(Task, task["id"]).assignee_id is None
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    retried = killable.client.post(claim, json={}, headers=headers)
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers, retried.get_data(as_text=True)
    replayed = killable.client.post(claim, json={}, headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json == retried.json
    db.session.expire_all()
    assert db.session.get(Task, task["id"]).assignee_id == demo.uid("cs.agent1")


@postgresql_only
def test_a_change_committed_before_the_database_went_away_is_never_applied_twice(killable, auth, demo, monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    headers = auth.headers("admin", **{"Idempotency-Key": "outage-after-commit"})
    assert killable.client.get(f"{V1}/me", headers=headers).status_code == 200
    from sqlalchemy.orm import Session

    armed = {"after_commit": True}

    def die_after_commit(_session):
        if armed.pop("after_commit", False):  # committed: the change and its pending record are stored
            killable.kill()

    event.listen(Session, "after_commit", die_after_commit)
    try:
        body = {"name": "Committed once"}
        first = killable.client.post(f"{V1}/groups", json=body, headers=headers)
    finally:
        event.remove(Session, "after_commit", die_after_commit)
    # Either the answer it had (the answer could not be stored) or 503: never a 500, never a second execution.
    assert first.status_code in (201, 503), first.get_data(as_text=True)
    if first.status_code == 503:
        assert_unavailable(first)
    assert _groups("Committed once") == 1
    # The retry is told the change was applied (at once when the 503 could mark the key; after a wait when not).
    retried = killable.client.post(f"{V1}/groups", json=body, headers=headers)
    expected = "idempotency_answer_lost" if first.status_code == 503 else "idempotency_in_progress"
    assert assert_error(retried, 409)["code"] == expected
    db.session.execute(IdempotencyRecord.__table__.update().values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert_error(killable.client.post(f"{V1}/groups", json=body, headers=headers), 409, "idempotency_answer_lost")
    assert _groups("Committed once") == 1


def test_a_server_fault_after_the_commit_is_never_replayed_nor_run_again(app_with_routes, auth, demo):
    """A 500 after the change committed: the key is kept (a retry must not run the change again), the 500 not stored."""

    def register(extra):
        @extra.post("/api/v1/_test/commit-then-fail")
        def _commit_then_fail():
            db.session.add(Group(name="Committed before the fault"))
            db.session.commit()
            raise RuntimeError("after the commit")

    extra = app_with_routes(register)
    db.session.commit()
    headers = auth.headers("admin", **{"Idempotency-Key": "fault-after-commit"})
    client = extra.test_client()
    assert_error(client.post("/api/v1/_test/commit-then-fail", json={}, headers=headers), 500, "internal_error")
    assert_error(client.post("/api/v1/_test/commit-then-fail", json={}, headers=headers), 409, "idempotency_answer_lost")
    assert _groups("Committed before the fault") == 1
    record = db.session.scalar(select(IdempotencyRecord))
    assert record.state == "lost" and record.status_code is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unreachable_database_is_503_with_retry_after_and_health_names_it(unreachable_app, backend):
    app = unreachable_app(backend)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.headers["Retry-After"] == "7"
    assert health.json == {"status": "unavailable", "database": "unavailable", "attachments": "ok", "down": ["database"]}
    assert client.head("/healthz").status_code == 503
    # Before sign-in, signed in, reading and writing: the same answer, in the error format.
    assert_unavailable(client.post(f"{V1}/auth/login", json={"login": "admin", "password": "baton-demo"}))
    from app.auth.service import issue_token
    from app.org.models import User

    token = issue_token(user=User(id=1, login="admin", session_version=1), secret_key=app.config["SECRET_KEY"])
    bearer = {"Authorization": f"Bearer {token}"}
    for method, path, body in (("get", "/me", None), ("get", "/tasks/inbox", None), ("get", "/work-orders/1", None),
                               ("post", "/groups", {"name": "x"}), ("post", "/tasks/1/complete", {"outcome": "done"})):
        r = getattr(client, method)(V1 + path, json=body, headers={**bearer, "Idempotency-Key": f"k-{path}"})
        assert_unavailable(r)
        assert r.headers["Retry-After"] == "7"


@pytest.mark.parametrize("backend", BACKENDS)
def test_health_names_attachment_storage_that_cannot_be_written(app, client, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "uploads-volume"
    not_a_folder.write_text("the volume was not mounted")
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(not_a_folder / "uploads"))
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json == {"status": "unavailable", "database": "ok", "attachments": "unavailable", "down": ["attachments"]}


def _operational_error() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


class _Stop(Exception):
    pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_worker_backs_off_while_the_database_is_unreachable(unreachable_app, backend):
    from app.cli import _worker_loop

    app = unreachable_app(backend)
    app.config["WORKER_MAX_BACKOFF_SECONDS"] = 30
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 6:
            raise _Stop

    with app.app_context():
        with pytest.raises(_Stop):  # the loop itself never raised: the test stops it
            _worker_loop(interval=2.0, once=False, sleep=sleep)
    assert waits == [4, 8, 16, 30, 30, 30]
    with app.app_context():  # `flask worker` runs in one (FlaskGroup pushes it)
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "database unavailable" in result.output and "Traceback" not in result.output


def test_the_worker_returns_to_its_interval_once_the_database_is_back(app, monkeypatch):
    from app import cli

    outcomes = iter([_operational_error(), _operational_error(), None, _operational_error(), None, None])
    waits = []

    def run_all_once(**_kwargs):
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return {"pushes_sent": 0}

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 5:
            raise _Stop

    monkeypatch.setattr("app.jobs.run_all_once", run_all_once)
    with pytest.raises(_Stop):
        cli._worker_loop(interval=1.5, once=False, sleep=sleep)
    assert waits == [3, 6, 1.5, 3, 1.5]


def test_database_failures_are_told_apart_from_bugs():
    import sqlite3

    from psycopg import errors as pg

    from app.common.database import BUSY, TRANSIENT, UNAVAILABLE, failure_kind

    def wrapped(kind, orig):
        return kind("SELECT 1", {}, orig)

    assert failure_kind(_operational_error()) == UNAVAILABLE  # refused, reset, timed out: no SQLSTATE
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.AdminShutdown("terminating connection"))) == UNAVAILABLE
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.CannotConnectNow("the system is starting up"))) == UNAVAILABLE
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.DeadlockDetected("deadlock"))) == TRANSIENT
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.SerializationFailure("serialize"))) == TRANSIENT
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.TooManyConnections("too many"))) == BUSY
    assert failure_kind(wrapped(sa_exc.OperationalError, pg.QueryCanceled("statement timeout"))) == BUSY
    assert failure_kind(sa_exc.TimeoutError("QueuePool limit reached")) == BUSY
    assert failure_kind(wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked"))) == BUSY
    assert failure_kind(wrapped(sa_exc.OperationalError, sqlite3.OperationalError("unable to open database file"))) == UNAVAILABLE
    # The server answered: a bug, a constraint or a bad value is not an outage.
    assert failure_kind(wrapped(sa_exc.IntegrityError, pg.UniqueViolation("duplicate key"))) is None
    assert failure_kind(wrapped(sa_exc.ProgrammingError, pg.UndefinedTable("no such table"))) is None
    assert failure_kind(wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: users"))) is None
    assert failure_kind(RuntimeError("boom")) is None and failure_kind(None) is None
