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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.workorders.models import WorkOrder, WorkOrderCounter


def next_number(*, now: datetime, tz: str) -> str:
    """Bump the day's counter with one atomic upsert and format the number (local business day)."""
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(WorkOrderCounter).values(day=day, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": WorkOrderCounter.last + 1}).returning(WorkOrderCounter.last)
    value = db.session.execute(stmt).scalar_one()
    return f"WO-{day}-{value:04d}"


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
