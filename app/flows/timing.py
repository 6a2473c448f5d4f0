"""When a step's task is due, reminded and escalated: pure rules over the step's settings.

The engine and the set-based writer both store what `due_at` and `timer_plan` answer (app/workorders/timers.py and
the bulk writer), and the sweep reads `escalation_settings` when a timer fires: one rule for every writer and reader.
"""
from datetime import datetime, timedelta
from enum import StrEnum

from app.flows.graph import later, parse_duration
from app.notify.messages import due_explanation


class TimerKind(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


DEFAULT_MAX_LEVEL = 3
MAX_LEVEL = 10  # what a template may name (flows.schemas.EscalationSchema)


def due_at(step: dict, now: datetime) -> datetime | None:
    """When a task of `step` opened at `now` is due: its SLA later (None without an SLA)."""
    return later(now, parse_duration(step["sla"])) if step.get("sla") else None


def escalation_settings(step: dict) -> dict:
    """The step's escalation with defaults: interval = the SLA (at least 5 minutes), 3 levels, no reassignment.

    Durations come through `parse_duration`, so a stored template with an overlong one still arms timers at most
    a year apart, and a level count beyond the schema's maximum arms MAX_LEVEL levels.
    """
    esc = step.get("escalation") or {}
    sla = parse_duration(step["sla"]) if step.get("sla") else None
    interval = parse_duration(esc["interval"]) if esc.get("interval") else max(sla or timedelta(hours=1), timedelta(minutes=5))
    return {
        "interval": interval,
        "max_level": min(esc.get("max_level") or DEFAULT_MAX_LEVEL, MAX_LEVEL),
        "reassign_at_level": esc.get("reassign_at_level"),
    }


def timer_plan(*, step: dict, due_at: datetime | None, now: datetime) -> list[tuple[str, int, datetime]]:
    """(kind, level, fire_at) of the timers a task of `step` due at `due_at` gets: a reminder, then each escalation level."""
    if not due_at:
        return []
    settings = escalation_settings(step)
    plan = []
    if step.get("remind_before"):
        remind_at = due_at - min(parse_duration(step["remind_before"]), due_at - now)
        if remind_at > now:
            plan.append((TimerKind.REMIND, 0, remind_at))
    for level in range(1, settings["max_level"] + 1):
        plan.append((TimerKind.ESCALATE, level, later(due_at, settings["interval"] * (level - 1))))
    return plan


def explain_due(step: dict, started_at: datetime, locale: str, zone) -> str:
    """Why a task of `step` opened at `started_at` is due when it is, in the reader's language and zone."""
    if not step.get("sla"):
        return due_explanation(None, "", "", locale)
    start = started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return due_explanation(parse_duration(step["sla"]), start, str(zone), locale)
