"""Reaching people beyond Web Push (docs/design.md §14): their channels and each one's state, a test on any of
them, and the channel outbox (delivered like the push outbox: leases, retries with backoff, every attempt kept)."""
import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.errors import Invalid
from app.extensions import db
from app.notify import channels as registry
from app.notify import ladder, links
from app.notify import providers
from app.notify.channels.base import ChannelMessage, ChannelResult
from app.notify.dispatch import backoff, in_quiet_hours, lease_due
from app.notify.messages import SETTINGS_URL, buttons, render
from app.notify.models import (
    ChannelAttempt,
    ChannelDelivery,
    ChannelState,
    DeliveryStatus,
    Notification,
    PushDelivery,
    PushSubscription,
)
from app.notify.webpush import PushMessage
from app.org.models import Department, User
from app.org.service import subtree_ids

log = logging.getLogger("baton.channels")

def identity_of(user: User, channel: str) -> str | None:
    """The person's address on `channel` (None for Web Push, whose addresses are the person's devices)."""
    column = registry.IDENTITY.get(channel)
    value = getattr(user, column) if column else None
    return (value or "").strip() or None


def my_channels(*, user: User, config) -> list[dict]:
    """The channels this server has set up, each with the person's identity there, whether it works as far as Baton
    knows, and the last attempt; a channel the person has no identity on is listed with `identity` null."""
    states = {s.channel: s for s in db.session.scalars(select(ChannelState).where(ChannelState.user_id == user.id))}
    last = {}
    for attempt in db.session.scalars(select(ChannelAttempt).where(ChannelAttempt.user_id == user.id)
                                      .order_by(ChannelAttempt.id.desc()).limit(200)):
        last.setdefault(attempt.channel, attempt)
    devices, pushed_at = db.session.execute(select(func.count(), func.max(PushSubscription.last_success_at))
                                            .where(PushSubscription.user_id == user.id)).one()
    answer = []
    for channel in registry.enabled(config):
        if not registry.configured(config, channel):
            continue
        identity = identity_of(user, channel) if channel != "webpush" else (f"{devices}" if devices else None)
        state = states.get(channel)
        broken = bool(state and identity and state.broken_identity == identity)
        attempt = last.get(channel)
        sent_at = pushed_at if channel == "webpush" else (state.last_sent_at if state else None)
        answer.append({
            "channel": channel, "identity": identity, "devices": devices if channel == "webpush" else None,
            "state": "none" if identity is None else ("broken" if broken else ("ok" if sent_at else "untried")),
            "broken_code": state.broken_code if broken else None,
            "last_sent_at": sent_at,
            "last_attempt": {"at": attempt.at, "result": attempt.result, "error": attempt.error_code} if attempt else None,
        })
    return answer


def send_test(*, user: User, channel: str, config, now: datetime) -> dict:
    """Send the person a test message on `channel` now and answer how it went (recorded like any attempt)."""
    if not registry.configured(config, channel):
        raise Invalid("This channel is not set up on this server.", code="channel_not_configured",
                      details={"channel": ["not set up on this server"]})
    title, body = render("channel.test", user.locale, {"name": user.name, "channel": channel})
    if channel == "webpush":
        result = _test_push(user=user, config=config, title=title, body=body)
        identity = None
    else:
        identity = identity_of(user, channel)
        if identity is None:
            raise Invalid("You have no identity on this channel yet; an admin can add it.", code="channel_no_identity",
                          details={"channel": ["no identity on this channel"]})
        message = ChannelMessage(ref="test", to=identity, title=title, body=body, url=SETTINGS_URL,
                                 actions=buttons({"actions": ["claim"]}, user.locale)[1:])
        result = registry.provider(config, channel).send_many([message])[0]
    _record(user_id=user.id, notification_id=None, channel=channel, identity=identity, result=result, now=now)
    db.session.commit()
    return {"channel": channel, "result": result.outcome, "error": result.code, "detail": result.error, "at": now}


def _test_push(*, user: User, config, title: str, body: str) -> ChannelResult:
    provider = providers.from_config(config)
    subscriptions = list(db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == user.id)))
    if not subscriptions:
        raise Invalid("You have no identity on this channel yet; an admin can add it.", code="channel_no_identity",
                      details={"channel": ["no device has allowed notifications"]})
    payload = {"title": title, "body": body, "url": SETTINGS_URL, "tag": "channel-test", "kind": "channel.test"}
    results = provider.send_many([PushMessage(ref=s.id, payload=payload, ttl=600, urgency="high", subscription={
        "endpoint": s.endpoint, "keys": {"p256dh": s.p256dh, "auth": s.auth}}) for s in subscriptions])
    sent = [r for r in results if r.outcome == "sent"]
    first = sent[0] if sent else results[0]
    code = None if first.outcome == "sent" else (str(first.http_status) if first.http_status else first.outcome)
    return ChannelResult("test", first.outcome if first.outcome in ("sent", "gone", "retry") else "failed", code=code,
                         error=first.error)


def _record(*, user_id: int, notification_id: int | None, channel: str, identity: str | None, result: ChannelResult,
            now: datetime) -> None:
    """Keep the attempt; a success or a vendor that does not know the identity updates the person's channel state."""
    db.session.add(ChannelAttempt(user_id=user_id, notification_id=notification_id, channel=channel, at=now,
                                  result=result.outcome, error_code=(result.code or None) and str(result.code)[:40],
                                  error=(result.error or None) and result.error[:300]))
    if result.outcome not in ("sent", "gone") or channel == "webpush":
        return
    state = db.session.get(ChannelState, (user_id, channel))
    if state is None:
        state = ChannelState(user_id=user_id, channel=channel)
        db.session.add(state)
    if result.outcome == "sent":
        state.last_sent_at = now
        if state.broken_identity == identity:
            state.broken_identity = state.broken_at = state.broken_code = None
    else:  # broken until the identity changes (an admin, the import or the person sets another) or works again
        state.broken_identity, state.broken_at, state.broken_code = identity, now, (result.code or "gone")[:40]


def deliveries_of(notification_ids: list[int]) -> dict[int, list[dict]]:
    """How each notification went out (`deliveries` of GET /notifications): its pushes, one per device, and every
    attempt on the other channels, in time order; two set-based reads for a page."""
    found: dict[int, list[dict]] = {n: [] for n in notification_ids}
    if not notification_ids:
        return found
    for note_id, status, sent_at, created_at, error in db.session.execute(
            select(PushDelivery.notification_id, PushDelivery.status, PushDelivery.sent_at, PushDelivery.created_at,
                   PushDelivery.last_error).where(PushDelivery.notification_id.in_(notification_ids)).order_by(PushDelivery.id)):
        found[note_id].append({"channel": "webpush", "at": sent_at or created_at,
                               "result": "pending" if status == DeliveryStatus.SENDING else status, "error": (error or None) and error[:40]})
    for note_id, channel, at, result, code in db.session.execute(
            select(ChannelAttempt.notification_id, ChannelAttempt.channel, ChannelAttempt.at, ChannelAttempt.result,
                   ChannelAttempt.error_code).where(ChannelAttempt.notification_id.in_(notification_ids)).order_by(ChannelAttempt.id)):
        found[note_id].append({"channel": channel, "at": at, "result": result, "error": code})
    for items in found.values():
        items.sort(key=lambda d: d["at"])
    return found


def queue_channel(*, notification_ids: list[int], channel: str, now: datetime) -> int:
    """Put notifications on `channel`'s outbox, once per notification and channel (a second call adds nothing)."""
    have = set(db.session.scalars(select(ChannelDelivery.notification_id).where(
        ChannelDelivery.notification_id.in_(notification_ids), ChannelDelivery.channel == channel)))
    rows = [ChannelDelivery(notification_id=n, channel=channel, status=DeliveryStatus.PENDING, attempts=0,
                            next_attempt_at=now, created_at=now) for n in sorted(set(notification_ids) - have)]
    db.session.add_all(rows)
    return len(rows)


def dispatch_channels(*, now: datetime, config, max_attempts: int = 8, batch_size: int = 200, max_batches: int = 10,
                      rng: random.Random | None = None) -> dict:
    """Deliver due rows of the channel outbox: each attempt kept, a vendor down retried with backoff, an identity
    the vendor does not know marked broken (the delivery ends `gone`, so a ladder goes on down)."""
    counts = {"sent": 0, "retry": 0, "gone": 0, "failed": 0, "muted": 0, "stopped": 0}
    for _ in range(max_batches):
        ids = lease_due(ChannelDelivery, now, batch_size)
        if not ids:
            break
        rows = db.session.execute(
            select(ChannelDelivery, Notification, User)
            .join(Notification, Notification.id == ChannelDelivery.notification_id)
            .join(User, User.id == Notification.user_id)
            .where(ChannelDelivery.id.in_(ids))).all()
        by_channel: dict[str, list] = {}
        for delivery, note, user in rows:
            if note.kind in ladder.LADDER_KINDS and not ladder.still_waiting(note):
                delivery.status, delivery.last_error = DeliveryStatus.STOPPED, "opened or acted on"
                counts["stopped"] += 1
                continue
            identity = identity_of(user, delivery.channel)
            provider = registry.provider(config, delivery.channel)
            state = db.session.get(ChannelState, (user.id, delivery.channel))
            if identity is None or provider is None or (state is not None and state.broken_identity == identity):
                delivery.status, delivery.last_error = DeliveryStatus.GONE, "no working identity" if provider else "channel not set up"
                counts["gone"] += 1
                ladder.climb(config=config, note=note, user=user, channel=delivery.channel, outcome="gone", now=now)
                continue
            if not note.urgent and in_quiet_hours(user.quiet_hours, now):
                delivery.status = DeliveryStatus.MUTED
                counts["muted"] += 1
                continue
            actions = buttons(note.data, user.locale)
            by_channel.setdefault(delivery.channel, []).append((delivery, note, user, identity, ChannelMessage(
                ref=delivery.id, to=identity, title=note.title, body=note.body, url=note.url, actions=actions,
                links=links.card_links(config=config, notification_id=note.id, user_id=user.id, now=now,
                                       actions=[a["action"] for a in actions] or ["open"]))))
        db.session.commit()  # nothing is held locked while a vendor is slow
        for channel, batch in by_channel.items():
            results = {r.ref: r for r in registry.provider(config, channel).send_many([m for *_, m in batch])}
            for delivery, note, user, identity, message in batch:
                result = results[message.ref]
                delivery = db.session.get(ChannelDelivery, delivery.id)
                _record(user_id=user.id, notification_id=delivery.notification_id, channel=channel, identity=identity,
                        result=result, now=now)
                delivery.error_code = result.code
                if result.outcome == "sent":
                    delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, None
                elif result.outcome == "gone":
                    delivery.status, delivery.last_error = DeliveryStatus.GONE, result.error or "identity unknown to the vendor"
                elif result.outcome == "retry" and delivery.attempts < max_attempts:
                    wait = result.retry_after if result.retry_after is not None else backoff(delivery.attempts, rng)
                    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + timedelta(seconds=wait)
                    delivery.last_error = result.error
                else:
                    delivery.status, delivery.last_error = DeliveryStatus.FAILED, result.error
                    log.warning("%s delivery %s failed for good: %s %s", channel, delivery.id, result.code, result.error)
                counts[delivery.status if delivery.status in counts else "retry"] += 1
                if delivery.status != DeliveryStatus.PENDING:  # done with this rung: the next one, if the ladder climbs
                    ladder.climb(config=config, note=db.session.get(Notification, note.id), user=user, channel=channel,
                                 outcome=delivery.status, now=now)
        db.session.commit()
        if len(ids) < batch_size:
            break
    return counts


def unreachable(*, user: User, days: int, now: datetime) -> list[dict]:
    """People (of the departments a lead leads; everyone for an admin) whom nothing reached in `days` days: no push
    accepted by a device of theirs and no message delivered on another channel. Two set-based reads and one per
    table of identities."""
    people = select(User).where(User.active.is_(True)).order_by(User.name, User.id)
    if not user.has_role("admin"):
        if user.department_id is None:
            return []
        people = people.where(User.department_id.in_(subtree_ids(user.department_id)))
    since = now - timedelta(days=days)
    everyone = list(db.session.scalars(people))
    ids = [p.id for p in everyone]
    last: dict[int, datetime] = {}
    broken: dict[int, list[str]] = {}
    devices: dict[int, int] = {}
    for user_id, count, at in db.session.execute(
            select(PushSubscription.user_id, func.count(), func.max(PushSubscription.last_success_at))
            .where(PushSubscription.user_id.in_(ids)).group_by(PushSubscription.user_id)):
        devices[user_id] = count
        if at is not None:
            last[user_id] = at
    for state in db.session.scalars(select(ChannelState).where(ChannelState.user_id.in_(ids))):
        if state.last_sent_at is not None and (state.user_id not in last or state.last_sent_at > last[state.user_id]):
            last[state.user_id] = state.last_sent_at
        if state.broken_identity:
            broken.setdefault(state.user_id, []).append(state.channel)
    found = [p for p in everyone if last.get(p.id) is None or last[p.id] < since]
    departments = dict(db.session.execute(select(Department.id, Department.name).where(
        Department.id.in_({p.department_id for p in found if p.department_id is not None}))).all()) if found else {}
    return [{"id": p.id, "name": p.name, "login": p.login, "department_id": p.department_id,
             "department_name": departments.get(p.department_id), "last_delivered_at": last.get(p.id),
             "devices": devices.get(p.id, 0), "channels": [c for c in registry.IDENTITY if identity_of(p, c)],
             "broken": sorted(broken.get(p.id, []))} for p in found]
