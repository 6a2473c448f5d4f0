"""The one place that reads the clock. Services take `now`; tests pass their own."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat naive datetimes as UTC and convert aware ones to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
