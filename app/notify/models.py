"""In-app notifications, push subscriptions and the push outbox (docs/design.md §9, CONVENTIONS 4)."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class Notification(db.Model):
    """One message to one person; always kept in-app, so nothing depends on push alone."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000), default="")
    url: Mapped[str] = mapped_column(String(300), default="/")
    tag: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    urgent: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notifications_user_id", "user_id", "id"),)


class PushSubscription(db.Model):
    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryStatus(StrEnum):
    """pending -> sending -> sent | gone | failed | muted; a `sending` that outlives its lease is picked up again."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    GONE = "gone"
    FAILED = "failed"
    MUTED = "muted"
    STOPPED = "stopped"  # a ladder's rung not sent: the notification was opened or its task taken meanwhile


class PushDelivery(db.Model):
    """The outbox: one row per notification and device, written with the change that caused it."""

    __tablename__ = "push_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("push_subscriptions.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_push_deliveries_status_next", "status", "next_attempt_at"),)


class ChannelDelivery(db.Model):
    """The outbox of the channels beyond Web Push (DingTalk, WeCom, Feishu, SMS): one row per notification and channel.

    A sibling of `push_deliveries` rather than more rows in it: a push goes to a device (a subscription that can be
    gone), these go to the person's identity on a vendor; the unique pair is what makes "this notification on this
    channel" happen once however often a ladder's timer fires. Same statuses, lease and backoff as the push outbox.
    """

    __tablename__ = "channel_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_channel_deliveries_notification_channel"),
        Index("ix_channel_deliveries_status_next", "status", "next_attempt_at"),
    )


class ChannelAttempt(db.Model):
    """Every try on a channel with its result and the vendor's error code (shown on the notification, §14);
    `notification_id` is empty for a "send me a test"."""

    __tablename__ = "channel_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    result: Mapped[str] = mapped_column(String(8))  # sent | retry | gone | failed | muted
    error_code: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (Index("ix_channel_attempts_user_channel", "user_id", "channel", "id"),)


class ChannelState(db.Model):
    """A person's standing on a channel: the identity the vendor said it does not know (broken until it changes)
    and their last delivery there. Kept apart from `users` so the vendors' answers never touch the person's row."""

    __tablename__ = "channel_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    broken_identity: Mapped[str | None] = mapped_column(String(128))
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broken_code: Mapped[str | None] = mapped_column(String(40))
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
