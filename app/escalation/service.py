"""Arming and disarming the durable timers of a task (the sweep that fires them lives in sweep.py)."""
from datetime import datetime, timedelta

from sqlalchemy import update

from app.escalation.models import Timer, TimerKind
from app.extensions import db
from app.flows.graph import parse_duration

DEFAULT_MAX_LEVEL = 3


def escalation_settings(step: dict) -> dict:
    """The step's escalation with defaults: interval = the SLA (at least 5 minutes), 3 levels, no reassignment."""
    esc = step.get("escalation") or {}
    sla = parse_duration(step["sla"]) if step.get("sla") else None
    interval = parse_duration(esc["interval"]) if esc.get("interval") else max(sla or timedelta(hours=1), timedelta(minutes=5))
    return {
        "interval": interval,
        "max_level": esc.get("max_level") or DEFAULT_MAX_LEVEL,
        "reassign_at_level": esc.get("reassign_at_level"),
    }


def arm_task_timers(*, task, step: dict, now: datetime) -> list[Timer]:
    """Store the reminder and every escalation level of a task with an SLA (same transaction as the task)."""
    if not task.due_at:
        return []
    settings = escalation_settings(step)
    timers = []
    if step.get("remind_before"):
        remind_at = task.due_at - parse_duration(step["remind_before"])
        if remind_at > now:
            timers.append(Timer(task_id=task.id, kind=TimerKind.REMIND, level=0, fire_at=remind_at, created_at=now))
    for level in range(1, settings["max_level"] + 1):
        fire_at = task.due_at + settings["interval"] * (level - 1)
        timers.append(Timer(task_id=task.id, kind=TimerKind.ESCALATE, level=level, fire_at=fire_at, created_at=now))
    db.session.add_all(timers)
    return timers


def disarm_task_timers(*, task_ids: list[int]) -> None:
    """Make the pending timers of finished tasks stale."""
    if task_ids:
        db.session.execute(
            update(Timer)
            .where(Timer.task_id.in_(task_ids), Timer.status == "pending")
            .values(status="stale")
            .execution_options(synchronize_session=False)
        )
