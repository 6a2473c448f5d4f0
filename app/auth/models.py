"""Credentials that are not people: API keys; and the counters of failed sign-ins that throttling keeps."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
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


class ThrottleKind(StrEnum):
    """What a sign-in throttle counter counts (docs/design.md §5; README "Security")."""

    PAIR = "pair"        # one login from one address: progressive delay
    DEVICE = "device"    # one login from a device it signed in on before: progressive delay
    LOGIN = "login"      # one login from unknown devices anywhere: the last resort against distributed guessing
    ADDRESS = "address"  # one address, unknown devices, any login: against password spraying


class LoginThrottle(db.Model):
    """A counter of failed sign-ins, counted atomically; successful sign-ins never count.

    `failures` counts since `window_start`; a counter quiet for a whole window starts again from zero.
    `blocked_until` is when the next attempt is allowed (pair and device counters: progressive delay;
    login and address counters: the end of the window once the limit is reached).
    """

    __tablename__ = "login_throttles"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
