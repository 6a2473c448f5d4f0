"""Keeping the metrics read model (`facts`) caught up: a background job, never a request.

Every pass of the background jobs (`app.jobs.run_all_once`: `flask worker` locally, the scheduled sweep
Lambda in AWS) runs `catch_up_facts`, which writes the facts of work orders closed since the last pass.
Summaries only read: a work order closed after the last pass is not counted at all (it is no longer open,
and has no fact yet) until the next pass. Each summary says how fresh its closed work is with
`facts_as_of` (the stamp): work orders closed before it are in the read model, up to a transaction
still committing at that moment, which the next pass picks up.

A pass writes facts for at most `batch_size` work orders, in one transaction, so a backlog is worked off
across passes:

- normally, the work orders closed since the stamp, found through their `resolved` / `cancelled`
  timeline events (indexed by kind and time; read again from REFRESH_MARGIN before the stamp, so a
  transaction still committing during the last pass is not missed), oldest close first. When they all
  fit, the stamp moves to the pass's `now`; otherwise to the close time of the first one left waiting,
  and the next pass goes on from there;
- with no stamp (a new read model, one emptied or left partial by an upgrade, or a change of
  BUSINESS_TIMEZONE, which empties it because its days were worked out in the old zone), every closed
  work order without a fact, by id; the stamp stays null, and summaries say so, until none is left;
- at most every CHECK_EVERY, as a safety net for work orders closed without the usual event (a bulk
  import), the closed work orders are counted against the facts and missing ones are built with what is
  left of the batch.

Passes do not overlap: on PostgreSQL a pass takes a transaction-level advisory lock and skips when another
pass or a rebuild holds it (SQLite serialises writers). A work order that has a fact is never built again,
so a pass delivered twice (Lambda retries) changes nothing.

`rebuild_facts` (`flask metrics rebuild-facts`) empties the read model and builds all of it in one
transaction: after a bulk import, or for closed work orders edited in the database outside the services.
"""
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, literal, select

from app.common.clock import as_utc
from app.extensions import db
from app.metrics import facts
from app.metrics.models import DepartmentSet, MetricSetting, StepDay, TagFact, TaskFact, WorkOrderFact
from app.metrics.period import is_postgresql, prepare_connection
from app.workorders.models import TimelineEvent, WorkOrder

# The state row (its name is older than the job: migration c8d41f0a7b25 forgets the state by it).
STATE_KEY = "facts_refreshed_at"
BATCH_SIZE = 2000
# Close events this much older than the stamp are read again (a transaction committing during the last pass).
REFRESH_MARGIN = timedelta(minutes=15)
CHECK_EVERY = timedelta(hours=1)
CLOSING_EVENTS = ("resolved", "cancelled")
LOCK_KEY = 0x6D6574726963  # "metric"


def _lock(*, wait: bool) -> bool:
    """One writer of the read model at a time (SQLite already serialises writers); False when busy and not waiting."""
    if not is_postgresql():
        return True
    if wait:
        db.session.execute(select(func.pg_advisory_xact_lock(literal(LOCK_KEY))))
        return True
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(literal(LOCK_KEY)))))


def _time(value) -> datetime | None:
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _state(row: MetricSetting | None) -> dict:
    # A state written before the job (summaries refreshed the facts of the periods they read) has no stamp: the
    # next passes build whatever closed work it left out, then set one.
    value = dict(row.value or {}) if row is not None else {}
    checked = value.get("checked")
    return {"as_of": _time(value.get("as_of")), "tz": value.get("tz"), "checked": _time(checked) if isinstance(checked, str) else None}


def _save(row: MetricSetting | None, state: dict, now: datetime) -> None:
    if row is None:
        row = MetricSetting(key=STATE_KEY, value={})
        db.session.add(row)
    row.value = {"as_of": state["as_of"] and state["as_of"].isoformat(), "tz": state["tz"],
                 "checked": state["checked"] and state["checked"].isoformat()}
    row.updated_at = now


def _empty() -> None:
    for model in (StepDay, TaskFact, TagFact, WorkOrderFact, DepartmentSet):
        db.session.execute(delete(model))


def _without_fact(work_order_id):
    return ~exists().where(WorkOrderFact.work_order_id == work_order_id)


def _missing(limit: int) -> list[int]:
    """Closed work orders without a fact, by id."""
    return list(db.session.scalars(select(WorkOrder.id).where(WorkOrder.status.in_(facts.CLOSED), _without_fact(WorkOrder.id))
                                   .order_by(WorkOrder.id).limit(limit)))


def _recently_closed(since: datetime, limit: int) -> list[tuple[int, datetime]]:
    """(work order, close time) of work orders closed since `since` without a fact, oldest close first."""
    closes = select(TimelineEvent.work_order_id.label("work_order_id"), func.min(TimelineEvent.at).label("closed_at")) \
        .where(TimelineEvent.kind.in_(CLOSING_EVENTS), TimelineEvent.at >= since) \
        .group_by(TimelineEvent.work_order_id).subquery("closes")
    rows = db.session.execute(
        select(closes.c.work_order_id, closes.c.closed_at)
        .join(WorkOrder, WorkOrder.id == closes.c.work_order_id)
        .where(WorkOrder.status.in_(facts.CLOSED), _without_fact(closes.c.work_order_id))
        .order_by(closes.c.closed_at, closes.c.work_order_id).limit(limit))
    return [(work_order_id, _time(closed_at)) for work_order_id, closed_at in rows]


def _build(ids: list[int], now: datetime, tz: str) -> int:
    if ids:
        facts.build(WorkOrder.id.in_(ids), now, tz)
    return len(ids)


def catch_up_facts(*, now: datetime, tz: str, batch_size: int = BATCH_SIZE) -> dict:
    """Write the facts of up to `batch_size` work orders closed since the last pass and move the stamp; commits.

    Answers how many were written, whether more are waiting for the next pass, and whether the pass was
    skipped because another one (or a rebuild) was running.
    """
    if not _lock(wait=False):
        db.session.rollback()
        return {"built": 0, "more": False, "busy": True}
    prepare_connection(tz)
    row = db.session.get(MetricSetting, STATE_KEY)
    state = _state(row)
    if state["tz"] not in (None, tz):
        _empty()  # the days were worked out in another time zone: build everything again, batch by batch
        state = {"as_of": None, "tz": tz, "checked": None}
    state["tz"] = tz
    # Each look-up asks for one more than it may build, to know whether the next pass has work.
    if state["as_of"] is None:
        missing = _missing(batch_size + 1)
        built = _build(missing[:batch_size], now, tz)
        more = len(missing) > batch_size
        if not more:
            state["as_of"] = state["checked"] = now
    else:
        closed = _recently_closed(state["as_of"] - REFRESH_MARGIN, batch_size + 1)
        built = _build([work_order_id for work_order_id, _ in closed[:batch_size]], now, tz)
        more = len(closed) > batch_size
        state["as_of"] = closed[batch_size][1] if more else now  # the close time of the first one left waiting
        left = batch_size - built
        if left and (state["checked"] is None or state["checked"] <= now - CHECK_EVERY):
            missing = _missing(left + 1) if _closed_count() != _fact_count() else []
            built += _build(missing[:left], now, tz)
            if len(missing) > left:
                more = True
            else:
                state["checked"] = now
    _save(row, state, now)
    db.session.commit()
    return {"built": built, "more": more, "busy": False}


def _closed_count() -> int:
    return db.session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.status.in_(facts.CLOSED)))


def _fact_count() -> int:
    return db.session.scalar(select(func.count()).select_from(WorkOrderFact))


def rebuild_facts(*, now: datetime, tz: str) -> int:
    """Empty the read model and build it all again from the work-order tables; commits; answers how many work orders."""
    _lock(wait=True)
    prepare_connection(tz)
    row = db.session.get(MetricSetting, STATE_KEY)
    _empty()
    facts.build(WorkOrder.id.is_not(None), now, tz)
    _save(row, {"as_of": now, "tz": tz, "checked": now}, now)
    db.session.commit()
    return _fact_count()


def facts_as_of(*, tz: str) -> datetime | None:
    """The stamp: work orders closed before it are in the read model; None while it is being built (or for another zone)."""
    state = _state(db.session.get(MetricSetting, STATE_KEY))
    return state["as_of"] if state["tz"] == tz else None
