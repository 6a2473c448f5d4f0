"""Human work-order numbers WO-YYYYMMDD-NNNN: unique and increasing per business day, without gaps in the normal course.

A number comes from the day's counter row with one atomic upsert, which locks that row until its transaction ends.
Two ways to take one, so that creations never queue behind each other's commits:

- the engine (`service.create_work_order`) takes it as the last write before commit (`number_work_order`): the row
  is locked only for the commit, and a creation that rolls back gives its number back;
- the few-statements creation (`fastpaths.create`) and the recall fan-out take theirs in a moment's transaction of
  their own (`reserve_numbers`, PostgreSQL): the row is locked for one statement, and a creation that fails after
  taking its number (a crash, a database error) leaves a gap — never a repeat. A fast creation that falls back to
  the engine hands it the number it took, so that case leaves none.

A creation inside a larger use case (a caller's unit of work, as in an andon pull) holds the row until that use case
commits. SQLite has a single writer: there every number is part of the creation's transaction.
"""
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.orm.attributes import set_committed_value

from app.common.bulk import dialect, upsert
from app.extensions import db
from app.workorders.models import WorkOrder, WorkOrderCounter


def _bump(day: str, count: int):
    """The one atomic upsert that takes `count` numbers of a day: `last = last + count`, answering the new last."""
    stmt = upsert(WorkOrderCounter).values(day=day, last=count)
    return stmt.on_conflict_do_update(index_elements=["day"], set_={"last": WorkOrderCounter.last + count}).returning(WorkOrderCounter.last)


def _day(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")


def _numbers(day: str, last: int, count: int) -> list[str]:
    return [f"WO-{day}-{value:04d}" for value in range(last - count + 1, last + 1)]


def next_number(*, now: datetime, tz: str) -> str:
    """Bump the day's counter in the caller's transaction and format the number (local business day)."""
    day = _day(now, tz)
    return _numbers(day, db.session.execute(_bump(day, 1)).scalar_one(), 1)[0]


def reserve_numbers(*, now: datetime, tz: str, count: int) -> list[str]:
    """`count` consecutive numbers of the business day from one atomic upsert, for the bulk writer.

    On PostgreSQL the range is reserved in its own short transaction, like a sequence: the day's counter row is
    locked for a moment, not for the whole batch, so parallel recall lanes (and people opening work orders) never
    wait on each other. A batch that fails afterwards leaves a gap in the numbers, never a repeat. SQLite has a
    single writer, so there it is part of the caller's transaction.
    """
    day = _day(now, tz)
    if dialect() == "postgresql":
        with db.engine.begin() as connection:
            # No need to wait for this commit to reach the disk: the work orders that use the numbers commit after
            # it, and a commit that reaches the disk takes every earlier one with it; were the server to crash
            # before, the numbers would simply be taken again.
            last = connection.execute(_BUMP_UNHURRIED, {"day": day, "count": count}).scalar_one()
    else:
        last = db.session.execute(_bump(day, count)).scalar_one()
    return _numbers(day, last, count)


# `_bump` in a transaction whose commit does not wait for the disk (PostgreSQL), in one statement.
_BUMP_UNHURRIED = text("""
    INSERT INTO work_order_counters (day, last)
    SELECT :day, :count FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unhurried
    ON CONFLICT (day) DO UPDATE SET last = work_order_counters.last + :count
    RETURNING last
""")


def unnumbered() -> str:
    """A unique stand-in number for a work order being created, replaced by `number_work_order` before commit."""
    return "~" + secrets.token_hex(9)


def number_work_order(*, work_order: WorkOrder, now: datetime, tz: str) -> str:
    """Give a new work order its number: everything else written first, then the counter bumped and the number stored."""
    db.session.flush()
    number = next_number(now=now, tz=tz)
    db.session.execute(update(WorkOrder.__table__).where(WorkOrder.__table__.c.id == work_order.id).values(number=number))
    set_committed_value(work_order, "number", number)
    return number
