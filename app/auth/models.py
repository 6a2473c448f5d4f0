"""Credentials that are not people: API keys; and the failed sign-ins that throttling counts."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class Scope(StrEnum):
    ORDERS_WRITE = "orders:write"
    INVENTORY_WRITE = "inventory:write"
    VOLUMES_WRITE = "volumes:write"
    CATALOG_WRITE = "catalog:write"


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # sha256 of the secret: keys are 256-bit random, so a fast hash is enough and lookups stay O(1).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list] = mapped_column(JSONType, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(db.Model):
    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_login_failures_login_at", "login", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )
