"""The period a summary covers, its time buckets, and the few SQL expressions that differ by database.

A period is a range of business days (`from` and `to` inclusive) in the business time zone
(`BUSINESS_TIMEZONE`); a work order belongs to the day, week or month it was opened in, there.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from math import floor
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, func, literal

from app.extensions import db

TIME_BUCKETS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time.min, self.zone).astimezone(timezone.utc)

    @property
    def end_utc(self) -> datetime:
        """The first instant after the period (local midnight after `end`)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, self.zone).astimezone(timezone.utc)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def local_today(now: datetime, tz: str) -> date:
    """The business day it is at `now`."""
    return now.astimezone(ZoneInfo(tz)).date()


def bucket_key(day: date, kind: str) -> str:
    """The key of the day, ISO week (by its Monday) or month a local day falls in."""
    if kind == "day":
        return day.isoformat()
    if kind == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.strftime("%Y-%m")


def bucket_label(key: str, kind: str) -> str:
    if kind == "week":
        year, week, _ = date.fromisoformat(key).isocalendar()
        return f"{year}-W{week:02d}"
    return key


def bucket_keys(period: Period, kind: str) -> list[str]:
    """Every bucket of the period in order, including those with no data."""
    seen: dict[str, None] = {}
    for day in period.days:
        seen.setdefault(bucket_key(day, kind), None)
    return list(seen)


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def prepare_connection(tz: str) -> None:
    """SQLite has no time zones: give this transaction's connection a function that buckets a stored UTC time."""
    if is_postgresql():
        return
    zone = ZoneInfo(tz)

    def baton_bucket(value, kind):
        if value is None:
            return None
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        return bucket_key(at.replace(tzinfo=timezone.utc).astimezone(zone).date(), kind)

    raw = db.session.connection().connection.driver_connection
    raw.create_function("baton_bucket", 2, baton_bucket, deterministic=True)


def bucket_expr(column, kind: str, tz: str):
    """SQL for the local day, week or month key of a timestamp column (the same strings on both databases)."""
    if not is_postgresql():
        return func.baton_bucket(column, literal(kind))
    local = func.timezone(tz, column)
    if kind == "day":
        return func.to_char(local, "YYYY-MM-DD")
    if kind == "week":
        return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD")
    return func.to_char(local, "YYYY-MM")


def seconds_between(later, earlier):
    """SQL for `later - earlier` in seconds (a float), to the millisecond."""
    if is_postgresql():
        return func.round(cast(func.extract("epoch", later - earlier), db.Numeric), 3).cast(Float)
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks: what PostgreSQL's percentile_cont answers."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    low = floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
