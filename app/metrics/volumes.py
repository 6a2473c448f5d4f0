"""Daily service volumes posted by integrations, and the day-by-day request and order counts behind the rates.

A volume item is one day's count on one channel: `self_service`, `ivr` (every request enters
through one of these two), `manual` (requests that reached a person), or `orders` (the day's
order volume). An optional `misrouted` count says how many of the channel's requests entered by
mistake (误入, seed §5.1); they are stored and excluded from every rate. Re-posting a
(day, channel) replaces its counts, so a corrected day is simply posted again.

Orders per day come from the posted `orders` volume where there is one; for days without it,
from the orders posted through `POST /orders` (the quality package's Order, counted by the local
day of `placed_at`), when that model exists.
"""
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.errors import Invalid
from app.extensions import db
from app.metrics.models import Channel, ServiceVolume
from app.metrics.period import Period, bucket_expr, is_postgresql
from app.quality.models import Order

CHUNK = 1000
REQUEST_CHANNELS = (Channel.SELF_SERVICE, Channel.IVR, Channel.MANUAL)


def post_service_volumes(*, items: list[dict], caller: str, now: datetime, today: date) -> dict:
    """Upsert daily counts per (day, channel); one bad item rejects the whole request, naming its index."""
    errors: dict[str, list] = {}
    first_index: dict[tuple, int] = {}
    for index, item in enumerate(items):
        key = (item["day"], item["channel"])
        if key in first_index:
            errors.setdefault(f"volumes.{index}.day", []).append(
                f"item {first_index[key]} already gives {item['channel']} for {item['day'].isoformat()}")
        first_index.setdefault(key, index)
        if item["day"] > today + timedelta(days=1):
            errors.setdefault(f"volumes.{index}.day", []).append("is in the future")
    if errors:
        raise Invalid("A volume item is not valid; nothing was stored.", details=errors)

    keys = list(first_index)
    existing = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        existing |= set(db.session.execute(
            select(ServiceVolume.day, ServiceVolume.channel).where(tuple_(ServiceVolume.day, ServiceVolume.channel).in_(chunk))
        ).all())
    insert = pg_insert if is_postgresql() else sqlite_insert
    rows = [{"day": i["day"], "channel": i["channel"], "count": i["count"], "misrouted": i.get("misrouted") or 0,
             "updated_at": now, "updated_by": caller} for i in items]
    for start in range(0, len(rows), CHUNK):
        stmt = insert(ServiceVolume).values(rows[start:start + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=[ServiceVolume.day, ServiceVolume.channel],
            set_={"count": stmt.excluded.count, "misrouted": stmt.excluded.misrouted,
                  "updated_at": stmt.excluded.updated_at, "updated_by": stmt.excluded.updated_by},
        )
        db.session.execute(stmt)
    db.session.commit()
    updated = sum(1 for key in keys if key in existing)
    return {"accepted": len(items), "created": len(keys) - updated, "updated": updated}


def _posted_orders_by_day(period: Period, days: list[date]) -> dict[date, int]:
    """Orders posted through the order integration, by local day of `placed_at`."""
    if not days:
        return {}
    placed_at = Order.placed_at
    day_key = bucket_expr(placed_at, "day", period.tz)
    rows = db.session.execute(
        select(day_key, func.count()).where(placed_at >= period.start_utc, placed_at < period.end_utc).group_by(day_key)
    ).all()
    wanted = set(days)
    return {d: n for d, n in ((date.fromisoformat(k), n) for k, n in rows if k) if d in wanted}


def daily_counts(period: Period) -> tuple[dict[date, dict], str]:
    """For every day of the period: requests per channel (misrouted excluded), misrouted, and orders.

    Also answers where the order counts came from: `volumes`, `orders`, `mixed` or `none`.
    """
    days = {day: {"self_service": 0, "ivr": 0, "manual": 0, "orders": 0, "misrouted": 0, "has_orders": False}
            for day in period.days}
    rows = db.session.execute(
        select(ServiceVolume.day, ServiceVolume.channel, ServiceVolume.count, ServiceVolume.misrouted)
        .where(ServiceVolume.day >= period.start, ServiceVolume.day <= period.end)
    ).all()
    for day, channel, count, misrouted in rows:
        slot = days[day]
        if channel == Channel.ORDERS:
            slot["orders"] = int(count)
            slot["has_orders"] = True
        else:
            slot[channel] = int(count) - int(misrouted or 0)
            slot["misrouted"] += int(misrouted or 0)
    missing = [day for day, slot in days.items() if not slot["has_orders"]]
    posted = _posted_orders_by_day(period, missing) if missing else {}
    for day, count in posted.items():
        days[day]["orders"] = count
    from_volumes = any(slot["has_orders"] for slot in days.values())
    from_orders = any(count for count in posted.values())
    source = {(True, True): "mixed", (True, False): "volumes", (False, True): "orders", (False, False): "none"}[(from_volumes, from_orders)]
    return days, source


def sum_days(days: dict[date, dict], wanted=None) -> dict:
    """Totals over some days (all by default)."""
    total = defaultdict(int)
    for day, slot in days.items():
        if wanted is None or day in wanted:
            for name in ("self_service", "ivr", "manual", "orders", "misrouted"):
                total[name] += slot[name]
    return {name: total[name] for name in ("self_service", "ivr", "manual", "orders", "misrouted")}


def per_ten_thousand_orders(count: int | None, orders: int) -> float | None:
    """A count per 10,000 orders; None when there were no orders (a rate without a denominator is unknown, not zero)."""
    if count is None or not orders:
        return None
    return count * 10_000 / orders
