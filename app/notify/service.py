"""Writing notifications: in-app rows plus push outbox rows, in the caller's transaction."""
import functools
from datetime import datetime, timezone, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from sqlalchemy import bindparam, func, select, text, update

from app.common.bulk import among_ids, dialect, insert_rows
from app.common.models import JSONType, UTCDateTime
from app.errors import Invalid, NotFound
from app.extensions import db
from app.notify.endpoints import EndpointPolicy, EndpointRefused, EndpointUnresolvable
from app.notify import ladder
from app.notify.messages import addressed, render
from app.notify.models import DeliveryStatus, Notification, PushDelivery, PushSubscription
from app.org.models import User
from app.org.service import reader_zone

# Kinds that break through quiet hours whatever the priority.
ALWAYS_URGENT = {"task.escalated", "work_order.escalated", "andon.pulled"}


def notify(*, user_ids, kind: str, params: dict, about: dict, priority: str, now: datetime) -> int:
    """Queue one notification per user (in-app and push); delivered after commit by the dispatcher.

    `kind` and `params` say what it says and `about` what it concerns (ids: app.notify.messages.addressed);
    the words, the link and the tag are the catalogue's.
    """
    return notify_many([{"user_ids": user_ids, "kind": kind, "params": params, "about": about, "priority": priority}], now)


class Reader(NamedTuple):
    """What writing someone a notification needs to know of them, when the caller has read it already."""

    user_id: int
    locale: str
    quiet_hours: dict | None
    devices: list[int]  # their push subscriptions


def notify_many(requests: list[dict], now: datetime, *, readers: list[Reader] | None = None) -> int:
    """`notify` for many messages at once, in a few set-based statements; answers how many notifications were queued.

    Each request is {user_ids, kind, params, about, priority}; inactive people are skipped. A caller that has read
    the (active) recipients already, in a statement of its own, passes them as `readers`: unless a ladder may climb
    (it needs their channel identities), they are not read again.
    """
    wanted = [(r, sorted({u for u in r["user_ids"] if u})) for r in requests]
    everyone = {u for _, ids in wanted for u in ids}
    if not everyone:
        return 0
    languages: dict[int, tuple[str, str]] = {}  # language and time zone
    devices: dict[int, list[int]] = {}
    config = current_app.config
    business_zone = config.get("BUSINESS_TIMEZONE", "Asia/Shanghai")
    climbing = bool(ladder.ladder_of(config)) and any(r["kind"] in ladder.LADDER_KINDS for r, _ in wanted)
    identities = (User.phone, User.dingtalk_userid, User.wecom_userid, User.feishu_user_id) if climbing else ()
    people: dict[int, object] = {}  # their channel identities, when a ladder may climb
    if readers is not None and not climbing:
        for reader in readers:
            languages[reader.user_id] = (reader.locale, reader_zone(reader.quiet_hours, business_zone))
            if reader.devices:
                devices[reader.user_id] = list(reader.devices)
    else:
        for user_id, locale, quiet_hours, subscription_id, *ids in db.session.execute(
            select(User.id, User.locale, User.quiet_hours, PushSubscription.id, *identities)
            .outerjoin(PushSubscription, PushSubscription.user_id == User.id)
            .where(among_ids(User.id, everyone), User.active.is_(True))
        ):
            languages[user_id] = (locale, reader_zone(quiet_hours, business_zone))
            if subscription_id is not None:
                devices.setdefault(user_id, []).append(subscription_id)
            if climbing and user_id not in people:
                people[user_id] = _Identities(*ids)
    rows = []
    for r, ids in wanted:
        texts: dict[tuple[str, str], tuple[str, str]] = {}  # a message reads the same for everyone alike
        urgent = r["priority"] == "P1" or r["kind"] in ALWAYS_URGENT
        url, tag, data = addressed(r["kind"], r["about"])
        for user_id in ids:
            reader = languages.get(user_id)
            if reader is None:
                continue
            if reader not in texts:
                title, body = render(r["kind"], reader[0], r["params"], zone=_zone(reader[1]), now=now)
                texts[reader] = (title[:200], body[:1000])
            title, body = texts[reader]
            rows.append({"user_id": user_id, "kind": r["kind"], "title": title, "body": body, "url": url,
                         "tag": tag, "priority": r["priority"], "urgent": urgent, "data": data})
    if not rows:
        return 0
    if not climbing and len(requests) == 1 and dialect() == "postgresql":
        # One message (the common case): the notifications and their push outbox in one prebuilt statement.
        sent = db.session.execute(_QUEUE_ONE, {
            "user_ids": [row["user_id"] for row in rows], "titles": [row["title"] for row in rows],
            "bodies": [row["body"] for row in rows], **{k: rows[0][k] for k in _ALIKE}, "now": now,
        }).first()
        if sent is not None:
            db.session.info["baton.push_pending"] = True  # nudges the dispatcher after commit (see nudge.py)
        return len(rows)
    if not climbing and not any(row["user_id"] in devices for row in rows):
        insert_rows(Notification.__table__, rows, created_at=now, read_at=None)
        return len(rows)
    returning = (Notification.id, Notification.user_id, Notification.kind, Notification.priority) if climbing else \
        (Notification.id, Notification.user_id)
    notes = [tuple(n) for n in insert_rows(Notification.__table__, rows, returning=returning, created_at=now, read_at=None)]
    if climbing:  # the ladder's first rungs: durable timers in the channel outbox (app/notify/ladder.py)
        if ladder.start(config=config, notes=notes, users=people, has_devices=set(devices), now=now):
            db.session.info["baton.push_pending"] = True  # someone without a device is sent the first other channel now
        notes = [n[:2] for n in notes]
        if not any(row["user_id"] in devices for row in rows):
            return len(rows)
    db.session.info["baton.push_pending"] = True  # nudges the dispatcher after commit (see nudge.py)
    insert_rows(PushDelivery.__table__, [
        {"notification_id": note_id, "subscription_id": subscription_id}
        for note_id, user_id in sorted(notes) for subscription_id in devices.get(user_id, [])
    ], status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, last_error=None, created_at=now, sent_at=None)
    return len(rows)


# What every notification of one message has alike; the words differ by the reader's language and zone.
_ALIKE = ("kind", "url", "tag", "priority", "urgent", "data")
_QUEUE_ONE = text("""
    WITH noted AS (
        INSERT INTO notifications (user_id, kind, title, body, url, tag, priority, urgent, data, created_at, read_at)
        SELECT r.user_id, :kind, r.title, r.body, :url, :tag, :priority, :urgent, :data, :now, NULL
        FROM unnest(CAST(:user_ids AS integer[]), CAST(:titles AS text[]), CAST(:bodies AS text[])) AS r(user_id, title, body)
        RETURNING id, user_id
    )
    INSERT INTO push_deliveries (notification_id, subscription_id, status, attempts, next_attempt_at, last_error,
                                 created_at, sent_at)
    SELECT noted.id, push_subscriptions.id, :pending, 0, :now, NULL, :now, NULL
    FROM noted JOIN push_subscriptions ON push_subscriptions.user_id = noted.user_id
    RETURNING 1
""").bindparams(bindparam("data", type_=JSONType), bindparam("now", type_=UTCDateTime()),
                bindparam("pending", value=DeliveryStatus.PENDING.value))


class _Identities:
    """A person's addresses on the channels, as the ladder reads them (named like the columns of users)."""

    __slots__ = ("phone", "dingtalk_userid", "wecom_userid", "feishu_user_id")

    def __init__(self, phone, dingtalk_userid, wecom_userid, feishu_user_id):
        self.phone, self.dingtalk_userid, self.wecom_userid, self.feishu_user_id = phone, dingtalk_userid, wecom_userid, feishu_user_id


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # stored before zones were checked: the time is still given, in UTC
        return timezone.utc


def save_subscription(*, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str | None, now: datetime,
                      endpoint_policy: EndpointPolicy) -> PushSubscription:
    """Register a browser's push subscription (one per device; an endpoint that changes hands moves with it)."""
    try:
        endpoint_policy.destination(endpoint)
    except EndpointRefused as exc:
        raise Invalid("This push endpoint is not allowed.", code="push_endpoint_not_allowed", details={"endpoint": [exc.reason]})
    except EndpointUnresolvable:
        pass  # nothing can be reached there now; checked again, with a fresh resolution, before every send
    subscription = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if subscription is None:
        subscription = PushSubscription(endpoint=endpoint, created_at=now)
        db.session.add(subscription)
    subscription.user_id = user.id
    subscription.p256dh = p256dh
    subscription.auth = auth
    subscription.user_agent = (user_agent or "")[:300]
    db.session.commit()
    return subscription


def delete_subscription(*, user: User, endpoint: str) -> None:
    """Forget a device (the browser unsubscribed or the user turned pushes off)."""
    subscription = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint,
                                                                    PushSubscription.user_id == user.id))
    if subscription is None:
        raise NotFound("No such subscription.")
    db.session.execute(update(PushDelivery).where(PushDelivery.subscription_id == subscription.id, PushDelivery.status == DeliveryStatus.PENDING)
                       .values(status=DeliveryStatus.GONE, last_error="unsubscribed").execution_options(synchronize_session=False))
    db.session.execute(update(PushDelivery).where(PushDelivery.subscription_id == subscription.id)
                       .values(subscription_id=None).execution_options(synchronize_session=False))
    db.session.delete(subscription)
    db.session.commit()


def list_notifications(*, user: User, unread: bool | None):
    """The user's notifications, newest first, as a select for pagination."""
    stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt


def mark_read(*, user: User, ids: list[int] | None, read_all: bool, now: datetime) -> int:
    """Mark some or all of the user's notifications read; answers how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if not read_all:
        stmt = stmt.where(Notification.id.in_(ids or []))
    result = db.session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def change_cursor(*, user_id: int) -> int:
    """Where the person's news stands: the newest notification told to them (0 before the first).

    Everything that changes someone's inbox or a task they are looking at tells them (an offer made, taken by a
    colleague, transferred, returned, escalated), in the same transaction as the change; so a phone that reads
    this number every few seconds (`GET /changes`, answered 304 while it stands still) knows when to look again,
    on a server or on Lambda behind API Gateway alike. One index-only read (ix_notifications_user_id).
    """
    return db.session.scalar(select(func.max(Notification.id)).where(Notification.user_id == user_id)) or 0


def unread_count(*, user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0
