"""Human work-order numbers WO-YYYYMMDD-NNNN that never repeat, even under concurrent creation."""
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.workorders.models import WorkOrderCounter


def next_number(*, now: datetime, tz: str) -> str:
    """Bump the day's counter with one atomic upsert and format the number (local business day)."""
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(WorkOrderCounter).values(day=day, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": WorkOrderCounter.last + 1}).returning(WorkOrderCounter.last)
    value = db.session.execute(stmt).scalar_one()
    return f"WO-{day}-{value:04d}"
