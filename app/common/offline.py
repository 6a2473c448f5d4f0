"""Offline truth (docs/design.md §4): which time an action taken on a phone counts at."""
from datetime import datetime, timedelta

from app.common.clock import as_utc

# Phone clocks drift; a device time this far ahead of the server still counts as "now".
FUTURE_TOLERANCE = timedelta(minutes=2)


def effective_time(*, occurred_at: datetime | None, received_at: datetime, not_before: datetime | None,
                   max_skew_seconds: int) -> tuple[datetime, bool]:
    """The device time when plausible, else the receipt time; the flag says whether the device time was trusted."""
    if occurred_at is None:
        return received_at, True
    occurred_at = as_utc(occurred_at)
    plausible = (
        occurred_at <= received_at + FUTURE_TOLERANCE
        and (not_before is None or occurred_at >= not_before)
        and received_at - occurred_at <= timedelta(seconds=max_skew_seconds)
    )
    if not plausible:
        return received_at, False
    return min(occurred_at, received_at), True
