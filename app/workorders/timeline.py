"""Appending to a work order's timeline (never updated, never deleted)."""
from datetime import datetime

from sqlalchemy import insert

from app.extensions import db
from app.workorders.models import TimelineEvent


def record(*, work_order_id: int, kind: str, actor_id: int | None, now: datetime, task_id: int | None = None,
           occurred_at: datetime | None = None, details: dict | None = None) -> TimelineEvent:
    """Append one event in the caller's transaction."""
    event = TimelineEvent(
        work_order_id=work_order_id,
        task_id=task_id,
        kind=kind,
        actor_id=actor_id,
        at=now,
        occurred_at=occurred_at,
        details=details or {},
    )
    db.session.add(event)
    return event


def append(*, work_order_id: int, kind: str, actor_id: int | None, now: datetime, task_id: int | None = None,
           occurred_at: datetime | None = None, details: dict | None = None) -> None:
    """`record` as one INSERT at once, for callers that need no object back (no unit-of-work flush)."""
    db.session.execute(_INSERT, {"work_order_id": work_order_id, "task_id": task_id, "kind": kind, "actor_id": actor_id,
                                 "at": now, "occurred_at": occurred_at, "details": details or {}})


_INSERT = insert(TimelineEvent.__table__)
