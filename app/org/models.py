"""Departments, people, groups and their roles (docs/design.md §2)."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class Role(StrEnum):
    STAFF = "staff"
    LEAD = "lead"
    QUALITY = "quality"
    ADMIN = "admin"


class Permission(StrEnum):
    ANDON_PULL = "andon.pull"


# Permissions each role carries without an explicit grant.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    Role.QUALITY: {Permission.ANDON_PULL},
    Role.ADMIN: {Permission.ANDON_PULL},
}

LOCALES = ("zh-CN", "en")
# A shift with a handover whose end has not been handled yet (the partial index states it the same way).
HANDOVER_DUE = "handover AND handed_over_at IS NULL"


class Department(db.Model):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    head_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))
    # Working hours for business-time SLAs (docs/design.md §12); None inherits the parent's (the root's is 24x7).
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    off_duty_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when they went off duty (None: on duty)
    delegate_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    quiet_hours: Mapped[dict | None] = mapped_column(JSONType)
    # How to reach the person beyond the app (imported from HR files; SMS and the chat channels of §14 use them).
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # The person's user id in the company's DingTalk, WeCom and Feishu apps (docs/design.md §14).
    dingtalk_userid: Mapped[str | None] = mapped_column(String(64))
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    feishu_user_id: Mapped[str | None] = mapped_column(String(64))
    # Bumped on deactivation and password change: every token issued before stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    role_rows: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    permission_rows: Mapped[list["UserPermission"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> list[str]:
        return sorted(r.role for r in self.role_rows)

    @property
    def permissions(self) -> list[str]:
        granted = {p.permission for p in self.permission_rows}
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, set())
        return sorted(granted)

    def has_role(self, *roles: str) -> bool:
        return any(r.role in roles for r in self.role_rows)

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    __table_args__ = (Index("ix_user_roles_role", "role"),)


class UserPermission(db.Model):
    __tablename__ = "user_permissions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(32), primary_key=True)


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member_rows: Mapped[list["GroupMember"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def members(self) -> list[int]:
        return sorted(m.user_id for m in self.member_rows)


class GroupMember(db.Model):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class Shift(db.Model):
    """Who works when (docs/design.md §16): one person's or one group's shift, [starts_at, ends_at).

    Someone with any shift (their own or a group's) is on duty only inside one (`app.org.duty.on_duty_at`).
    `handover`: at its end, claimed tasks not started go back to the pool where the step allows it; the job marks
    the shift `handed_over_at` once it did so, so the hand-back happens once.
    """

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handover: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_holder"),
        CheckConstraint("starts_at < ends_at", name="starts_before_end"),
        # Who is on duty now reads a person's and their groups' shifts by these two, a bounded range each.
        Index("ix_shifts_user", "user_id", "starts_at", "ends_at"),
        Index("ix_shifts_group", "group_id", "starts_at", "ends_at"),
        # The end-of-shift job reads shifts that ended and were not handed over yet: usually a handful.
        Index("ix_shifts_handover_due", "ends_at", postgresql_where=text(HANDOVER_DUE), sqlite_where=text(HANDOVER_DUE)),
    )
