"""Fixtures: the app on each database, a client, sign-in helpers and demo data.

Every test that takes `app` runs on SQLite and on PostgreSQL. PostgreSQL tests use a
database they create and drop themselves; with no server they are skipped loudly, and
under CI=true a missing server is a failure.
"""
import copy
import os
from contextlib import contextmanager
import uuid
import warnings

import pytest
from flask import current_app
from sqlalchemy import event, text

from app import create_app
from app.extensions import db

PG_ADMIN_URL = os.environ.get("BATON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("BATON_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()]
FAST_HASH = {"PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 1024}


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    try:
        conn = _pg_admin()
    except Exception as exc:  # no server
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and did not answer: {exc}")
        warnings.warn(f"\n\n*** PostgreSQL not reachable ({exc}); PostgreSQL tests are SKIPPED ***\n")
        pytest.skip("PostgreSQL not reachable")
    name = f"baton_test_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    # A throwaway database: no need to wait for each commit to reach the disk.
    conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
    )
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'baton-test.db'}"


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
    """An empty database of each backend, for tests that run the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    request.getfixturevalue("pg_url")  # skips or fails consistently with the rest of the suite
    name = f"baton_mig_{uuid.uuid4().hex[:8]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with _pg_admin() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _schema_ready(app):
    with app.app_context():
        db.create_all()


def _wipe(app):
    """Empty every table between tests (much faster than recreating the schema); what a fresh install has (the
    built-in calendar) is put back."""
    _empty(app)
    from app.calendars.service import install_built_in
    from app.common.clock import utcnow

    with app.app_context():
        install_built_in(utcnow())
        db.session.commit()


def _empty(app):
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables]
        if db.engine.dialect.name == "postgresql":
            # DELETE beats TRUNCATE on small tables (no file swap per table); identities restart for stable ids.
            statements = [f'DELETE FROM "{t}"' for t in reversed(tables)]
            with db.engine.begin() as conn:
                sequences = conn.execute(text(
                    "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name) FROM information_schema.sequences"
                )).scalars().all()
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # skip FK checks while emptying
                conn.execute(text(";".join(statements + [f"ALTER SEQUENCE {s} RESTART WITH 1" for s in sequences])))
            return
        # SQLite ignores PRAGMA foreign_keys inside a transaction: use the raw autocommit connection.
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("BEGIN")
            for table in reversed(tables):
                cursor.execute(f'DELETE FROM "{table}"')
            for table in KEPT_BY_TRIGGERS:  # the tasks' delete triggers just counted them down: empty them again
                cursor.execute(f'DELETE FROM "{table}"')
            if cursor.execute("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").fetchone():
                cursor.execute("DELETE FROM sqlite_sequence")
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()


# Rows the database keeps itself from `tasks` (app.workorders.loads); the load changes table is empty between transactions.
KEPT_BY_TRIGGERS = ("person_loads", "dispatch_seats", "task_load_changes")

_apps: dict[str, object] = {}


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def app(request, backend, tmp_path):
    """The app on one database backend, with empty tables."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("sqlite_url")
    key = backend
    if key not in _apps:
        application = create_app({
            "SQLALCHEMY_DATABASE_URI": url,
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-1234567890",
            "ATTACHMENT_DIR": str(tmp_path.parent / f"uploads-{backend}"),
            **FAST_HASH,
        })
        _schema_ready(application)
        _apps[key] = application
    application = _apps[key]
    _wipe(application)
    with application.app_context():
        yield application
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


_demo_rows: dict[str, tuple] = {}


@pytest.fixture
def demo(app, backend):
    """The demo organisation and built-in templates (no work orders).

    The first test of a worker on each backend seeds them for real; later ones put the same rows back in a few
    set-based INSERTs (times moved on by the time that passed since), which is ten times faster than seeding.
    """
    from app.seed import seed_organisation, seed_templates

    if backend in _demo_rows:
        _restore(*_demo_rows[backend])
    else:
        seed_organisation()
        seed_templates()
        db.session.commit()
        _demo_rows[backend] = _snapshot()
    return Demo()


_worlds: dict[tuple, tuple] = {}


def built_once(name: str, backend: str, build):
    """A world of test data built by `build()` (through the API and the engine) in the first test of a worker on
    each backend; later tests get the very same rows back in a few INSERTs, with their times unchanged.

    Answers what `build()` answered (ids and the like), which must not hold ORM objects.
    """
    key = (name, backend)
    if key in _worlds:
        tables, taken_at, answer = _worlds[key]
        _wipe(current_app._get_current_object())
        _restore(tables, taken_at, move_times=False)
        return copy.deepcopy(answer)
    answer = build()
    db.session.commit()
    _worlds[key] = (*_snapshot(), copy.deepcopy(answer))
    return answer


def _snapshot():
    from app.common.clock import utcnow

    with db.engine.connect() as conn:
        tables = [(table, [dict(row) for row in conn.execute(table.select()).mappings() if not _installed(table, row)])
                  for table in db.metadata.sorted_tables]
    return [(table, rows) for table, rows in tables if rows], utcnow()


def _installed(table, row) -> bool:
    """A row every fresh install has (put back by `_wipe`), so not part of a snapshot."""
    return table.name == "calendars" and row["built_in"]


def _restore(tables, taken_at, *, move_times: bool = True):
    import datetime as dt

    from app.common.clock import utcnow

    moved = utcnow() - taken_at if move_times else dt.timedelta(0)
    with db.engine.begin() as conn:
        # Departments and people refer to each other: the keys are checked once everything is back.
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        # SQLite runs the triggers that keep people's loads while the tasks come back: those rows are put back last.
        last = () if conn.dialect.name == "postgresql" else KEPT_BY_TRIGGERS
        for table, rows in sorted(tables, key=lambda pair: pair[0].name in last):
            if table.name in last:
                conn.execute(table.delete())
            # (a seat never given a task keeps its given_at of 1970, `NEVER_GIVEN`)
            conn.execute(table.insert(), [{k: v + moved if isinstance(v, dt.datetime) and v.year > 1970 else v for k, v in row.items()}
                                          for row in rows])
            if conn.dialect.name == "postgresql":
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (column.autoincrement == "auto" and len(table.primary_key.columns) == 1
                                                        and isinstance(column.type, db.Integer)):
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{column.name}'), "
                                          f"(SELECT max(\"{column.name}\") FROM \"{table.name}\"))"))


class Demo:
    """Look-ups into the demo data by login and department code."""

    def user(self, login):
        from app.org.models import User

        return db.session.scalar(db.select(User).where(User.login == login))

    def uid(self, login) -> int:
        return self.user(login).id

    def dept(self, code) -> int:
        from app.org.models import Department

        return db.session.scalar(db.select(Department.id).where(Department.code == code))


class Auth:
    def __init__(self, app, client):
        self.app = app
        self.client = client

    def headers(self, login: str, **extra) -> dict:
        """Bearer headers for a demo user, through the real sign-in endpoint."""
        response = self.client.post("/api/v1/auth/login", json={"login": login, "password": "baton-demo"},
                                    environ_base={"REMOTE_ADDR": f"10.9.{hash(login) % 250}.{len(login)}"})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['token']}", **extra}


@pytest.fixture
def auth(app, client):
    return Auth(app, client)


def assert_error(response, status: int, code: str | None = None):
    """The documented error format with the expected status (and code)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.json
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def names(details: dict, field: str) -> bool:
    """Whether a 422's `details` names `field` or something inside it (`roles` for `roles.0`)."""
    return any(path == field or path.startswith(f"{field}.") for path in details)


@contextmanager
def racing_app(app, connections: int):
    """A second app on the same database whose pool holds `connections` at once, for tests with real threads; its
    connections are closed afterwards."""
    racing = create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": connections, "max_overflow": 10, "pool_timeout": 60},
        "SECRET_KEY": app.config["SECRET_KEY"],
        **FAST_HASH,
    })
    try:
        yield racing
    finally:
        with racing.app_context():
            db.engine.dispose()


@contextmanager
def statements():
    """The SQL statements sent while the block runs (SQLite's BEGIN [IMMEDIATE], sent as a statement, left out)."""
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_):
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def numbers_by_day(numbers) -> dict[str, list[int]]:
    """Work-order numbers (`WO-YYYYMMDD-NNNN`) by business day, each day's counters in order. Tests compare these,
    not bare counters: creations that straddle the business day's midnight see the next day's counter start at 1."""
    days: dict[str, list[int]] = {}
    for number in numbers:
        day, counter = number.rsplit("-", 1)
        days.setdefault(day, []).append(int(counter))
    return {day: sorted(counters) for day, counters in days.items()}


def numbered_without_gaps(numbers) -> bool:
    """Every business day's numbers run 1, 2, 3, … without a repeat or a gap (a fresh database)."""
    return all(counters == list(range(1, len(counters) + 1)) for counters in numbers_by_day(numbers).values())


def next_number(number: str, earlier: str) -> bool:
    """`number` is the one taken right after `earlier`: the next of the same day, or the first of a later day."""
    (day, counter), (day_before, counter_before) = (n.rsplit("-", 1) for n in (number, earlier))
    return (day, int(counter)) == (day_before, int(counter_before) + 1) or (day > day_before and int(counter) == 1)
