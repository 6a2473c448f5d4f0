"""Durable timers: the source of truth for reminders and escalations (docs/design.md §6)."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class TimerKind:
    REMIND = "remind"
    ESCALATE = "escalate"


class Timer(db.Model):
    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=0)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending -> fired | stale. Completing, cancelling or returning the task makes its pending timers stale;
    # whom a firing reaches is worked out when it fires, from the task as it is then.
    status: Mapped[str] = mapped_column(String(8), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(JSONType)

    __table_args__ = (
        # The sweep reads only what is due: cost follows the due set, not everything pending.
        Index("ix_timers_status_fire_at", "status", "fire_at"),
        Index("ix_timers_task", "task_id"),
    )
