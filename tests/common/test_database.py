"""The connection pool survives connections the server dropped while they sat idle."""
import time

import psycopg
import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, FAST_HASH, PG_ADMIN_URL


def _pooled_backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool
    return pid


@pytest.mark.parametrize("ping_after, survives", [(1, True), (0, False)])
def test_an_idle_connection_the_server_dropped_is_replaced_before_use(request, ping_after, survives):
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the test databases")
    pg_url = request.getfixturevalue("pg_url")
    app = create_app({"SQLALCHEMY_DATABASE_URI": pg_url, "SECRET_KEY": "x" * 48, "DB_PING_IDLE_SECONDS": ping_after,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}, **FAST_HASH})
    try:
        dropped = _pooled_backend_pid(app)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:  # a failover or an idle timeout, say
            admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
        time.sleep(1.2)
        with app.app_context():
            if survives:
                assert db.session.scalar(text("SELECT pg_backend_pid()")) != dropped
            else:  # without the ping the dead connection reaches the caller: what the ping exists for
                with pytest.raises(Exception):
                    db.session.scalar(text("SELECT 1"))
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()


def test_prepared_statements_survive_read_requests(request):
    """A request that only read ends with COMMIT: a ROLLBACK would make psycopg DEALLOCATE ALL, and PostgreSQL would
    parse and plan every statement of every request again."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the test databases")
    pg_url = request.getfixturevalue("pg_url")
    app = create_app({"SQLALCHEMY_DATABASE_URI": pg_url, "SECRET_KEY": "x" * 48,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}, **FAST_HASH})
    try:
        with app.app_context():
            db.create_all()
        client = app.test_client()
        for _ in range(8):  # psycopg prepares a statement from its fifth execution on a connection
            assert client.get("/healthz").status_code == 200
        with app.app_context():
            prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            db.session.remove()
        assert prepared > 0
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_transaction_that_wrote_is_rolled_back_and_one_that_read_is_committed(app, backend):
    from app.common import database
    from app.org.models import Group

    db.session.execute(Group.__table__.insert().values(name="left open", description=""))
    database.end_transaction(db.session)  # a view that wrote and never committed: nothing of it stays
    assert db.session.scalar(text("SELECT count(*) FROM groups")) == 0
    assert db.session.connection().info[database.WROTE] is False  # a new transaction: only read so far
    database.end_transaction(db.session)
    assert not db.session().in_transaction()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_bulk_loaded_and_left_uncommitted_are_rolled_back(app, backend):
    """COPY (PostgreSQL) writes on the driver's connection, past SQLAlchemy's statement events: it says so itself,
    so a request that loaded rows and never committed is rolled back, not committed as a read."""
    from datetime import datetime, timezone

    from app.common import database
    from app.common.bulk import load_rows
    from app.org.models import Group

    db.session.execute(text("SELECT 1"))  # a transaction that has only read so far
    load_rows(Group.__table__, [{"id": 900001, "name": "loaded, never committed", "description": "", "active": True,
                                 "created_at": datetime.now(timezone.utc)}])
    database.end_transaction(db.session)
    assert db.session.scalar(text("SELECT count(*) FROM groups")) == 0
