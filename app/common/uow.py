"""One use case, one transaction: the unit of work a service opens around its use case.

A service that is a whole use case opens one and its changes commit when the block ends, or roll back when
it raises. A use case that calls another (an andon pull opens a containment work order; a shortage opens a
restock work order) opens its own around both: the inner block then joins the outer one, flushing instead of
committing, so the whole pull commits once, or not at all.

A request can be the outer unit too (`hold` / `let_go`): a POST with an Idempotency-Key commits its change, its
key and its answer together (app/common/idempotency.py). Use cases written as plain statements end with `commit()`,
which joins such a unit the same way.
"""
from contextlib import contextmanager

from app.extensions import db

_DEPTH = "baton.unit_of_work_depth"
_JOINED = "baton.unit_of_work_joined"  # a use case inside left its change to the outer unit's commit


@contextmanager
def unit_of_work(*, keep_loaded: bool = False):
    """Commit the session when the outermost block ends; roll back when it raises. Nested blocks join it.

    `keep_loaded`: what the session holds stays loaded after the commit (it was written in this transaction, so
    its loaded values are the committed ones), for a use case whose answer shows what it just wrote.
    """
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield session
        if depth > 0:
            session.flush()
            session.info[_JOINED] = True
        else:
            keep = session.expire_on_commit
            session.expire_on_commit = not keep_loaded and keep
            try:
                session.commit()
            finally:
                session.expire_on_commit = keep
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH] = depth


def in_unit_of_work() -> bool:
    """Whether a caller's unit of work is open (so committing now would commit part of its use case)."""
    return db.session().info.get(_DEPTH, 0) > 0


def commit() -> None:
    """End a use case written as plain statements: commit, or inside a caller's unit of work leave the commit to it
    (what it wrote is in the transaction already; pending objects are flushed)."""
    session = db.session()
    if session.info.get(_DEPTH, 0) > 0:
        session.flush()
        session.info[_JOINED] = True
    else:
        session.commit()


def hold(session) -> None:
    """Open a unit of work that is not a block (a request's, from one hook to another): use cases inside join it."""
    session.info[_DEPTH] = session.info.get(_DEPTH, 0) + 1
    session.info[_JOINED] = False


def let_go(session) -> bool:
    """Close what `hold` opened; True when a use case inside left its change to this unit's commit, which the
    caller must now make (or roll back)."""
    session.info[_DEPTH] = max(session.info.get(_DEPTH, 0) - 1, 0)
    return bool(session.info.pop(_JOINED, False))
