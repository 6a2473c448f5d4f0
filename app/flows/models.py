"""Flow templates: versioned, immutable once a work order uses them (docs/design.md §3)."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class FlowTemplate(db.Model):
    __tablename__ = "flow_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    classification: Mapped[dict] = mapped_column(JSONType, default=dict)
    form: Mapped[list] = mapped_column(JSONType, default=list)
    steps: Mapped[list] = mapped_column(JSONType, default=list)
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # Only the newest version of a key is current; older ones stay for the work orders that run on them.
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A flow Baton starts by itself (quality.system): installed by the upgrade, edited by admins as new versions.
    system: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_flow_templates_key_current", "key", "is_current"),
    )

    def step(self, key: str) -> dict:
        return next(s for s in self.steps if s["key"] == key)
