"""Delivering the push outbox after commit: leases, retries with backoff and jitter, pruning dead devices."""
import logging
import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update

from app.extensions import db
from app.notify.messages import buttons
from app.notify.models import DeliveryStatus, Notification, PushDelivery, PushSubscription
from app.notify.webpush import PushMessage
from app.org.models import User

log = logging.getLogger("baton.push")

LEASE = timedelta(seconds=120)
BASE_BACKOFF = 5.0
MAX_BACKOFF = 3600.0

URGENCY = {"P1": "high", "P2": "normal", "P3": "normal", "P4": "low"}
TTL = {"P1": 24 * 3600, "P2": 24 * 3600, "P3": 12 * 3600, "P4": 3600}


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(attempts - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def in_quiet_hours(quiet: dict | None, now: datetime) -> bool:
    """Whether `now` falls in a user's quiet hours (which may wrap past midnight)."""
    if not quiet or not quiet.get("start") or not quiet.get("end"):
        return False
    try:
        local = now.astimezone(ZoneInfo(quiet.get("timezone") or "Asia/Shanghai")).time()
    except Exception:  # an unknown zone name: fall back to UTC rather than drop the rule
        local = now.time()
    start, end = (time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
    if start == end:
        return False
    return start <= local < end if start < end else (local >= start or local < end)


def payload_for(note: Notification, locale: str) -> dict:
    """What the phone gets: small, with a deep link and a tag so updates to one task replace each other."""
    payload = {"title": note.title, "body": note.body, "url": note.url, "tag": note.tag or f"n-{note.id}", "kind": note.kind,
               "notification_id": note.id}
    if note.data.get("task_id"):
        payload["task_id"] = note.data["task_id"]
    actions = buttons(note.data, locale)
    if actions:
        payload["actions"] = actions
    if note.kind in ("task.taken",):
        payload["renotify"] = False
    return payload


def lease_due(outbox, now: datetime, batch_size: int) -> list[int]:
    """Ids of up to `batch_size` rows of an outbox (push deliveries, channel deliveries) due at `now`, leased to this
    dispatcher and committed: rows another dispatcher holds are skipped, not waited for."""
    ids = list(db.session.scalars(
        select(outbox.id)
        .where(outbox.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]), outbox.next_attempt_at <= now)
        .order_by(outbox.next_attempt_at, outbox.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ))
    if ids:
        # The lease: a dispatcher that dies now leaves these to be picked up again once it runs out.
        db.session.execute(update(outbox).where(outbox.id.in_(ids))
                           .values(status=DeliveryStatus.SENDING, next_attempt_at=now + LEASE, attempts=outbox.attempts + 1)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return ids


def _forget_subscriptions(ids: set, *, status: str, reason: str, handled) -> None:
    """Delete subscriptions and close what is still queued for them (except the deliveries just handled)."""
    if not ids:
        return
    db.session.execute(update(PushDelivery).where(PushDelivery.subscription_id.in_(ids),
                                                  PushDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                                                  PushDelivery.id.not_in(list(handled)))
                       .values(status=status, last_error=reason).execution_options(synchronize_session=False))
    db.session.execute(update(PushDelivery).where(PushDelivery.subscription_id.in_(ids))
                       .values(subscription_id=None).execution_options(synchronize_session=False))
    db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


def dispatch_pending(*, now: datetime, provider, max_attempts: int = 8, batch_size: int = 500, max_batches: int = 20,
                     rng: random.Random | None = None) -> dict:
    """Deliver due outbox rows; every outcome is recorded so nothing is lost and nothing acknowledged is resent."""
    counts = {"sent": 0, "retry": 0, "gone": 0, "failed": 0, "muted": 0}
    if provider is None:
        return counts
    for _ in range(max_batches):
        ids = lease_due(PushDelivery, now, batch_size)
        if not ids:
            break
        rows = db.session.execute(
            select(PushDelivery, Notification, PushSubscription, User)
            .join(Notification, Notification.id == PushDelivery.notification_id)
            .outerjoin(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .join(User, User.id == Notification.user_id)
            .where(PushDelivery.id.in_(ids))
        ).all()
        messages, by_ref = [], {}
        for delivery, note, subscription, user in rows:
            if subscription is None:
                delivery.status, delivery.last_error = DeliveryStatus.GONE, "subscription removed"
                counts["gone"] += 1
                continue
            if not note.urgent and in_quiet_hours(user.quiet_hours, now):
                delivery.status = DeliveryStatus.MUTED
                counts["muted"] += 1
                continue
            by_ref[delivery.id] = delivery
            messages.append(PushMessage(
                ref=delivery.id,
                subscription={"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
                payload=payload_for(note, user.locale),
                ttl=TTL.get(note.priority, 12 * 3600),
                urgency="high" if note.urgent else URGENCY.get(note.priority, "normal"),
                topic=note.tag,
            ))
        db.session.commit()  # nothing is held locked while the network is slow
        results = provider.send_many(messages) if messages else []
        gone_subscriptions, refused_subscriptions = set(), set()
        for result in results:
            delivery = db.session.get(PushDelivery, result.ref)
            if result.outcome == "sent":
                delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, None
                db.session.execute(update(PushSubscription).where(PushSubscription.id == delivery.subscription_id)
                                   .values(last_success_at=now).execution_options(synchronize_session=False))
            elif result.outcome == "gone":
                delivery.status, delivery.last_error = DeliveryStatus.GONE, f"HTTP {result.http_status}"
                gone_subscriptions.add(delivery.subscription_id)
            elif result.outcome == "refused":
                # An endpoint we may not send to (SSRF rules): no retry, and the device is forgotten.
                delivery.status, delivery.last_error = DeliveryStatus.FAILED, result.error or "endpoint refused"
                refused_subscriptions.add(delivery.subscription_id)
                log.warning("push delivery %s refused: %s", delivery.id, delivery.last_error)
            elif result.outcome == "retry" and delivery.attempts < max_attempts:
                wait = result.retry_after if result.retry_after is not None else backoff(delivery.attempts, rng)
                delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + timedelta(seconds=wait)
                delivery.last_error = result.error or f"HTTP {result.http_status}"
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.last_error = result.error or f"HTTP {result.http_status}"
                log.warning("push delivery %s failed for good: %s", delivery.id, delivery.last_error)
            counts[delivery.status if delivery.status in counts else "retry"] += 1
        # Devices the push service says are gone, and endpoints we may not send to, are forgotten for good.
        _forget_subscriptions(gone_subscriptions, status=DeliveryStatus.GONE, reason="subscription gone", handled=by_ref)
        _forget_subscriptions(refused_subscriptions, status=DeliveryStatus.FAILED, reason="endpoint refused", handled=by_ref)
        db.session.commit()
        if len(ids) < batch_size:
            break
    return counts
