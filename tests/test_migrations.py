"""The migrated schema is exactly what the models describe, on SQLite and on PostgreSQL."""
import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from app.workorders import loads
from tests.conftest import FAST_HASH


def test_migrations_match_models(fresh_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        if db.engine.dialect.name == "postgresql":
            assert _functions(db.engine) == _functions_of(loads.statements("postgresql")), "the migrated triggers' functions are not the models' (app.workorders.loads)"
        downgrade(revision="base")
        with db.engine.connect() as conn:
            remaining = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()


def _functions(engine) -> dict[str, tuple[str, list | None]]:
    """Baton's PL/pgSQL functions in a database: name -> (body, settings)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT proname, prosrc, proconfig FROM pg_proc WHERE starts_with(proname, 'baton_')").all()
    return {name: (body, config) for name, body, config in rows}


def _functions_of(statements: list[str]) -> dict[str, tuple[str, list | None]]:
    """The same, as `CREATE FUNCTION` statements would leave them."""
    functions = {}
    for statement in statements:
        if statement.startswith("CREATE OR REPLACE FUNCTION "):
            name = statement.split()[4].split("(")[0]
            head, body, _ = statement.split("$$")
            config = [f"{name}={value}" for name, value in re.findall(r"\bSET (\w+) = (\w+)", head)]
            functions[name] = (body, config or None)
    return functions
