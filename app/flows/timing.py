"""When a step's task is due, reminded and escalated: pure rules over the step's settings.

The engine and the set-based writer both store what `due_at` and `timer_plan` answer (app/workorders/timers.py and
the bulk writer), and the sweep reads `escalation_settings` when a timer fires: one rule for every writer and reader.
"""
from datetime import datetime, timedelta
from enum import StrEnum

from app.calendars.worktime import WorkingTime
from app.flows.graph import later, parse_duration
from app.notify.messages import calendar_name, due_explanation


class TimerKind(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


DEFAULT_MAX_LEVEL = 3
MAX_LEVEL = 10  # what a template may name (flows.schemas.EscalationSchema)


def due_at(step: dict, now: datetime, clock: WorkingTime | None = None) -> datetime | None:
    """When a task of `step` opened at `now` is due: its SLA later (None without an SLA), in working time on a
    business calendar (`clock`), else on the wall clock."""
    if not step.get("sla"):
        return None
    return _after(now, parse_duration(step["sla"]), clock)


def _after(start: datetime, duration: timedelta, clock: WorkingTime | None) -> datetime:
    return clock.add(start, duration) if clock else later(start, duration)


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


def timer_plan(*, step: dict, due_at: datetime | None, now: datetime, clock: WorkingTime | None = None) -> list[tuple[str, int, datetime]]:
    """(kind, level, fire_at) of the timers a task of `step` due at `due_at` gets: a reminder, then each escalation
    level. On a business calendar (`clock`) the reminder's lead and the escalation interval are working time."""
    if not due_at:
        return []
    settings = escalation_settings(step)
    plan = []
    if step.get("remind_before"):
        before = parse_duration(step["remind_before"])
        remind_at = clock.back(due_at, before) if clock else due_at - min(before, due_at - now)
        if remind_at > now:
            plan.append((TimerKind.REMIND, 0, remind_at))
    for level in range(1, settings["max_level"] + 1):
        plan.append((TimerKind.ESCALATE, level, _after(due_at, settings["interval"] * (level - 1), clock)))
    return plan


def explain_due(step: dict, started_at: datetime, locale: str, zone, clock: WorkingTime | None = None) -> str:
    """Why a task of `step` opened at `started_at` is due when it is, in the reader's language and zone: the SLA, the
    calendar, and the non-working periods it skipped."""
    if not step.get("sla"):
        return due_explanation(None, "", "", locale)
    sla = parse_duration(step["sla"])
    start = _local(started_at, zone)
    if clock is None:
        return due_explanation(sla, start, str(zone), locale)
    due = clock.add(started_at, sla)
    gaps = [(_local(g.start, zone), _local(g.end, zone, g.start), g.reason, g.name) for g in clock.gaps(started_at, due)]
    uncovered = clock.coverage_until.isoformat() if clock.uncovered(started_at, due) else None
    return due_explanation(sla, start, clock.zone_name, locale, calendar=calendar_name(clock.key, clock.name, locale),
                           gaps=gaps, uncovered_after=uncovered)


def _local(moment: datetime, zone, same_day_as: datetime | None = None) -> str:
    """A moment in the reader's zone: "2026-12-04 17:00"; only the time when it is on the day of `same_day_as`."""
    local = moment.astimezone(zone)
    if same_day_as is not None and same_day_as.astimezone(zone).date() == local.date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")
