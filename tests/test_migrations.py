"""The migrated schema is exactly what the models describe, on SQLite and on PostgreSQL."""
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, FAST_HASH, _pg_admin


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
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


def test_migrations_match_models(fresh_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        downgrade(revision="base")
        with db.engine.connect() as conn:
            remaining = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()
