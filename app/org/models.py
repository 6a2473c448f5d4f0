"""Departments, people, groups and their roles (docs/design.md §2)."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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
