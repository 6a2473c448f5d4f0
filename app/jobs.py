"""One pass of every background job; `flask worker` and tests call it, Lambda handlers call the parts."""
from datetime import datetime, timedelta

from app.auth.service import prune_login_throttles
from app.aws import put_events
from app.common import idempotency
from app.escalation.sweep import fire_due_timers
from app.metrics.catch_up import catch_up_facts
from app.notify import providers
from app.notify.dispatch import dispatch_pending
from app.notify.reach import dispatch_channels
from app.quality.holds import deliver_sales_events
from app.quality.recall import run_pending_recalls
from app.workorders.dispatch import prune_sets
from app.workorders.handback import hand_back_absent
from app.workorders.handout import hand_out_waiting
from app.workorders.shiftend import hand_over_ended_shifts


def _sales_channel(config):
    """EventBridge when a bus is configured (AWS); None keeps the local logged outbox."""
    if not config.get("EVENT_BUS_NAME"):
        return None

    def publish(entries: list[dict]) -> None:
        failed = put_events(config, [{"type": e["detail_type"], "detail": {**e["detail"], "event_id": e["id"]}} for e in entries])
        if failed:  # leave the batch pending: consumers dedupe on event_id, so a resend is harmless
            raise RuntimeError(f"EventBridge refused {len(failed)} of {len(entries)} events")

    return publish


def run_all_once(*, now: datetime, config, deadline: float | None = None) -> dict:
    """Run each job once and say how much each did; the timer sweep starts no batch after `deadline` (monotonic)."""
    # Recalls first: the offers they write go out with this pass's pushes.
    recalls = run_pending_recalls(now=now, tz=config["BUSINESS_TIMEZONE"], batch_size=config["RECALL_BATCH_SIZE"])
    # Shifts that ended give back what their people had not started; then offers that waited for someone to have
    # room (those too) go out before the pushes, which then tell their new holders.
    handed_over = hand_over_ended_shifts(now=now)
    handed_out = hand_out_waiting(now=now)
    timers = fire_due_timers(now=now, deadline=deadline)
    pushes = dispatch_pending(now=now, provider=providers.from_config(config), max_attempts=config["PUSH_MAX_ATTEMPTS"])
    # DingTalk, WeCom, Feishu and SMS, when enabled: their own outbox, so a vendor that is down stalls no push.
    channels = dispatch_channels(now=now, config=config, max_attempts=config.get("CHANNEL_MAX_ATTEMPTS", 8)) \
        if any(c != "webpush" for c in config.get("CHANNELS") or ()) else {"sent": 0, "failed": 0}
    summary = {
        "pushes_sent": pushes["sent"],
        "pushes_failed": pushes["failed"],
        "channel_messages_sent": channels["sent"],
        "channel_messages_failed": channels["failed"],
        "timers_fired": timers["fired"],
        "timers_stale": timers["stale"],
        "timers_left_for_next_sweep": timers["more"],
        "recall_work_orders_created": recalls["created"],
        "recall_fanouts_failed": recalls["failed"],
        "offers_handed_out": handed_out,
        "tasks_handed_back_shift_end": handed_over,
        "sales_events_delivered": deliver_sales_events(now=now, publish=_sales_channel(config)),
        "idempotency_pruned": idempotency.prune_expired(now=now),
        "login_throttles_pruned": prune_login_throttles(now=now, window=config["LOGIN_FAILURE_WINDOW_SECONDS"]),
        "dispatch_sets_pruned": prune_sets(),
        "tasks_handed_back_off_duty": hand_back_absent(now=now, after=timedelta(minutes=config.get("OFF_DUTY_HANDBACK_MINUTES", 60))),
    }
    # Last: the metrics read model feeds dashboards, which can wait behind work people are waiting for. A bounded
    # batch per pass; a backlog (a new install, a change of time zone) is worked off over the next passes.
    facts = catch_up_facts(now=now, tz=config["BUSINESS_TIMEZONE"],
                           batch_size=config["METRICS_FACTS_BATCH_SIZE"])
    summary["metric_facts_built"] = facts["built"]
    summary["metric_facts_left_for_next_pass"] = facts["more"]
    return summary
