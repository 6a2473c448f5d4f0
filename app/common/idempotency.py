"""Every POST honours `Idempotency-Key` (docs/design.md §9).

The record is inserted, uncommitted, before the view runs, so the service's own commit
stores it atomically with the change; a concurrent request with the same key blocks on
the unique index (or the SQLite write lock) and then finds the stored response. Keys are
scoped to the caller, and expire after IDEMPOTENCY_TTL_SECONDS (default 24 hours).

Every action a phone sends carries a key, so its cost is on every phone's hot path: a new key is one statement
(`INSERT ... ON CONFLICT DO NOTHING RETURNING`), storing the answer one more (`UPDATE`, no read).
"""
import functools
import hashlib
import json
import logging
import time
from datetime import datetime, timedelta
from enum import StrEnum

from flask import Flask, current_app, request
from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.common import database, uow
from app.common.bulk import dialect, upsert
from app.common.clock import utcnow
from app.common.types import UTCDateTime
from app.errors import Conflict, Invalid
from app.extensions import db

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
# A response whose first execution is still running (or died after committing) is waited for this long.
WAIT_SECONDS = 10.0
# Longer than any request may run: a record still pending after this lost its answer with a crashed worker.
STALE_PENDING_SECONDS = 60
# Sign-in answers with a credential: it must never be stored, and signing in twice is harmless.
EXEMPT_PATHS = ("/api/v1/auth/login",)
# On the WSGI environ of a request whose key was taken: the id of the record it inserted.
_MARKER = "baton.idempotency"
# Answers carrying a secret are stored with the secret removed; a replay says so instead of minting another.
REDACTED_FIELDS = {"/api/v1/api-keys": "key"}


class KeyState(StrEnum):
    """pending (the first request runs, committed with its change) -> done (its answer stored for replays), or
    lost (the change committed but its answer could not be stored: a retry is told so, never run again)."""

    PENDING = "pending"
    DONE = "done"
    LOST = "lost"


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=KeyState.PENDING)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("caller", "key"),
        Index("ix_idempotency_records_expires_at", "expires_at"),
    )


def _request_hash() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.full_path.encode())
    digest.update(b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str):
    if record.request_hash != request_hash:
        raise Invalid(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
        )
    response = current_app.response_class(
        record.response_body or "", status=record.status_code, content_type=record.content_type or "application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(caller: str, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
    )


def before_request():
    if request.method != "POST" or not request.path.startswith("/api/") or request.path in EXEMPT_PATHS:
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.", code="invalid_idempotency_key")
    caller = current_app.extensions["baton.identify_caller"]()
    if caller is None:
        return None  # the view answers 401; nothing to remember
    request_hash = _request_hash()
    now = utcnow()
    expires_at = now + timedelta(seconds=current_app.config["IDEMPOTENCY_TTL_SECONDS"])
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        # The common case, a key not seen before, is one statement: the pending record is inserted unless the key
        # is taken. A request holding the same key uncommitted makes this one wait on the unique index until it
        # ends; then it took the key (its change committed) or left it (rolled back: ours now).
        taken = db.session.execute(_take_key(dialect()), {"b_caller": caller, "b_key": key, "b_request_hash": request_hash,
                                                          "b_now": now, "b_expires_at": expires_at}).first()
        if taken is not None:
            request.environ[_MARKER] = taken.id
            uow.hold(db.session())  # use cases that can leave their commit to it commit with the answer
            return None
        existing = _find(caller, key)
        if existing is not None and existing.expires_at <= now:
            db.session.delete(existing)
            db.session.commit()
            continue
        if existing is not None:
            if existing.state == KeyState.DONE:
                replay = _replay(existing, request_hash)
                db.session.commit()  # nothing was written (the insert found the key): keep the prepared statements
                return replay
            if existing.request_hash != request_hash:
                return _replay(existing, request_hash)  # raises idempotency_key_reused
            if existing.state == KeyState.LOST or existing.created_at <= now - timedelta(seconds=STALE_PENDING_SECONDS):
                # A pending record is only ever committed together with the change it guards: the first request
                # applied its change and died before storing the answer. Say so rather than wait forever.
                raise Conflict("This request was already applied, but its answer was lost; reload to see the result.",
                               code="idempotency_answer_lost")
        # Pending (its answer about to be stored), or gone since the insert looked: look again in a moment.
        db.session.rollback()
        if time.monotonic() > deadline:
            raise Conflict("A request with this Idempotency-Key is still being processed.", code="idempotency_in_progress")
        time.sleep(0.05)


@functools.cache
def _take_key(dialect_name: str):
    """INSERT the pending record unless (caller, key) is taken, answering its id when inserted (built once per
    dialect)."""
    table = IdempotencyRecord.__table__
    return upsert(table, dialect_name).values(
        caller=bindparam("b_caller"), key=bindparam("b_key"), request_hash=bindparam("b_request_hash"),
        state=KeyState.PENDING.value, created_at=bindparam("b_now", type_=UTCDateTime()),
        expires_at=bindparam("b_expires_at", type_=UTCDateTime()),
    ).on_conflict_do_nothing(index_elements=["caller", "key"]).returning(table.c.id)


# The answer (or its loss) stored on the record this request inserted, if it is still there and still pending: one
# UPDATE, no read (after a rollback another request may hold the same key in a record of its own).
_RECORDS = IdempotencyRecord.__table__
_STORE = update(_RECORDS).where(_RECORDS.c.id == bindparam("b_id"), _RECORDS.c.state == KeyState.PENDING.value).values(
    state=bindparam("b_state"), status_code=bindparam("b_status_code", type_=Integer()),
    response_body=bindparam("b_response_body", type_=Text()), content_type=bindparam("b_content_type", type_=String()))


def after_request(response):
    record_id = request.environ.pop(_MARKER, None)
    if record_id is None:
        return response
    joined = uow.let_go(db.session())
    if joined and response.status_code < 300:
        # The change waits for the commit that stores its answer. If that commit fails, whether the change was
        # applied is unknown: 503, and the phone's retry with the same key replays the answer or runs it afresh.
        try:
            return _settle(response, record_id, joined=True)
        except Exception as error:
            kind = database.failure_kind(error)
            if kind is None:
                raise
            database.rollback_quietly(db.session)
            log.warning("idempotency: %s %s not committed, the database is %s", request.method, request.path, kind)
            return current_app.extensions["baton.unavailable"](kind)
    for attempt in (1, 2):
        try:
            return _settle(response, record_id)
        except Exception as error:
            if database.failure_kind(error) is None:
                raise
            # The connection died after the view: try once more on a fresh one (settling is idempotent). If the
            # database stays away the answer is not stored, but the caller still gets it; a change it committed
            # keeps its pending record, so a retry is never executed twice (see `before_request`).
            database.rollback_quietly(db.session)
            if attempt == 2:
                log.warning("idempotency: answer of %s %s not stored, the database is unavailable", request.method, request.path)
    return response


def _teardown(_exc) -> None:
    """A request that ended before its answer was settled (an error passed up untouched) stops holding its commit."""
    if request.environ.pop(_MARKER, None) is not None:
        uow.let_go(db.session())


def _settle(response, record_id: int, *, joined: bool = False):
    """Store the answer for replays, or forget the key when the request changed nothing. `joined`: the change is
    in this transaction still, and commits with its answer."""
    if response.status_code >= 300:
        # The change (if any) was rolled back with the pending record, unless it was committed before the failure.
        db.session.rollback()
        if not request.environ.get(database.COMMITTED):
            return response  # nothing was committed: the record is gone with the change
    if request.environ.get(database.ANSWERED_503) and not request.environ.get(database.COMMITTED):
        # The database is away and this request committed nothing: its pending record died with its connection.
        return response
    if response.status_code >= 500:
        # If the record is still there after the rollback, it was committed with the change, and only the answer
        # is lost (a fault, or the database went away, after the commit). Never store a server fault or a 503 as
        # the answer, and never forget the key (a retry would run the change again): a retry is told at once that
        # the change was applied. If the database is still away, the record stays pending, which says the same
        # after STALE_PENDING_SECONDS.
        if _store(record_id, state=KeyState.LOST):
            db.session.commit()
        return response
    body = response.get_data(as_text=True)
    secret_field = REDACTED_FIELDS.get(request.path)
    if secret_field and response.is_json:
        payload = json.loads(body)
        if isinstance(payload, dict) and secret_field in payload:
            payload[secret_field] = None
            payload[f"{secret_field}_redacted"] = True
            body = json.dumps(payload)
    stored = _store(record_id, state=KeyState.DONE, status_code=response.status_code, response_body=body,
                    content_type=response.content_type)
    if stored:
        db.session.commit()
    elif joined:
        # The change waits in the transaction but its key is gone (something rolled back after taking it): committing
        # it would let a retry apply it again. Nothing is applied; the retry with the key runs it.
        database.rollback_quietly(db.session)
        log.error("idempotency: the key of %s %s was lost before its answer; the change is not applied", request.method, request.path)
        return current_app.extensions["baton.unavailable"](database.TRANSIENT)
    return response


def _store(record_id: int, *, state: KeyState, status_code: int | None = None, response_body: str | None = None,
           content_type: str | None = None) -> bool:
    """Settle this request's record; False when it is not there any more (rolled back with the change)."""
    return db.session.execute(_STORE, {"b_id": record_id, "b_state": state.value, "b_status_code": status_code,
                                       "b_response_body": response_body, "b_content_type": content_type}).rowcount > 0


def prune_expired(*, now: datetime) -> int:
    """Delete records past their expiry."""
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    db.session.commit()
    return result.rowcount or 0


def init_app(app: Flask, *, identify_caller, unavailable) -> None:
    """Honour Idempotency-Key on every POST; `identify_caller()` names the caller of the request (None: nobody
    signed in), so that one caller's keys never answer another's requests; `unavailable(kind)` is the answer when
    the database fails the commit that carries a change and its answer (503, app/error_handlers.py)."""
    app.extensions["baton.identify_caller"] = identify_caller
    app.extensions["baton.unavailable"] = unavailable
    app.before_request(before_request)
    app.after_request(after_request)
    app.teardown_request(_teardown)
