"""Human work-order numbers WO-YYYYMMDD-NNNN: unique, and gapless per business day.

A number comes from the day's counter row with one atomic upsert. The upsert locks that row until the
transaction ends, and every creation of the day needs it: so a new work order takes its number as the last
write before commit (`number_work_order`). Creations then wait on each other only for that moment, never for
the whole of a slow one (a step opening a thousand tasks), and a creation that rolls back gives its number
back, so the day's numbers have no gaps. Two exceptions: a creation inside a larger use case (a caller's unit of work, as
in an andon pull) holds the row until that use case commits, and the recall fan-out reserves its numbers in
bulk, so a fan-out that fails after reserving leaves a gap.
"""
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
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


def business_day(now: datetime, tz: str) -> str:
    """The business day a work order opened at `now` is numbered in (its counter row's key)."""
    return _day(now, tz)


def number_sql(day_param: str, last: str) -> str:
    """`_numbers` written in SQL, for a statement that takes the number itself: the day's counter value `last`."""
    return f"'WO-' || :{day_param} || '-' || CASE WHEN {last} < 10000 THEN lpad({last}::text, 4, '0') ELSE {last}::text END"


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
            last = connection.execute(_bump(day, count)).scalar_one()
    else:
        last = db.session.execute(_bump(day, count)).scalar_one()
    return _numbers(day, last, count)


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
