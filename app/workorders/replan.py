"""Re-planning live tasks when their business calendar changes (docs/design.md §12).

A task keeps the calendar its SLA was planned on (`tasks.calendar_id`). When that calendar changes, every live
task on it gets the due time the new hours give from the moment it opened, and its pending reminder and
escalation timers move with it; timers that already fired stay fired. The rules are the ones every writer plans
with (`flows.timing.due_at`, `timer_plan`); the writes are set-based, like the sweep's: per batch of tasks one
UPDATE of the tasks, one of their pending timers and one of their work orders' due times, whatever the batch size.
"""
from datetime import datetime

from sqlalchemy import Integer, String, and_, func, select, update

from app.calendars.service import clock as calendar_clock
from app.common.bulk import among_ids, rows_table, time_text
from app.common.types import UTCDateTime
from app.extensions import db
from app.flows.models import FlowTemplate
from app.flows.timing import due_at, timer_plan
from app.workorders.models import Task, TaskStatus, Timer, TimerStatus, WorkOrder

BATCH = 5_000
LIVE = (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value)
_TASK = Task.__table__
_TIMER = Timer.__table__
_WORK_ORDER = WorkOrder.__table__


def replan_calendar(calendar_id: int, now: datetime, batch: int = BATCH) -> dict:
    """Re-plan the live tasks on a calendar as it now stands; answers {"tasks": n, "timers": m} re-planned."""
    clock = calendar_clock(calendar_id)
    steps: dict[tuple[int, str], dict] = {}
    planned: dict[tuple[int, str, datetime], tuple] = {}  # (template, step, opened) -> (due, timers): shared by many tasks
    counts = {"tasks": 0, "timers": 0}
    after = 0
    while True:
        rows = db.session.execute(
            select(_TASK.c.id, _TASK.c.work_order_id, _TASK.c.step, _TASK.c.created_at, _WORK_ORDER.c.template_id)
            .join(_WORK_ORDER, _WORK_ORDER.c.id == _TASK.c.work_order_id)
            .where(_TASK.c.calendar_id == calendar_id, _TASK.c.status.in_(LIVE), _TASK.c.id > after)
            .order_by(_TASK.c.id).limit(batch)
        ).all()
        if not rows:
            return counts
        after = rows[-1].id
        missing = {r.template_id for r in rows} - {t for t, _ in steps}
        if missing:
            for template in db.session.scalars(select(FlowTemplate).where(among_ids(FlowTemplate.id, missing))):
                steps.update({(template.id, s["key"]): s for s in template.steps})
        task_rows, timer_rows = [], []
        for row in rows:
            key = (row.template_id, row.step, row.created_at)
            if key not in planned:
                step = steps[key[:2]]
                due = due_at(step, row.created_at, clock)
                planned[key] = (time_text(due), [(kind, level, time_text(at))
                                                 for kind, level, at in timer_plan(step=step, due_at=due, now=row.created_at, clock=clock)])
            due, timers = planned[key]
            task_rows.append({"id": row.id, "due_at": due})
            timer_rows.extend({"task_id": row.id, "kind": kind, "level": level, "fire_at": at} for kind, level, at in timers)
        counts["timers"] += _write(task_rows, timer_rows, {r.work_order_id for r in rows})
        counts["tasks"] += len(task_rows)


def _write(task_rows: list[dict], timer_rows: list[dict], work_order_ids: set[int]) -> int:
    """One statement per table for the batch: the tasks' due times, their pending timers, their work orders'.
    Answers how many pending timers moved."""
    new = rows_table(task_rows, id=Integer, due_at=UTCDateTime)
    db.session.execute(update(_TASK).where(_TASK.c.id == new.c.id).values(due_at=new.c.due_at))
    timers = 0
    if timer_rows:
        moved = rows_table(timer_rows, task_id=Integer, kind=String, level=Integer, fire_at=UTCDateTime)
        timers = db.session.execute(update(_TIMER).where(and_(
            _TIMER.c.task_id == moved.c.task_id, _TIMER.c.kind == moved.c.kind, _TIMER.c.level == moved.c.level,
            _TIMER.c.status == TimerStatus.PENDING.value,
        )).values(fire_at=moved.c.fire_at)).rowcount
    # A work order is due when the last of its live tasks is (as the engine sets it when a step opens): one grouped
    # read of the batch's work orders' live tasks joined in, not a look-up per work order.
    latest = (select(_TASK.c.work_order_id, func.max(_TASK.c.due_at).label("due_at"))
              .where(among_ids(_TASK.c.work_order_id, work_order_ids), _TASK.c.status.in_(LIVE))
              .group_by(_TASK.c.work_order_id).subquery())
    db.session.execute(update(_WORK_ORDER).where(_WORK_ORDER.c.id == latest.c.work_order_id).values(due_at=latest.c.due_at))
    return timers
