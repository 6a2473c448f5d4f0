"""Arming and disarming the durable timers of tasks (the plan is `flows.timing.timer_plan`; the sweep fires them)."""
from datetime import datetime

from sqlalchemy import update

from app.calendars.service import clock
from app.extensions import db
from app.flows.timing import timer_plan
from app.workorders.models import Timer, TimerStatus


def arm_task_timers(*, task, step: dict, now: datetime) -> list[Timer]:
    """Store the reminder and every escalation level of a task with an SLA (same transaction as the task), on the
    task's calendar."""
    on = clock(task.calendar_id) if task.calendar_id else None
    timers = [Timer(task_id=task.id, kind=kind, level=level, fire_at=fire_at, created_at=now)
              for kind, level, fire_at in timer_plan(step=step, due_at=task.due_at, now=now, clock=on)]
    db.session.add_all(timers)
    return timers


def working_seconds(calendar_id: int | None, start: datetime | None, end: datetime | None) -> float | None:
    """The working time between two moments on a task's calendar, in seconds; None on the wall clock (where the
    working time is the wall time, which metrics read from the moments themselves)."""
    if calendar_id is None or start is None or end is None:
        return None
    return clock(calendar_id).between(start, end).total_seconds()


def disarm_task_timers(*, task_ids: list[int]) -> None:
    """Make the pending timers of finished tasks stale."""
    if task_ids:
        db.session.execute(
            update(Timer)
            .where(Timer.task_id.in_(task_ids), Timer.status == TimerStatus.PENDING)
            .values(status=TimerStatus.STALE)
            .execution_options(synchronize_session=False)
        )
