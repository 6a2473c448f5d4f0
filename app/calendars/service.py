"""Calendars: kept, checked, compiled for arithmetic, and re-planned on change (docs/design.md §12).

A change to a calendar calls the hooks registered here (the work-order layer registers the re-planning of live
tasks' due times and timers), so this package stays below the ones that use it.
"""
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.calendars.library import region_days
from app.calendars.models import BUILT_IN_KEY, Calendar
from app.calendars.worktime import WEEKDAYS, WorkingTime
from app.common.uow import unit_of_work
from app.errors import Conflict, NotFound
from app.extensions import db

OFFICE_HOURS = [["09:00", "12:00"], ["13:00", "18:00"]]
BUILT_IN_WEEK = {day: (OFFICE_HOURS if day not in ("sat", "sun") else []) for day in WEEKDAYS}
BUILT_IN = {"key": BUILT_IN_KEY, "name": "China standard: Mon–Fri 09:00–18:00, public holidays and make-up days",
            "timezone": "Asia/Shanghai", "week": BUILT_IN_WEEK, "holidays": [], "workdays": [], "holidays_from": "CN",
            "built_in": True}
SHORT_COVERAGE = timedelta(days=60)
UPCOMING = timedelta(days=400)

_compiled: dict[tuple, WorkingTime] = {}
_change_hooks: list[Callable[[int, datetime], dict]] = []


def register_change_hook(hook: Callable[[int, datetime], dict]) -> None:
    """`hook(calendar_id, now)` runs after a calendar changed, in the same transaction; it answers counts to report."""
    _change_hooks.append(hook)


# -- compiling ----------------------------------------------------------------------------------------------------

def _days(calendar: Calendar) -> tuple[dict[date, str | None], dict[date, str], date | None]:
    """(days off with their names, make-up days with the weekday they follow, coverage_until) of a calendar: the
    region's from the library, then the calendar's own on top (its own day off wins over a make-up day and back)."""
    holidays: dict[date, str | None] = {}
    workdays: dict[date, str] = {}
    coverage = None
    if calendar.holidays_from:
        region = region_days(calendar.holidays_from)
        follows = next((day for day in WEEKDAYS if calendar.week.get(day)), "mon")
        holidays.update(region.holidays)
        workdays.update({day: follows for day in region.workdays})
        coverage = region.coverage_until
    for day in calendar.holidays or []:
        day = date.fromisoformat(day)
        holidays[day] = None
        workdays.pop(day, None)
    for entry in calendar.workdays or []:
        day = date.fromisoformat(entry["date"])
        workdays[day] = entry["as"]
        holidays.pop(day, None)
    own = [date.fromisoformat(d).year for d in calendar.holidays or []]
    if own and not calendar.holidays_from:
        coverage = date(max(own), 12, 31)
    return holidays, workdays, coverage


def working_time(calendar: Calendar) -> WorkingTime:
    """The calendar ready for arithmetic, remembered per version (a changed calendar has a new version; the time of
    the change is part of the key too, so a database restored or recreated under a running process is not mistaken
    for the one remembered)."""
    key = (calendar.id, calendar.version, calendar.updated_at)
    found = _compiled.get(key)
    if found is None:
        holidays, workdays, coverage = _days(calendar)
        found = WorkingTime(zone=calendar.timezone, week=calendar.week, holidays=holidays, workdays=workdays,
                            name=calendar.name, calendar_id=calendar.id, key=calendar.key, coverage_until=coverage)
        if len(_compiled) > 256:
            _compiled.clear()
        _compiled[key] = found
    return found


def clock(calendar_id: int) -> WorkingTime:
    """The working time of a calendar by id."""
    return working_time(get_calendar(calendar_id=calendar_id))


# -- answers ------------------------------------------------------------------------------------------------------

def describe(calendar: Calendar, today: date) -> dict:
    """A calendar's answer: as written, with its coverage and the days off and make-up days of the next 400 days."""
    holidays, workdays, coverage = _days(calendar)
    horizon = today + UPCOMING
    upcoming = [{"date": d.isoformat(), "kind": "holiday", "name": name, "as": None}
                for d, name in holidays.items() if today <= d <= horizon]
    upcoming += [{"date": d.isoformat(), "kind": "workday", "name": None, "as": follows}
                 for d, follows in workdays.items() if today <= d <= horizon]
    return {
        "id": calendar.id, "key": calendar.key, "name": calendar.name, "timezone": calendar.timezone, "week": calendar.week,
        "holidays": [date.fromisoformat(d) for d in calendar.holidays or []],
        "workdays": [{"date": date.fromisoformat(w["date"]), "as": w["as"]} for w in calendar.workdays or []],
        "holidays_from": calendar.holidays_from,
        "built_in": calendar.built_in, "version": calendar.version,
        "coverage_until": coverage, "coverage_short": coverage is not None and coverage < today + SHORT_COVERAGE,
        "upcoming": sorted(upcoming, key=lambda d: d["date"]),
    }


# -- keeping them -------------------------------------------------------------------------------------------------

def calendars_listed():
    """The select of every calendar, the built-in one first."""
    return select(Calendar).order_by(Calendar.built_in.desc(), Calendar.name, Calendar.id)


def get_calendar(*, calendar_id: int) -> Calendar:
    calendar = db.session.get(Calendar, calendar_id)
    if calendar is None:
        raise NotFound(f"Calendar {calendar_id} does not exist.", code="calendar_not_found")
    return calendar


def install_built_in(now: datetime) -> Calendar:
    """The built-in calendar, added if missing (the migration installs it; this serves databases made otherwise)."""
    found = db.session.scalar(select(Calendar).where(Calendar.key == BUILT_IN_KEY))
    if found is None:
        found = Calendar(**BUILT_IN, version=1, created_at=now, updated_at=now)
        db.session.add(found)
        db.session.flush()
    return found


def calendar_exists(calendar_id: int) -> bool:
    return db.session.get(Calendar, calendar_id) is not None


def _columns(body: dict) -> dict:
    """The stored form of a checked body: weekdays in order, dates as text, periods in order."""
    return {
        "name": body["name"], "timezone": body["timezone"],
        "week": {day: sorted(body["week"].get(day) or []) for day in WEEKDAYS},
        "holidays": sorted(d.isoformat() for d in body.get("holidays") or []),
        "workdays": sorted(({"date": w["date"].isoformat(), "as": w["as"]} for w in body.get("workdays") or []),
                           key=lambda w: w["date"]),
        "holidays_from": body.get("holidays_from"),
    }


def create_calendar(*, body: dict, now: datetime) -> Calendar:
    calendar = Calendar(**_columns(body), built_in=False, version=1, created_at=now, updated_at=now)
    db.session.add(calendar)
    db.session.commit()
    return calendar


def update_calendar(*, calendar_id: int, body: dict, now: datetime) -> tuple[Calendar, dict]:
    """Replace a calendar and re-plan the live tasks that run on it; answers the calendar and what was re-planned.

    The built-in calendar follows the library and is not edited: an admin copies it (POST with its body) instead.
    """
    calendar = get_calendar(calendar_id=calendar_id)
    if calendar.built_in:
        raise Conflict("The built-in calendar follows the holiday library and cannot be edited; create a copy and edit that.",
                       code="calendar_built_in")
    # Lock the row: two admins saving at once re-plan one after the other, on the calendar as finally saved. The
    # answer shows this save (its version), not a later one committed before it is read: it stays loaded.
    with unit_of_work(keep_loaded=True):
        db.session.execute(select(Calendar.id).where(Calendar.id == calendar_id).with_for_update())
        db.session.refresh(calendar)
        for field, value in _columns(body).items():
            setattr(calendar, field, value)
        calendar.version += 1
        calendar.updated_at = now
        db.session.flush()
        replanned: dict = {}
        for hook in _change_hooks:
            for name, count in hook(calendar.id, now).items():
                replanned[name] = replanned.get(name, 0) + count
    return calendar, replanned
