"""What a request does when the database goes away: a restart, a failover, a dropped connection.

A failure is classified once here (`failure_kind`). The request is then run once more on a fresh connection
when that cannot apply a change twice, and otherwise answered 503 with `Retry-After` (app/errors.py):

- a read (GET, HEAD, OPTIONS) is retried once after the connection was lost or the transaction rolled back
  (a deadlock, a serialization failure): reads never write. A busy database (no free connection, a lock or
  statement timeout) is not retried: running again at once would only add load;
- a write is retried once only if it never asked the database to COMMIT. A transaction that was not
  committed dies with its connection (the server rolls it back), so running the request again is running it
  for the first time. Once a COMMIT was sent its outcome is unknown, and the request is answered 503: the
  phone retries with the same Idempotency-Key, which replays the stored answer, or executes the change if
  it never happened.
"""
import logging

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import scoped_session

log = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"  # the server cannot be reached, or dropped the connection (restart, failover)
TRANSIENT = "transient"  # the server rolled the transaction back (deadlock, serialization): safe to run again
BUSY = "busy"  # no connection free, a lock or statement timeout, too many connections: retrying now adds load

# Set in the WSGI environ of a request: a COMMIT was sent on its behalf; it was retried once; it answered 503.
COMMITTED = "baton.db.committed"
RETRIED = "baton.db.retried"
ANSWERED_503 = "baton.db.unavailable"

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# SQLSTATE classes and codes (PostgreSQL appendix A).
_UNAVAILABLE_STATES = ("57P01", "57P02", "57P03")  # admin / crash shutdown, cannot connect now (starting up)
_TRANSIENT_STATES = ("40001", "40P01")  # serialization failure, deadlock detected
_BUSY_STATES = ("55P03", "57014")  # lock not available, statement timeout
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_SQLITE_UNAVAILABLE = ("unable to open database", "disk i/o error", "database disk image is malformed")


def failure_kind(error: BaseException) -> str | None:
    """UNAVAILABLE, TRANSIENT or BUSY when `error` says the database could not serve us; None for anything else."""
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give within pool_timeout
        return BUSY
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    if error.connection_invalidated:
        return UNAVAILABLE
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate:
        if sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_STATES:
            return UNAVAILABLE
        if sqlstate in _TRANSIENT_STATES:
            return TRANSIENT
        if sqlstate.startswith("53") or sqlstate in _BUSY_STATES:
            return BUSY
        return None  # the server answered: a constraint, a bad value, a bug
    if not isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return None
    if type(error.orig).__module__.startswith("sqlite3"):
        message = str(error.orig).lower()
        if any(text in message for text in _SQLITE_BUSY):
            return BUSY
        if any(text in message for text in _SQLITE_UNAVAILABLE):
            return UNAVAILABLE
        return None  # no such table, syntax: a bug or a missing migration, not an outage
    # psycopg without an SQLSTATE: the connection failed before or outside the server (refused, reset, timed out).
    return UNAVAILABLE


def describe(error: BaseException) -> str:
    """The first line of an error's message, for a one-line log entry."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def may_retry(kind: str) -> bool:
    """Whether the current request may run once more after a failure of this kind (see the module docstring)."""
    if kind not in (UNAVAILABLE, TRANSIENT) or request.environ.get(RETRIED):
        return False
    return request.method in SAFE_METHODS or not request.environ.get(COMMITTED)


def retry_request(session):
    """Run the request's before-request hooks and its view once more, on a fresh session."""
    app = current_app._get_current_object()
    session.remove()  # a new session: nothing of the failed attempt is reused
    environ = request.environ
    for key in [k for k in environ if k.startswith("baton.")]:
        del environ[key]  # per-request state (the caller, the idempotency record) is worked out again
    environ[RETRIED] = True
    if request.mimetype == "multipart/form-data":
        for upload in request.files.values():
            upload.stream.seek(0)  # the first attempt may have read the upload
    try:
        rv = app.preprocess_request()
        if rv is None:
            rv = app.dispatch_request()
        return rv
    except Exception as error:  # handled as the first attempt's errors are; a second outage answers 503
        return app.handle_user_exception(error)


def rollback_quietly(session) -> None:
    """Roll back, whatever state the connection is in: an error handler must not fail on a dead connection."""
    try:
        session.rollback()
    except Exception:  # the connection is gone; the server has rolled the transaction back already
        log.debug("rollback failed", exc_info=True)
        try:
            session.close()
        except Exception:
            log.debug("closing the session failed", exc_info=True)


# On a connection's info: whether its current transaction sent anything but reads.
WROTE = "baton.db.wrote"
_READS = ("SELECT", "SHOW", "BEGIN", "SET", "SAVEPOINT", "RELEASE", "PRAGMA", "EXPLAIN")


def track_writes(engine: Engine) -> None:
    """Note on the connection when its transaction sends a statement that may write (anything but a read)."""

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.info[WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _on_statement(connection, _cursor, statement, _parameters, _context, _executemany):
        if not connection.info.get(WROTE) and not statement.lstrip()[:9].upper().startswith(_READS):
            connection.info[WROTE] = True


def note_write(session) -> None:
    """For writes that bypass SQLAlchemy's cursor (COPY on the driver's connection)."""
    session.connection().info[WROTE] = True


def end_transaction(session) -> None:
    """End what a request left open. A transaction that only read is COMMITted: a ROLLBACK makes psycopg discard
    every prepared statement of the connection (DEALLOCATE ALL), so PostgreSQL would parse and plan each statement
    of every request again. Anything that may have written, or left changes pending, is rolled back."""
    current = session() if isinstance(session, scoped_session) else session
    try:
        if current.in_transaction() and not (current.new or current.dirty or current.deleted) \
                and not current.connection().info.get(WROTE, True):
            current.commit()
            return
    except Exception:  # the connection is gone: the rollback below copes with that
        log.debug("ending a read-only transaction failed", exc_info=True)
    rollback_quietly(session)


def track_commits(engine: Engine) -> None:
    """Note on the request when a COMMIT is sent for it (the line between a retryable and a non-retryable write)."""

    @event.listens_for(engine, "commit")
    def _on_commit(_connection):
        if has_request_context():
            request.environ[COMMITTED] = True


def connect_timeout_options(app: Flask) -> None:
    """Give up connecting to PostgreSQL after DB_CONNECT_TIMEOUT_SECONDS (unreachable during a failover)."""
    seconds = app.config.get("DB_CONNECT_TIMEOUT_SECONDS")
    if not seconds or not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    if "connect_timeout=" in app.config["SQLALCHEMY_DATABASE_URI"]:
        return  # the URL says so itself
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", seconds)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
