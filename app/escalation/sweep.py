"""Firing due timers exactly once in effect, and escalating by hand (docs/design.md §6)."""
import contextlib
import gc
import logging
import time
from datetime import datetime

from sqlalchemy import Integer, select, update
from sqlalchemy.orm.exc import StaleDataError

from app.common.models import JSONType
from app.common.bulk import among_ids, insert_rows, rows_table
from app.errors import Conflict
from app.extensions import db
from app.flows.forms import step_words
from app.flows.models import FlowTemplate
from app.flows.timing import TimerKind, escalation_settings
from app.notify.service import notify, notify_many
from app.org.models import User
from app.workorders import timeline
from app.workorders.engine import close_candidates
from app.workorders.models import (
    RUNNING_WORK_ORDER,
    Task,
    TaskCandidate,
    TaskStatus,
    TimelineEvent,
    Timer,
    TimerStatus,
    WorkOrder,
    task_transition,
)
from app.org.lines import People
from app.workorders.policy import require_lead, visible_work_order

log = logging.getLogger(__name__)
LIVE = (TaskStatus.OPEN, TaskStatus.CLAIMED)
PRIORITY_UP = {"P4": "P3", "P3": "P2", "P2": "P1", "P1": "P1"}


def _base_people(task: Task) -> list[int]:
    """Whom a task waits on: its assignee, or the candidates of an unclaimed task."""
    if task.assignee_id:
        return [task.assignee_id]
    return list(db.session.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == task.id)))


def _escalate_task(task: Task, work_order: WorkOrder, step: dict, level: int, now: datetime, actor_id: int, reason: str) -> dict:
    """A lead's escalation of one running task: its level up, the managers reached told (no reassignment)."""
    base = _base_people(task)
    managers = People(base, now=now).managers_at_level(base, level)
    task.escalation_level = max(task.escalation_level, level)
    work_order.escalation_level = max(work_order.escalation_level, level)
    details = {"level": level, "step": task.step, "notified": managers, "reason": reason}
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="escalated", actor_id=actor_id, now=now, details=details)
    notify(user_ids=managers, kind="task.escalated",
           params={"level": level, "number": work_order.number, **step_words(step), "title": work_order.title},
           about={"task_id": task.id, "level": level}, priority="P1", now=now)
    return details


_TASK = Task.__table__
_TIMER = Timer.__table__
_WORK_ORDER = WorkOrder.__table__
_TIMELINE = TimelineEvent.__table__


def _by_id(stmt) -> dict[int, dict]:
    """The rows of a select, as dicts by their first column (the id)."""
    result = db.session.execute(stmt)
    keys = list(result.keys())
    return {row[0]: dict(zip(keys, row)) for row in result.all()}


def _write_task(task: dict, values: dict, bump: int) -> None:
    """One task row, with the optimistic version check the ORM makes (Task is versioned)."""
    result = db.session.execute(
        update(_TASK).where(_TASK.c.id == task["id"], _TASK.c.version == task["version"]).values(**values, version=task["version"] + bump)
    )
    if result.rowcount != 1:
        raise StaleDataError(f"UPDATE statement on table 'tasks' expected to update 1 row(s); {result.rowcount} were matched.")
    task.update(values, version=task["version"] + bump)


def _fire_batch(timers: list, now: datetime) -> list[str]:
    """Fire a claimed batch of timers in order: what `_fire` did timer by timer, read and written set-based.

    Rows are read and written with Core statements (the ORM's per-object work was most of the cost), each kind
    of write in one statement for the whole batch (bulk.py); the writes are the ORM's: a task's row gets a version
    bump for each change, a work order's only if it changed.
    """
    outcomes: dict[int, str] = {}
    for timer in timers:  # a first look at the task, taken with the claim; looked at again once its work order is locked
        if timer.task_status not in LIVE:
            outcomes[timer.id] = "stale"
    waiting = [t for t in timers if t.id not in outcomes]
    # Lock the work orders without waiting: one that a handler holds right now is left for the next sweep
    # (waiting could deadlock with that handler's own disarming of these timers).
    work_orders = _by_id(
        select(_WORK_ORDER.c.id, _WORK_ORDER.c.number, _WORK_ORDER.c.title, _WORK_ORDER.c.priority, _WORK_ORDER.c.template_id,
               _WORK_ORDER.c.escalation_level)
        .where(among_ids(_WORK_ORDER.c.id, {t.work_order_id for t in waiting}))
        .with_for_update(skip_locked=True)
    ) if waiting else {}
    for timer in waiting:
        if timer.work_order_id not in work_orders:
            outcomes[timer.id] = "busy"
    locked = [t for t in waiting if t.id not in outcomes]
    tasks = _by_id(
        select(_TASK.c.id, _TASK.c.work_order_id, _TASK.c.step, _TASK.c.status, _TASK.c.assignee_id, _TASK.c.due_at,
               _TASK.c.escalation_level, _TASK.c.version)
        .where(among_ids(_TASK.c.id, {t.task_id for t in locked}))
    ) if locked else {}
    for timer in locked:
        if tasks[timer.task_id]["status"] not in LIVE:
            outcomes[timer.id] = "stale"
    firing = [t for t in locked if t.id not in outcomes]
    templates = {t.id: t for t in db.session.scalars(
        select(FlowTemplate).where(FlowTemplate.id.in_({work_orders[tasks[t.task_id]["work_order_id"]]["template_id"] for t in firing})))
    } if firing else {}
    candidates: dict[int, list[int]] = {}
    unclaimed = {t.task_id for t in firing if tasks[t.task_id]["assignee_id"] is None}
    if unclaimed:
        for task_id, user_id in db.session.execute(
            select(TaskCandidate.task_id, TaskCandidate.user_id).where(among_ids(TaskCandidate.task_id, unclaimed))
            .order_by(TaskCandidate.task_id, TaskCandidate.user_id)
        ).all():
            candidates.setdefault(task_id, []).append(user_id)
    people = People({tasks[t.task_id]["assignee_id"] for t in firing} | {u for ids in candidates.values() for u in ids}, now=now)
    steps: dict[tuple[int, str], tuple[dict, int | None]] = {}  # (template, step key) -> (step, reassign_at_level)
    events, messages, fired = [], [], []
    raised: dict[int, tuple[int, int]] = {}  # task id -> (new level, version bumps), written in one statement
    wo_levels: dict[int, int] = {}
    for timer in firing:
        task = tasks[timer.task_id]
        work_order = work_orders[task["work_order_id"]]
        key = (work_order["template_id"], task["step"])
        if key not in steps:
            step = templates[key[0]].step(key[1])
            steps[key] = (step, escalation_settings(step)["reassign_at_level"])
        step, reassign_at_level = steps[key]
        base = [task["assignee_id"]] if task["assignee_id"] else list(candidates.get(task["id"], []))
        if timer.kind == TimerKind.REMIND:
            due_at = task["due_at"]
            events.append({"work_order_id": work_order["id"], "task_id": task["id"], "kind": "reminded",
                           "details": {"notified": base, "due_at": due_at.isoformat() if due_at else None}})
            messages.append({"user_ids": base, "kind": "task.reminder",
                             "params": {"number": work_order["number"], **step_words(step),
                                        "due": due_at},
                             "about": {"task_id": task["id"]}, "priority": work_order["priority"]})
            result = {"notified": base}
        else:
            level = timer.level
            reassign = reassign_at_level == level
            managers = people.managers_at_level(base, level)
            raises = level > task["escalation_level"]
            if raises:
                task["escalation_level"] = level
                raised[task["id"]] = (level, raised.get(task["id"], (level, 0))[1] + 1)
            if level > work_order["escalation_level"]:
                work_order["escalation_level"] = level
                wo_levels[work_order["id"]] = level
            details = {"level": level, "step": task["step"], "notified": managers, "reason": "overdue"}
            if reassign and managers:
                target = managers[0]
                details["reassigned_from"] = task["assignee_id"]
                details["reassigned_to"] = target
                # Written now, with the level it reached and the bumps of its earlier changes in this batch;
                # the reassignment shares one bump with this firing's own level change, as in one ORM flush.
                earlier = raised.pop(task["id"], (0, 0))[1] - (1 if raises else 0)
                _write_task(task, {"assignee_id": target, "status": task_transition(task["status"], "reassign"), "claimed_at": now,
                                   "escalation_level": task["escalation_level"]}, bump=earlier + 1)
                if not db.session.get(TaskCandidate, (task["id"], target)):
                    db.session.add(TaskCandidate(task_id=task["id"], user_id=target, is_open=False, added_at=now))
                close_candidates([task["id"]])
                people.add([target])
            events.append({"work_order_id": work_order["id"], "task_id": task["id"], "kind": "escalated",
                           "details": details})
            messages.append({"user_ids": managers, "kind": "task.escalated",
                             "params": {"level": level, "number": work_order["number"], **step_words(step), "title": work_order["title"]},
                             "about": {"task_id": task["id"], "level": level}, "priority": "P1"})
            result = details
        fired.append({"id": timer.id, "result": result})
        outcomes[timer.id] = "fired"
    _write_levels(tasks, raised, wo_levels)
    stale = [t.id for t in timers if outcomes[t.id] == "stale"]
    if stale:
        db.session.execute(update(_TIMER).where(among_ids(_TIMER.c.id, stale)).values(status=TimerStatus.STALE))
    if fired:
        done = rows_table(fired, id=Integer, result=JSONType)
        db.session.execute(update(_TIMER).where(_TIMER.c.id == done.c.id).values(status=TimerStatus.FIRED, fired_at=now, result=done.c.result))
        insert_rows(_TIMELINE, events, actor_id=None, at=now, occurred_at=None)
        notify_many(messages, now)
    return [outcomes[t.id] for t in timers]


def _write_levels(tasks: dict[int, dict], raised: dict[int, tuple[int, int]], wo_levels: dict[int, int]) -> None:
    """New escalation levels of tasks (version-checked, one bump per change) and work orders, one statement each."""
    if raised:
        rows = [{"id": task_id, "old_version": tasks[task_id]["version"], "level": level, "bump": bumps}
                for task_id, (level, bumps) in raised.items()]
        new = rows_table(rows, id=Integer, old_version=Integer, level=Integer, bump=Integer)
        result = db.session.execute(
            update(_TASK).where(_TASK.c.id == new.c.id, _TASK.c.version == new.c.old_version)
            .values(escalation_level=new.c.level, version=_TASK.c.version + new.c.bump)
        )
        if result.rowcount != len(rows):
            raise StaleDataError(f"UPDATE statement on table 'tasks' expected to update {len(rows)} row(s); {result.rowcount} were matched.")
    if wo_levels:
        new = rows_table([{"id": wo_id, "level": level} for wo_id, level in wo_levels.items()], id=Integer, level=Integer)
        db.session.execute(update(_WORK_ORDER).where(_WORK_ORDER.c.id == new.c.id).values(escalation_level=new.c.level))


def fire_due_timers(*, now: datetime, batch_size: int = 5000, max_batches: int = 100, busy_retries: int = 5,
                    deadline: float | None = None) -> dict:
    """Fire every due timer once: claim a batch (SKIP LOCKED on PostgreSQL), fire, mark, commit, repeat.

    A timer whose work order another transaction holds (a handler, or a concurrent sweep firing that work
    order's other timer) is left pending as "busy"; the sweep goes on with the rest, then takes the busy ones
    again after a short backoff. `busy` in the answer counts those still left for the next sweep.
    With a `deadline` (a `time.monotonic()` value), no batch starts after it: a Lambda stops in time and the
    next scheduled sweep goes on where it stopped (`more` in the answer says whether due timers were left).
    """
    with _long_lived_objects_left_alone():
        return _sweep(now=now, batch_size=batch_size, max_batches=max_batches, busy_retries=busy_retries, deadline=deadline)


@contextlib.contextmanager
def _long_lived_objects_left_alone():
    """Keep the garbage collector off what was alive before the sweep (the app, SQLAlchemy, its caches).

    A batch keeps thousands of rows alive while it is worked on; they outlive the young generations and set off
    full collections, each of which walks the whole heap: that was about a third of the sweep's CPU time.
    Everything created during the sweep is collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _sweep(*, now: datetime, batch_size: int, max_batches: int, busy_retries: int, deadline: float | None) -> dict:
    counts = {"fired": 0, "stale": 0, "busy": 0, "more": False}
    busy: set[int] = set()
    waits = 0
    for batch in range(max_batches):
        if batch and deadline is not None and time.monotonic() >= deadline:
            counts["more"] = True
            break
        stmt = (
            select(_TIMER.c.id, _TIMER.c.task_id, _TIMER.c.kind, _TIMER.c.level,
                   _TASK.c.status.label("task_status"), _TASK.c.work_order_id)
            .outerjoin(_TASK, _TASK.c.id == _TIMER.c.task_id)
            .where(_TIMER.c.status == TimerStatus.PENDING, _TIMER.c.fire_at <= now)
            .order_by(_TIMER.c.fire_at, _TIMER.c.id)
            .limit(batch_size)
            .with_for_update(of=_TIMER, skip_locked=True)
        )
        if busy:
            stmt = stmt.where(_TIMER.c.id.not_in(busy))
        timers = db.session.execute(stmt).all()
        if timers:
            outcomes = _fire_batch(timers, now)
            db.session.commit()
            counts["fired"] += outcomes.count("fired")
            counts["stale"] += outcomes.count("stale")
            busy.update(timer.id for timer, outcome in zip(timers, outcomes) if outcome == "busy")
            if len(timers) == batch_size:
                continue
        else:
            db.session.rollback()
        if not busy or waits >= busy_retries:
            break
        time.sleep(0.01 * 2 ** waits)
        waits += 1
        busy.clear()
    else:
        counts["more"] = True  # max_batches reached with due timers left
    counts["busy"] = len(busy)
    return counts


def escalate_work_order(*, user: User, work_order_id: int, reason: str, now: datetime, priority: str | None = None) -> WorkOrder:
    """A lead escalates by hand: priority up, and every running task escalates one level now."""
    visible_work_order(user, work_order_id)
    work_order = db.session.get(WorkOrder, work_order_id, with_for_update=True, populate_existing=True)
    require_lead(user, work_order)
    if work_order.status not in RUNNING_WORK_ORDER:
        raise Conflict("Only running work orders can be escalated.", code="invalid_transition", details={"status": work_order.status})
    old_priority = work_order.priority
    work_order.priority = priority or PRIORITY_UP[work_order.priority]
    work_order.updated_at = now
    template = db.session.get(FlowTemplate, work_order.template_id)
    tasks = db.session.scalars(select(Task).where(Task.work_order_id == work_order.id, Task.status.in_(LIVE))).all()
    db.session.execute(update(Task).where(Task.id.in_([t.id for t in tasks])).values(priority=work_order.priority)
                       .execution_options(synchronize_session="fetch"))
    timeline.record(work_order_id=work_order.id, kind="escalated", actor_id=user.id, now=now,
                    details={"manual": True, "reason": reason, "priority_from": old_priority, "priority_to": work_order.priority})
    for task in tasks:
        _escalate_task(task, work_order, template.step(task.step), task.escalation_level + 1, now, user.id, reason)
    notify(user_ids=[work_order.created_by_id] if work_order.created_by_id != user.id else [], kind="work_order.escalated",
           params={"number": work_order.number, "title": work_order.title, "reason": reason},
           about={"work_order_id": work_order.id}, priority="P1", now=now)
    db.session.commit()
    return work_order
