"""The step-up ladder (docs/design.md §14): a notification not opened nor acted on within its priority's step-up
time goes out on the next channel the person has.

The timer is durable and needs no sleeping worker: each rung is a row of the channel outbox (`channel_deliveries`)
due at its step-up time, claimed by the dispatcher with a lease and SKIP LOCKED like any delivery; the pair
(notification, channel) is unique, so a rung is written once and sent once however many sweeps run. Before a rung
goes out it checks that the notification is still unopened and its task still waits; a rung that went out writes
the next one (after the step-up if it was delivered, at once if the vendor did not know the person).
"""
from datetime import datetime, timedelta

from sqlalchemy import select

from app.common.bulk import insert_rows
from app.extensions import db
from app.notify import channels as registry
from app.notify.models import ChannelDelivery, ChannelState, DeliveryStatus, Notification

#: The notifications that climb: offers, assignments and escalations (and an andon's pull).
LADDER_KINDS = {"task.offered", "task.assigned", "task.transferred", "task.escalated", "work_order.escalated", "andon.pulled"}
LIVE_TASK = ("open", "claimed")


def ladder_of(config) -> list[str]:
    """The channels a notification climbs after Web Push (and the in-app list), in order."""
    return [c for c in registry.enabled(config) if c != "webpush" and registry.configured(config, c)]


def next_rung(*, config, user, after: str | None, broken: set[str]) -> str | None:
    """The next channel after `after` (None: the first) on which the person has a working identity."""
    ladder = ladder_of(config)
    start = ladder.index(after) + 1 if after in ladder else 0
    for channel in ladder[start:]:
        identity = (getattr(user, registry.IDENTITY[channel]) or "").strip()
        if identity and channel not in broken:
            return channel
    return None


def broken_channels(user_id: int, user) -> set[str]:
    """The person's channels whose current identity a vendor said it does not know."""
    return {s.channel for s in db.session.scalars(select(ChannelState).where(ChannelState.user_id == user_id))
            if s.broken_identity and s.broken_identity == (getattr(user, registry.IDENTITY.get(s.channel, ""), None) or "").strip()}


def start(*, config, notes: list[tuple[int, int, str, str]], users: dict, has_devices: set[int], now: datetime) -> int:
    """Write the first rung of each new notification that climbs: `notes` are (id, user id, kind, priority).

    Someone with a device gets the push now and the first other channel after the step-up; someone without one
    gets the first other channel at once. Answers how many rungs are due at once (the dispatcher is nudged)."""
    step_up = config.get("STEP_UP") or {}
    by_due: dict[datetime, list[dict]] = {}
    for note_id, user_id, kind, priority in notes:
        if kind not in LADDER_KINDS or step_up.get(priority) is None or user_id not in users:
            continue
        channel = next_rung(config=config, user=users[user_id], after=None, broken=set())
        if channel is None:
            continue
        due = now + timedelta(seconds=step_up[priority]) if user_id in has_devices else now
        by_due.setdefault(due, []).append({"notification_id": note_id, "channel": channel})
    for due, rows in by_due.items():  # a statement per due time however many offers (a recall's fan-out)
        insert_rows(ChannelDelivery.__table__, rows, status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=due,
                    last_error=None, error_code=None, created_at=now, sent_at=None)
    return len(by_due.get(now, []))


def still_waiting(note: Notification) -> bool:
    """Whether the notification is unopened and what it asks for is still to be done (nobody took the offer)."""
    if note.read_at is not None:
        return False
    task_id = (note.data or {}).get("task_id")
    if task_id is None:
        return True
    # The task's row read through the shared metadata: the work-order layer writes notifications, so notify does
    # not import it (packages import one way).
    tasks = db.metadata.tables["tasks"]
    row = db.session.execute(select(tasks.c.status, tasks.c.assignee_id).where(tasks.c.id == task_id)).first()
    if row is None or row.status not in LIVE_TASK:
        return False
    return not (note.kind == "task.offered" and row.assignee_id is not None)


def climb(*, config, note: Notification, user, channel: str, outcome: str, now: datetime) -> None:
    """After a rung's outcome, write the next rung (once: the pair is unique and only this rung's sender writes it)."""
    if note.kind not in LADDER_KINDS or outcome not in ("sent", "gone", "failed"):
        return
    seconds = (config.get("STEP_UP") or {}).get(note.priority)
    if seconds is None:
        return
    following = next_rung(config=config, user=user, after=channel, broken=broken_channels(user.id, user))
    if following is None or db.session.scalar(select(ChannelDelivery.id).where(
            ChannelDelivery.notification_id == note.id, ChannelDelivery.channel == following)):
        return
    due = now + timedelta(seconds=seconds) if outcome == "sent" else now
    db.session.add(ChannelDelivery(notification_id=note.id, channel=following, status=DeliveryStatus.PENDING, attempts=0,
                                   next_attempt_at=due, created_at=now))
