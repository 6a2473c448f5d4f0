"""Baton: a mobile-first, collaborative work-order system."""
import logging
import os
import time

from flask import Flask, has_request_context, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from app import config as config_module
from app.common import body, database, ids
from app.extensions import api, db, migrate


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for writes so concurrent writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Reads never write, so a GET's transaction takes no write lock: with WAL, dashboards and inboxes read
        # while a writer works. Everything else takes the lock at once, so two writers queue instead of one
        # failing when it tries to upgrade a read lock.
        reading = has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def _ping_idle_connections(engine: Engine, idle_seconds: int) -> None:
    """`pool_pre_ping` for connections that sat idle only.

    `pool_pre_ping` costs a round trip on every checkout, and a request checks out once or twice. What it guards
    against, a connection the server or the network dropped, happens to idle connections (a frozen Lambda container,
    an idle timeout, a failover), so those alone are pinged; a dead one is replaced before anyone uses it.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["baton.idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("baton.idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure means the connection cannot be trusted
            raise exc.DisconnectionError("idle connection failed its ping") from error  # the pool connects afresh


def _register_blueprints(app: Flask) -> None:
    from app.auth.api import blp as auth_blp
    from app.calendars.api import blp as calendars_blp
    from app.escalation.api import blp as escalation_blp
    from app.flows.api import blp as flows_blp
    from app.metrics.api import blp as metrics_blp
    from app.notify.api import blp as notify_blp
    from app.org.api import blp as org_blp
    from app.quality.api import blp as quality_blp
    from app.workorders.api import blp as workorders_blp
    from app.workorders.entrypoint_api import blp as entry_points_blp

    for blp in (auth_blp, org_blp, calendars_blp, flows_blp, workorders_blp, escalation_blp, notify_blp, quality_blp, metrics_blp,
                entry_points_blp):
        api.register_blueprint(blp)


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app; configuration comes from the environment, overridden by `config`."""
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR), static_folder=None)
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
        if "SQLALCHEMY_DATABASE_URI" in config:
            app.config["SQLALCHEMY_DATABASE_URI"] = config_module.normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))

    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1, x_host=1)

    if app.config.get("PASSWORD_HASH_TIME_COST"):
        from app.org import passwords

        passwords.configure(time_cost=app.config["PASSWORD_HASH_TIME_COST"], memory_cost=app.config.get("PASSWORD_HASH_MEMORY_COST"))

    database.connect_timeout_options(app)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
        elif app.config.get("DB_PING_IDLE_SECONDS"):
            _ping_idle_connections(db.engine, app.config["DB_PING_IDLE_SECONDS"])
        database.track_commits(db.engine)
        database.track_writes(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    ids.init_app(app)  # before any rule: `int` in URLs is a 32-bit id
    api.init_app(app)
    _register_blueprints(app)

    from app import web
    from app.common import idempotency
    from app.error_handlers import register_error_handlers, unavailable_response

    @app.teardown_request
    def _end_transaction(_exc):
        # End the transaction at once (on SQLite an open one holds the write lock): a read-only one with a COMMIT,
        # which keeps psycopg's prepared statements; anything else with a ROLLBACK.
        database.end_transaction(db.session)

    body.init_app(app)  # before any hook that reads the body
    from app.auth.service import authenticate
    from app.common import guard
    from app.common.clock import utcnow

    def authenticate_request(*, authorization: str | None, api_key: str | None):
        config = app.config
        return authenticate(authorization=authorization, api_key=api_key, secret_key=config["SECRET_KEY"],
                            token_ttl=config["TOKEN_TTL_SECONDS"], now=utcnow())

    guard.init_app(app, authenticate=authenticate_request)
    current_principal = guard.current_principal

    def identify_caller() -> str | None:
        principal = current_principal(required=False)
        return principal.caller_id if principal else None

    from app.notify import nudge

    nudge.init_app()
    register_error_handlers(app, session=db.session)
    web.init_app(app)
    # After web's hooks: Flask runs after_request hooks last-registered first, so an answer idempotency replaces (a
    # 503 when the commit that carries a change and its answer fails) still gets the security headers.
    idempotency.init_app(app, identify_caller=identify_caller, unavailable=unavailable_response)

    from app.cli import register_cli

    register_cli(app)

    return app
