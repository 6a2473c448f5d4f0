"""Work orders: create from a template, read, list, cancel, comment."""
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update

from app.calendars import service as calendars_service
from app.calendars.service import clock as calendar_clock
from app.common.bulk import among_ids, insert_rows
from app.common.pagination import paginate
from app.common.text import LIKE_ESCAPE, like_pattern
from app.common.uow import unit_of_work
from app.errors import Conflict, Invalid
from app.extensions import db
from app.flows.forms import for_each_errors, validate_values
from app.flows import service as flows_service
from app.flows.service import get_template
from app.flows.timing import explain_due
from app.org import service as org_service
from app.org.models import User
from app.workorders import engine, timeline
from app.workorders.models import (
    Tag,
    Task,
    TaskStatus,
    TimelineEvent,
    WorkOrder,
    WorkOrderDepartment,
    WorkOrderStep,
    WorkOrderStatus,
    WorkOrderTag,
    WORK_ORDER_TRANSITIONS,
)
from app.workorders.attachments import attachment_errors
from app.workorders.numbers import number_work_order, unnumbered
from app.workorders.planner import opened_details, work_order_values
from app.workorders.handback import hand_back
from app.workorders.replan import replan_calendar
from app.workorders.policy import require_lead, task_filter, visible_work_order, work_order_filter
from app.workorders.timers import disarm_task_timers

# The answers about one work order (its detail, the 201 of its creation) hold at most this many tasks;
# GET /work-orders/{id}/tasks pages through all of them.
TASKS_IN_ANSWER = 100


def _runs_on_template(template_id: int) -> bool:
    """Whether a work order runs on this template version: editing it then makes a new version."""
    return db.session.scalar(select(WorkOrder.id).where(WorkOrder.template_id == template_id).limit(1)) is not None


def _running_on_template(template_id: int) -> int:
    """How many work orders still run (open or in progress) on this template version."""
    return db.session.scalar(select(func.count(WorkOrder.id)).where(
        WorkOrder.template_id == template_id,
        WorkOrder.status.in_((WorkOrderStatus.OPEN.value, WorkOrderStatus.IN_PROGRESS.value)))) or 0


flows_service.register_usage_check(_runs_on_template)
flows_service.register_running_count(_running_on_template)
calendars_service.register_change_hook(replan_calendar)
org_service.register_deactivation_hook(hand_back)

def transition(work_order: WorkOrder, action: str) -> None:
    """Apply a work-order transition from the one table, or Conflict."""
    allowed, target = WORK_ORDER_TRANSITIONS[action]
    if work_order.status not in allowed:
        raise Conflict(f"A {work_order.status} work order cannot be {action}ed.", code="invalid_transition",
                       details={"status": work_order.status})
    work_order.status = target


def create_work_order(*, body: dict, created_by: User | None, department_id: int | None, now: datetime, tz: str,
                      source_default: str = "app", number: str | None = None) -> WorkOrder:
    """Open a work order from the current version of a template and activate its first steps.

    Its own use case, or part of a caller's (an andon pull, a shortage): in a caller's unit of work it joins it.
    """
    with unit_of_work(keep_loaded=True):  # the answer shows the work order as written, without reading it again
        return _create_work_order(body=body, created_by=created_by, department_id=department_id, now=now, tz=tz,
                                  source_default=source_default, number=number)


def checked_data(template, body: dict) -> dict:
    """The data a new work order of `template` opens with, checked against the template's form and its for_each
    steps; 422 with every error by path otherwise."""
    given = body.get("data") or {}
    data, errors = validate_values(template.form, given)
    for i, step in enumerate(template.steps):
        if step.get("for_each") and not step.get("after"):
            items = given.get(step["for_each"]) if isinstance(given, dict) else None
            if not isinstance(items, list):
                errors.setdefault(f"data.{step['for_each']}", []).append(f"step {step['key']!r} needs a list here")
    if isinstance(given, dict):
        for path, messages in for_each_errors(template.steps, given).items():
            errors.setdefault(path, []).extend(messages)
    errors.update(attachment_errors(work_order_id=None, fields=template.form, values=data))
    if errors:
        raise Invalid("The work order is not valid.", details=errors)
    return data


def _create_work_order(*, body: dict, created_by: User | None, department_id: int | None, now: datetime, tz: str,
                       source_default: str, number: str | None = None) -> WorkOrder:
    template = get_template(key=body["template"])
    if not template.active:
        raise Invalid("This template is retired.", details={"template": ["inactive"]})
    data = checked_data(template, body)
    source = body.get("source") or source_default
    work_order = WorkOrder(number=number or unnumbered(), **work_order_values(
        template=template, body={**body, "data": data}, source=source, department_id=department_id,
        created_by_id=created_by.id if created_by else None, now=now))
    db.session.add(work_order)
    db.session.flush()
    departments = {d for d in (work_order.department_id, template.owner_department_id) if d}
    if work_order.tags:
        db.session.add_all(WorkOrderTag(work_order_id=work_order.id, tag=t) for t in work_order.tags)
        departments |= set(db.session.scalars(select(Tag.department_id).where(Tag.name.in_(work_order.tags), Tag.department_id.is_not(None))))
    db.session.add_all(WorkOrderDepartment(work_order_id=work_order.id, department_id=d) for d in departments)
    timeline.record(work_order_id=work_order.id, kind="created", actor_id=work_order.created_by_id, now=now,
                    details=opened_details(template, work_order.source))
    held: list[dict] = []  # the handlers' notifications quote the number, which comes last
    engine.start(work_order=work_order, template=template, now=now, actor_id=work_order.created_by_id, outbox=held)
    if number is None:  # a number taken already (fastpaths.create) is kept
        number_work_order(work_order=work_order, now=now, tz=tz)
    engine.send_held(held, work_order=work_order, now=now)
    return work_order


def get_work_order(*, user: User, work_order_id: int) -> WorkOrder:
    """A visible work order."""
    return visible_work_order(user, work_order_id)


def list_tasks(*, user: User, work_order: WorkOrder):
    """The tasks of a visible work order that `user` may see, in the order they were opened, as a select for pagination."""
    return _tasks_seen(work_order, task_filter(user, work_order))


def _tasks_seen(work_order: WorkOrder, clause):
    stmt = select(Task).where(Task.work_order_id == work_order.id).order_by(Task.id)
    return stmt if clause is None else stmt.where(clause)


# What packages above this one add to a work order's detail (metrics: its evaluation); this one does not know them.
_detail_parts: list[Callable[[WorkOrder], dict]] = []


def register_detail_part(part: Callable[[WorkOrder], dict]) -> None:
    """`part(work_order)` answers more fields of a work order's detail, such as `{"evaluation": …}`."""
    _detail_parts.append(part)


def work_order_detail(*, user: User, work_order: WorkOrder, tasks_limit: int = TASKS_IN_ANSWER, with_timeline: bool = True,
                      zone: str | None = None) -> dict:
    """The first `tasks_limit` tasks `user` may see with their total, and the timeline, in a fixed number of queries.

    Staff who only handle some tasks see the timeline of the work order and of their own tasks, not the events
    of tasks they may not see (a colleague's own `each` task, with what they filled in).
    """
    clause = task_filter(user, work_order)
    page = paginate(_tasks_seen(work_order, clause), page=1, per_page=tasks_limit)
    events = []
    if with_timeline:
        stmt = select(TimelineEvent).where(TimelineEvent.work_order_id == work_order.id).order_by(TimelineEvent.id)
        if clause is not None:
            mine = select(Task.id).where(Task.work_order_id == work_order.id, clause)
            stmt = stmt.where(or_(TimelineEvent.task_id.is_(None), TimelineEvent.task_id.in_(mine)))
        events = db.session.scalars(stmt).all()
    detail = {"tasks": page["items"], "tasks_total": page["total"], "timeline": events}
    if with_timeline:
        detail["steps"] = step_states(work_order, (user.locale, zone) if zone else None)
        for part in _detail_parts:
            detail.update(part(work_order))
    return detail


def step_states(work_order: WorkOrder, reader: tuple[str, str] | None = None) -> list[dict]:
    """Every step of the work order's template version with its status and, when a condition decided it, why; a
    `for_each` step that opened has one entry per instance (`instance` is its label), with that instance's status.

    A running step (or instance) says when it is due (its live tasks' earliest due time) and, for a `reader`
    (locale, time zone), why: the SLA, its calendar and the non-working periods skipped.
    """
    template = engine.template_of(work_order)
    rows = {w.key: w for w in db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order.id))}
    instances: dict[str, dict[int, tuple[str | None, list[str]]]] = {}
    due: dict[tuple[str, int | None], tuple] = {}  # (step, instance) -> (due, opened, calendar) of its earliest-due live task
    for key, index, label, status, due_at, created_at, calendar_id in db.session.execute(
            select(Task.step, Task.instance, Task.instance_label, Task.status, Task.due_at, Task.created_at, Task.calendar_id)
            .join(WorkOrderStep, WorkOrderStep.id == Task.step_id)
            .where(Task.work_order_id == work_order.id, Task.activation == WorkOrderStep.activation)
            .order_by(Task.instance, Task.id)):
        if index is not None:
            instances.setdefault(key, {}).setdefault(index, (label, []))[1].append(status)
        if status in (TaskStatus.OPEN, TaskStatus.CLAIMED) and due_at is not None:
            for place in ((key, index), (key, None)):
                if place not in due or due_at < due[place][0]:
                    due[place] = (due_at, created_at, calendar_id)
    states = []
    steps = {step["key"]: step for step in template.steps}

    def with_due(entry: dict, place: tuple) -> dict:
        found = due.get(place) if entry["status"] == "active" else None
        if not found:
            return {**entry, "due_at": None, "due_explained": None}
        due_at, opened, calendar_id = found
        explained = None
        if reader:
            explained = explain_due(steps[place[0]], opened, reader[0], ZoneInfo(reader[1]), calendar_clock(calendar_id) if calendar_id else None)
        return {**entry, "due_at": due_at, "due_explained": explained}

    for step in template.steps:
        row = rows.get(step["key"])
        entry = {"key": step["key"], "title": step["title"], "status": row.status if row else "pending",
                 "reason": row.route if row else None, "instance": None}
        opened = instances.get(step["key"])
        if not opened:
            states.append(with_due(entry, (step["key"], None)))
            continue
        for index, (label, statuses) in opened.items():
            live = any(s in (TaskStatus.OPEN, TaskStatus.CLAIMED) for s in statuses)
            done = any(s == TaskStatus.COMPLETED for s in statuses)
            states.append(with_due({**entry, "instance": label, "status": "active" if live else "completed" if done else entry["status"]},
                                   (step["key"], index)))
    return states


def list_work_orders(*, user: User, filters: dict):
    """Visible work orders matching filters, newest first, as a select for pagination."""
    stmt = select(WorkOrder).order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
    clause = work_order_filter(user)
    if clause is not None:
        stmt = stmt.where(clause)
    for field in ("status", "source", "priority", "batch_no", "order_no", "customer_ref", "product_sku", "emotion"):
        if filters.get(field):
            stmt = stmt.where(getattr(WorkOrder, field) == filters[field])
    if filters.get("template"):
        stmt = stmt.where(WorkOrder.template_key == filters["template"])
    if filters.get("tag"):
        stmt = stmt.where(WorkOrder.id.in_(select(WorkOrderTag.work_order_id).where(WorkOrderTag.tag == filters["tag"])))
    if filters.get("department_id"):
        stmt = stmt.where(WorkOrder.id.in_(
            select(WorkOrderDepartment.work_order_id).where(WorkOrderDepartment.department_id == filters["department_id"])))
    for tree in ("business", "problem"):
        for level, value in enumerate(filters.get(tree) or [], start=1):
            stmt = stmt.where(getattr(WorkOrder, f"{tree}_{level}") == value)
    if filters.get("created_from"):
        stmt = stmt.where(WorkOrder.created_at >= filters["created_from"])
    if filters.get("created_to"):
        stmt = stmt.where(WorkOrder.created_at < filters["created_to"])
    if filters.get("overdue"):
        stmt = stmt.where(WorkOrder.status.in_(["open", "in_progress"]), WorkOrder.due_at < filters["now"])
    if filters.get("q"):
        pattern = like_pattern(filters["q"])
        stmt = stmt.where(or_(WorkOrder.number.like(pattern, escape=LIKE_ESCAPE), WorkOrder.title.like(pattern, escape=LIKE_ESCAPE)))
    return stmt


def cancel_work_order(*, user: User, work_order_id: int, reason: str, now: datetime) -> WorkOrder:
    """Cancel a work order and its open tasks (nothing is deleted)."""
    work_order = visible_work_order(user, work_order_id)
    work_order = db.session.get(WorkOrder, work_order.id, with_for_update=True, populate_existing=True)
    if work_order.created_by_id != user.id:
        require_lead(user, work_order)
    transition(work_order, "cancel")
    work_order.cancelled_at = now
    work_order.updated_at = now
    live = db.session.scalars(select(Task).where(Task.work_order_id == work_order.id, Task.status.in_(["open", "claimed"]))).all()
    engine.cancel_tasks(live, now)
    timeline.record(work_order_id=work_order.id, kind="cancelled", actor_id=user.id, now=now,
                    details={"reason": reason, "tasks_cancelled": [t.id for t in live]})
    db.session.commit()
    return work_order


def add_comment(*, user: User, work_order_id: int, body: str, now: datetime, occurred_at: datetime | None = None) -> TimelineEvent:
    """Comment on a visible work order."""
    work_order = visible_work_order(user, work_order_id)
    event = timeline.record(work_order_id=work_order.id, kind="commented", actor_id=user.id, now=now,
                            occurred_at=occurred_at, details={"body": body})
    db.session.commit()
    return event


def cancel_unstarted(*, work_order_ids: list[int], reason: str, details: dict, actor_id: int | None, now: datetime) -> dict:
    """Cancel, set-based, those of the work orders nobody has started (still `open`: no task claimed or completed),
    with their tasks, offers and timers, each with a `cancelled` event; the started ones are kept for their handlers
    to finish. In the caller's transaction. Answers {"cancelled": n, "kept": m} (kept: running, not yet closed).

    The set-based writer of `cancel_work_order`'s rule (the same transition, tasks, offers, timers and event), for the
    hundreds of work orders an andon's end may close in a few statements."""
    if not work_order_ids:
        return {"cancelled": 0, "kept": 0}
    rows = db.session.execute(select(WorkOrder.id, WorkOrder.status).where(among_ids(WorkOrder.id, work_order_ids))
                              .order_by(WorkOrder.id).with_for_update()).all()
    unstarted = [wo_id for wo_id, status in rows if status == WorkOrderStatus.OPEN]
    kept = sum(1 for _, status in rows if status == WorkOrderStatus.IN_PROGRESS)
    if unstarted:
        target = WORK_ORDER_TRANSITIONS["cancel"][1]
        db.session.execute(update(WorkOrder.__table__).where(among_ids(WorkOrder.__table__.c.id, unstarted))
                           .values(status=target.value, cancelled_at=now, updated_at=now))
        task_ids = list(db.session.scalars(
            update(Task.__table__).where(among_ids(Task.__table__.c.work_order_id, unstarted),
                                         Task.__table__.c.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]))
            .values(status=TaskStatus.CANCELLED.value, version=Task.__table__.c.version + 1).returning(Task.__table__.c.id)))
        engine.close_candidates(task_ids)
        disarm_task_timers(task_ids=task_ids)
        insert_rows(TimelineEvent.__table__, [{"work_order_id": wo_id} for wo_id in unstarted], task_id=None, kind="cancelled",
                    actor_id=actor_id, at=now, occurred_at=None, details={"reason": reason, **details})
    return {"cancelled": len(unstarted), "kept": kept}
