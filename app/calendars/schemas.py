"""Calendar request and response bodies."""
import re

import marshmallow as ma
from marshmallow import validate

from app.calendars.library import REGIONS
from app.common.fields import known_timezone
from app.calendars.worktime import WEEKDAYS, minutes

MAX_DAYS_LISTED = 2000
_CLOCK = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class WorkdaySchema(ma.Schema):
    date = ma.fields.Date(required=True)
    as_ = ma.fields.String(required=True, data_key="as", attribute="as", validate=validate.OneOf(WEEKDAYS))


class CalendarSchema(ma.Schema):
    """A calendar as written: its `week` maps mon…sun to working periods [["09:00","12:00"], …] in `timezone`."""

    id = ma.fields.Integer(dump_only=True)
    key = ma.fields.String(dump_only=True, allow_none=True, metadata={"description": "The built-in calendar's stable name (cn-standard)."})
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    timezone = ma.fields.String(load_default="Asia/Shanghai", validate=[validate.Length(1, 64), known_timezone])
    week = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(), required=True)
    holidays = ma.fields.List(ma.fields.Date(), load_default=list, validate=validate.Length(max=MAX_DAYS_LISTED),
                              metadata={"description": "Days off whatever their weekday (YYYY-MM-DD)."})
    workdays = ma.fields.List(ma.fields.Nested(WorkdaySchema), load_default=list, validate=validate.Length(max=MAX_DAYS_LISTED),
                              metadata={"description": "Make-up working days, each following the hours of the weekday in `as`."})
    holidays_from = ma.fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REGIONS),
                                     metadata={"description": "A region whose public holidays and make-up days a maintained "
                                                              "library supplies, on top of this calendar's own (CN)."})
    built_in = ma.fields.Boolean(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    coverage_until = ma.fields.Date(dump_only=True, allow_none=True, metadata={
        "description": "The last day with holiday data; after it every week runs as usual. Null: the calendar has no holidays."})
    coverage_short = ma.fields.Boolean(dump_only=True, metadata={
        "description": "True when holiday data ends within 60 days: add next year's days off (or upgrade Baton)."})
    upcoming = ma.fields.List(ma.fields.Dict(), dump_only=True, metadata={
        "description": "Days off and make-up working days in the next 400 days: {date, kind: holiday|workday, name, as}."})
    replanned = ma.fields.Dict(dump_only=True, metadata={
        "description": "After a change: how many live tasks and timers were re-planned on the new hours."})

    @ma.validates_schema
    def _check(self, data, **kwargs):
        errors = week_errors(data.get("week") or {})
        holidays = data.get("holidays") or []
        for i, day in enumerate(holidays):
            if day in holidays[:i]:
                errors.setdefault(f"holidays.{i}", []).append("listed twice")
        days_off = set(holidays)
        week = data.get("week") or {}
        for i, workday in enumerate(data.get("workdays") or []):
            if workday["date"] in days_off:
                errors.setdefault(f"workdays.{i}.date", []).append("is also listed as a holiday")
            if not week.get(workday["as"]) and f"week.{workday['as']}" not in errors:
                errors.setdefault(f"workdays.{i}.as", []).append(f"{workday['as']} has no working hours to follow")
        if errors:
            raise ma.ValidationError(errors)


def week_errors(week: dict) -> dict[str, list[str]]:
    """The week's mistakes by exact path: unknown days, periods that are not [start, end] clock pairs with the start
    first, periods that overlap, and a week without any working time."""
    errors: dict[str, list[str]] = {}
    for day in week:
        if day not in WEEKDAYS:
            errors.setdefault(f"week.{day}", []).append(f"not a weekday; use {', '.join(WEEKDAYS)}")
    total = 0
    for day in WEEKDAYS:
        periods = week.get(day) or []
        if not isinstance(periods, list):
            errors.setdefault(f"week.{day}", []).append('must be a list of ["HH:MM", "HH:MM"] periods')
            continue
        seen: list[tuple[int, int, int]] = []
        for i, period in enumerate(periods):
            path = f"week.{day}.{i}"
            if not (isinstance(period, list) and len(period) == 2 and all(isinstance(c, str) and _CLOCK.match(c) for c in period)):
                errors.setdefault(path, []).append('must be ["HH:MM", "HH:MM"] (00:00 to 24:00)')
                continue
            start, end = minutes(period[0]), minutes(period[1])
            if start >= end:
                errors.setdefault(path, []).append("must end after it starts")
                continue
            for j, (other_start, other_end, _) in enumerate(seen):
                if start < other_end and other_start < end:
                    errors.setdefault(path, []).append(f"overlaps period {j}")
            seen.append((start, end, i))
            total += end - start
    if total == 0 and not errors:
        errors["week"] = ["needs some working hours"]
    return errors

