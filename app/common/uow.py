"""One use case, one transaction: the unit of work a service opens around its use case.

A service that is a whole use case opens one and its changes commit when the block ends, or roll back when
it raises. A use case that calls another (an andon pull opens a containment work order; a shortage opens a
restock work order) opens its own around both: the inner block then joins the outer one, flushing instead of
committing, so the whole pull commits once, or not at all.

A request can hold the commit too (`hold` / `let_go`): a POST with an Idempotency-Key commits the change of a
use case written as plain statements, which ends with `commit()`, together with the key and its answer
(app/common/idempotency.py). Blocks of `unit_of_work` do not join it: they commit (or roll back) as they always do.
"""
from contextlib import contextmanager

from app.extensions import db

_DEPTH = "baton.unit_of_work_depth"
_HELD = "baton.commit_held"  # None: no request holds the commit; False: it does; True: a use case left it its change


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
        if depth == 0:
            keep = session.expire_on_commit
            session.expire_on_commit = not keep_loaded and keep
            try:
                session.commit()
            finally:
                session.expire_on_commit = keep
        else:
            session.flush()
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
    """End a use case written as plain statements: commit; inside a caller's unit of work, or when the request
    holds the commit (`hold`), leave it to them (what it wrote is in the transaction already)."""
    session = db.session()
    if session.info.get(_DEPTH, 0) > 0:
        session.flush()
    elif session.info.get(_HELD) is not None:
        session.flush()
        session.info[_HELD] = True
    else:
        session.commit()


def hold(session) -> None:
    """Hold the commit of this session's transaction until `let_go` (a request's, from one hook to another)."""
    session.info[_HELD] = False


def let_go(session) -> bool:
    """Stop holding the commit; True when a use case left its change to it, which the caller must now commit (or
    roll back)."""
    return bool(session.info.pop(_HELD, None))
