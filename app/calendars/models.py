"""Business calendars (docs/design.md §12)."""
from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db

BUILT_IN_KEY = "cn-standard"


class Calendar(db.Model):
    """Weekly working hours in a time zone, days off and make-up working days.

    `holidays_from` names a region whose public holidays and make-up days a maintained library supplies
    (calendars.library); the calendar's own `holidays` and `workdays` come on top (a company's own day off, a
    stock-take Saturday). `version` goes up with each change, so compiled calendars can be remembered safely.
    """
    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(64), unique=True)  # the built-in calendar's stable name
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    week: Mapped[dict] = mapped_column(JSONType, default=dict)
    holidays: Mapped[list] = mapped_column(JSONType, default=list)
    workdays: Mapped[list] = mapped_column(JSONType, default=list)
    holidays_from: Mapped[str | None] = mapped_column(String(8))
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
