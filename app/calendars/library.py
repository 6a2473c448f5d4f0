"""Public holidays and make-up working days (调休) from a maintained library, never typed into the code.

China's arrangement is published by the State Council each November for the next year; `chinesecalendar`
carries it year by year and refuses a year it has no data for, so the last year it knows is where a calendar's
`coverage_until` lies. (The `holidays` package was compared: it extrapolates years that were never published,
silently and without the make-up days, which is the surprise in January that `coverage_until` is there to avoid.)
"""
from dataclasses import dataclass
from datetime import date
from functools import cache

from chinese_calendar import constants as cn

REGIONS = ("CN",)


@dataclass(frozen=True)
class RegionDays:
    holidays: dict[date, str]  # day off -> its holiday's key (national_day, spring_festival, ...)
    workdays: dict[date, str]  # make-up working day -> the holiday it makes up for
    coverage_until: date


_CN_KEYS = {holiday.value: holiday.name for holiday in cn.Holiday}


@cache
def region_days(region: str) -> RegionDays:
    """The days off and make-up working days of a region, and the last day its data covers."""
    if region != "CN":
        raise KeyError(region)
    holidays = {day: _CN_KEYS.get(name, "holiday") for day, name in cn.holidays.items()}
    workdays = {day: _CN_KEYS.get(name, "holiday") for day, name in cn.workdays.items()}
    last_year = max(day.year for day in holidays)
    return RegionDays(holidays=holidays, workdays=workdays, coverage_until=date(last_year, 12, 31))
