"""The flow engine: resolving handlers, activating steps, and moving a work order forward."""
from datetime import datetime

from sqlalchemy import Integer, String, bindparam, case, func, insert, literal, select, true, union_all, update
from sqlalchemy.orm.attributes import set_committed_value

from app.common.bulk import among_ids, insert_rows
from app.calendars.worktime import WorkingTime
from app.common.types import UTCDateTime
from app.extensions import db
from app.flows.forms import MAX_FOR_EACH_ITEMS, step_words
from app.flows.models import FlowTemplate
from app.flows.conditions import Facts
from app.flows.routing import branches, route
from app.flows.timing import due_at as step_due_at
from app.flows.timing import timer_plan
from app.flows.versions import held
from app.notify.service import notify_many
from app.org.models import User
from app.workorders import timeline
from app.workorders.dispatch import Offer, dispatch_of, hand_out_new
from app.workorders.models import (
    StepStatus,
    Task,
    TaskCandidate,
    TaskStatus,
    TimelineEvent,
    Timer,
    TimerStatus,
    WorkOrder,
    WorkOrderDepartment,
    WORK_ORDER_TRANSITIONS,
    WorkOrderStep,
    task_transition,
    work_order_transition,
)
from app.workorders.planner import ActivatedTask, ActivationPlanner, PlannedTask
from app.workorders.timers import disarm_task_timers


_TASK = Task.__table__


def _store_tasks(*, work_order: WorkOrder, wstep: WorkOrderStep, step: dict, planned: list[PlannedTask], due_at: datetime | None,
                 now: datetime, actor_id: int | None, route: dict | None = None, clock: WorkingTime | None = None) -> list[ActivatedTask]:
    """Write planned tasks with their candidates, timers and `activated` events: one INSERT per table, however many tasks."""
    each = step["mode"] == "each"
    db.session.flush()  # what the unit of work holds goes first, so the timeline keeps the order things happened in
    result = insert_rows(
        _TASK, [{"instance": p.instance, "instance_label": p.label, "assignee_id": p.members[0] if each else None} for p in planned],
        returning=(_TASK.c.id, _TASK.c.instance, _TASK.c.assignee_id),
        work_order_id=work_order.id, step_id=wstep.id, step=wstep.key, activation=wstep.activation, mode=step["mode"],
        template_key=work_order.template_key, dispatch=dispatch_of(step), status=TaskStatus.OPEN.value,
        priority=work_order.priority, due_at=due_at, escalation_level=0, created_at=now, calendar_id=clock.calendar_id if clock else None,
        claimed_at=None, completed_at=None, completed_effective_at=None, claimed_effective_at=None, device_time_untrusted=False,
        completed_by_id=None, outcome=None, note=None, data={}, version=1,
    )
    # An activation's tasks differ by instance, and in `each` mode by assignee: that names each new id.
    ids = {(instance, assignee): task_id for task_id, instance, assignee in result}
    stored = [ActivatedTask(ids[(p.instance, p.members[0] if each else None)], p.members[0] if each else None, p.members)
              for p in planned]
    candidates = [{"task_id": t.id, "user_id": u} for t in stored for u in t.members]
    if candidates:  # nobody at all (no handler, no department head, no creator) leaves a task waiting for a lead
        insert_rows(TaskCandidate.__table__, candidates, is_open=True, added_at=now)
    plan = timer_plan(step=step, due_at=due_at, now=now, clock=clock)
    if plan:
        timers = union_all(*[select(literal(kind, String).label("kind"), literal(level, Integer).label("level"),
                                    literal(fire_at, UTCDateTime).label("fire_at")) for kind, level, fire_at in plan]).subquery()
        db.session.execute(insert(Timer.__table__).from_select(
            ["task_id", "kind", "level", "fire_at", "status", "created_at"],
            select(_TASK.c.id, timers.c.kind, timers.c.level, timers.c.fire_at, literal(TimerStatus.PENDING.value, String), literal(now, UTCDateTime))
            .select_from(_TASK).join(timers, true()).where(among_ids(_TASK.c.id, [t.id for t in stored])),
        ))
    due = due_at.isoformat() if due_at else None
    insert_rows(TimelineEvent.__table__, [
        {"task_id": t.id, "details": activated_details(step, p, due, route)}
        for t, p in zip(stored, planned)
    ], work_order_id=work_order.id, kind="activated", actor_id=actor_id, at=now, occurred_at=None)
    return stored


def offer_requests(tasks: list[ActivatedTask], work_order: WorkOrder, step: dict) -> list[dict]:
    """The notifications telling handlers about their new tasks (task.offered for a pool, else task.assigned).

    One per task and handler; a handler given several tasks of one activation (a `for_each` step whose items
    share handlers) gets one notification that opens the work order, not one per item: a phone is not buzzed a
    thousand times, and a large activation writes as many notifications as it has handlers.
    """
    params = {"number": work_order.number, **step_words(step), "title": work_order.title}
    kind = "task.offered" if step["mode"] == "pool" else "task.assigned"
    given: dict[int, list[int]] = {}
    for task in tasks:
        for user_id in task.members:
            given.setdefault(user_id, []).append(task.id)
    single: dict[int, list[int]] = {}
    several: list[int] = []
    for user_id, task_ids in given.items():
        if len(task_ids) == 1:
            single.setdefault(task_ids[0], []).append(user_id)
        else:
            several.append(user_id)
    requests = [{"user_ids": user_ids, "kind": kind, "params": params, "about": {"task_id": task_id},
                 "priority": work_order.priority}
                for task_id, user_ids in single.items()]
    for user_id in several:
        requests.append({"user_ids": [user_id], "kind": kind, "params": params, "priority": work_order.priority,
                         "about": {"work_order_id": work_order.id, "step": step["key"], "tasks": len(given[user_id])}})
    return requests


def _hand_out(tasks: list[ActivatedTask], work_order: WorkOrder, step: dict, how: str, due_at: datetime | None, now: datetime,
              actor_id: int | None, clock: WorkingTime | None) -> list[dict]:
    """A dispatched step's new offers handed out at once (workorders.dispatch); answers the notifications to send.
    An offer nobody has room for waits in the pool, untold: the hand-out job gives it out, and tells, later."""
    offers = [Offer(t.id, work_order.id, step["key"], how, step.get("capacity"), tuple(t.members), work_order.priority,
                    due_at, now, clock.calendar_id if clock else None, work_order.number, work_order.title, step["title"])
              for t in tasks]
    decisions, requests = hand_out_new(template_key=work_order.template_key, step=step["key"], offers=offers, now=now,
                                       actor_id=actor_id)
    if decisions:
        start_locked(work_order, now)
    return requests


def _send(requests: list[dict], now: datetime, outbox: list[dict] | None) -> None:
    """Queue notifications now, or hold them in `outbox` for the caller (a new work order's wait for its number)."""
    if outbox is None:
        notify_many(requests, now)
    else:
        outbox.extend(requests)


def send_held(outbox: list[dict], *, work_order: WorkOrder, now: datetime) -> None:
    """Queue the notifications held back while the work order had no number yet, quoting its number."""
    for request in outbox:
        if "number" in request["params"]:
            request["params"] = {**request["params"], "number": work_order.number}
    if outbox:
        notify_many(outbox, now)


def _track_departments(work_order: WorkOrder, user_ids: set[int]) -> None:
    if not user_ids:
        return
    departments = set(db.session.scalars(select(User.department_id).where(among_ids(User.id, user_ids), User.department_id.is_not(None))))
    known = set(db.session.scalars(select(WorkOrderDepartment.department_id).where(WorkOrderDepartment.work_order_id == work_order.id)))
    for dept in departments - known:
        db.session.add(WorkOrderDepartment(work_order_id=work_order.id, department_id=dept))


def activated_details(step: dict, planned: PlannedTask, due: str | None, route: dict | None) -> dict:
    """The details of a task's `activated` event (also written by the bulk writer): the route that started the step
    is said only when a condition decided it."""
    details = {"step": step["key"], "mode": step["mode"], "candidates": planned.members, "instance": planned.label,
               "substituted": {str(k): v for k, v in planned.substitutions.items()}, "due_at": due}
    if route is not None:
        details["route"] = route
    return details


def activate_step(*, work_order: WorkOrder, wstep: WorkOrderStep, step: dict, now: datetime, actor_id: int | None,
                  only_users: list[int] | None = None, outbox: list[dict] | None = None,
                  route: dict | None = None) -> list[ActivatedTask]:
    """Open a step: resolve and store its handlers, create its tasks, arm their timers, notify."""
    wstep.status = StepStatus.ACTIVE
    wstep.route = route
    wstep.activation += 1
    wstep.activated_at = now
    planner = ActivationPlanner(now=now)
    clock = planner.clock(step, work_order.department_id)
    due_at = step_due_at(step, now, clock)
    planned = planner.plan(work_order=work_order, step=step, only_users=only_users)
    items = work_order.data.get(step["for_each"]) if step.get("for_each") else None
    if isinstance(items, list) and len(items) > MAX_FOR_EACH_ITEMS:
        timeline.record(work_order_id=work_order.id, kind="items_ignored", actor_id=actor_id, now=now,
                        details={"step": wstep.key, "items": len(items), "opened": MAX_FOR_EACH_ITEMS})
    if not planned:
        # A for_each over an empty list has nothing to do: the step is complete at once.
        timeline.record(work_order_id=work_order.id, kind="skipped", actor_id=actor_id, now=now,
                        details={"step": wstep.key, "reason": f"no items in data.{step.get('for_each')}"})
        wstep.status = StepStatus.COMPLETED
        wstep.completed_at = now
        tasks = []
    else:
        tasks = _store_tasks(work_order=work_order, wstep=wstep, step=step, planned=planned, due_at=due_at, now=now, actor_id=actor_id,
                             route=route, clock=clock)
        _track_departments(work_order, {u for t in tasks for u in t.members})
        how = dispatch_of(step)
        if how:
            _send(_hand_out(tasks, work_order, step, how, due_at, now, actor_id, clock), now, outbox)
        else:
            _send(offer_requests(tasks, work_order, step), now, outbox)
    if due_at and (work_order.due_at is None or due_at > work_order.due_at):
        work_order.due_at = due_at
    return tasks


def template_of(work_order: WorkOrder) -> FlowTemplate:
    return held(work_order.template_id)


def start(*, work_order: WorkOrder, template: FlowTemplate, now: datetime, actor_id: int | None,
          outbox: list[dict] | None = None) -> None:
    """Create the step rows of a new work order and start its roots (those the router starts), then move on."""
    wsteps = {}
    for step in template.steps:
        wstep = WorkOrderStep(work_order_id=work_order.id, key=step["key"], status=StepStatus.PENDING)
        db.session.add(wstep)
        wsteps[step["key"]] = wstep
    db.session.flush()
    _route(work_order=work_order, template=template, wsteps=wsteps, now=now, actor_id=actor_id, outbox=outbox)
    advance(work_order=work_order, template=template, now=now, actor_id=actor_id, outbox=outbox)


def _steps_by_key(work_order: WorkOrder) -> dict[str, WorkOrderStep]:
    return {s.key: s for s in db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order.id))}


def facts_of(work_order: WorkOrder) -> Facts:
    """What conditions read: the work order's data, and the outcomes and data of each step's finished instances
    (of its current activation)."""
    facts = Facts(data=work_order.data or {})
    for key, outcome, data in db.session.execute(
            select(Task.step, Task.outcome, Task.data).join(WorkOrderStep, WorkOrderStep.id == Task.step_id)
            .where(Task.work_order_id == work_order.id, Task.activation == WorkOrderStep.activation,
                   Task.status == TaskStatus.COMPLETED).order_by(Task.id)):
        facts.outcomes.setdefault(key, []).append(outcome)
        facts.step_data.setdefault(key, []).append(data or {})
    return facts


def _route(*, work_order: WorkOrder, template: FlowTemplate, wsteps: dict[str, WorkOrderStep], now: datetime,
           actor_id: int | None, outbox: list[dict] | None) -> bool:
    """Start or skip every ready step as the router decides (flows.routing); answers whether anything changed."""
    facts = facts_of(work_order) if branches(template.steps) else None
    decisions = route(template.steps, {k: w.status for k, w in wsteps.items()}, facts)
    for decision in decisions:
        wstep = wsteps[decision.key]
        if decision.start:
            activate_step(work_order=work_order, wstep=wstep, step=template.step(decision.key), now=now, actor_id=actor_id,
                          outbox=outbox, route=decision.reason)
        else:
            skip_step(work_order=work_order, wstep=wstep, reason=decision.reason, now=now, actor_id=actor_id)
    return bool(decisions)


def skip_step(*, work_order: WorkOrder, wstep: WorkOrderStep, reason: dict | None, now: datetime, actor_id: int | None) -> None:
    """A branch not taken: the step is skipped, and the timeline says which condition decided it."""
    wstep.status = StepStatus.SKIPPED
    wstep.route = reason
    wstep.completed_at = None
    timeline.record(work_order_id=work_order.id, kind="step_skipped", actor_id=actor_id, now=now,
                    details={"step": wstep.key, "reason": reason})


def advance(*, work_order: WorkOrder, template: FlowTemplate, now: datetime, actor_id: int | None,
            outbox: list[dict] | None = None) -> None:
    """Complete steps whose tasks are all done, start or skip the steps that became ready (the router decides),
    resolve when every step is completed or skipped.

    Callers hold the work order's row lock, so two handlers finishing parallel branches at once
    cannot both miss the join.
    """
    changed = True
    while changed:
        changed = False
        wsteps = _steps_by_key(work_order)
        for wstep in wsteps.values():
            if wstep.status != StepStatus.ACTIVE:
                continue
            live = db.session.scalar(
                select(func.count()).select_from(Task).where(
                    Task.step_id == wstep.id, Task.activation == wstep.activation,
                    Task.status.in_([TaskStatus.OPEN, TaskStatus.CLAIMED]),
                )
            )
            if live == 0:
                wstep.status = StepStatus.COMPLETED
                wstep.completed_at = now
                timeline.record(work_order_id=work_order.id, kind="step_completed", actor_id=actor_id, now=now, details={"step": wstep.key})
                changed = True
        if any(w.status == StepStatus.PENDING for w in wsteps.values()):
            changed = _route(work_order=work_order, template=template, wsteps=wsteps, now=now, actor_id=actor_id,
                             outbox=outbox) or changed
    if all(s.status in (StepStatus.COMPLETED, StepStatus.SKIPPED) for s in _steps_by_key(work_order).values()):
        resolve(work_order=work_order, now=now, actor_id=actor_id, outbox=outbox)


def resolve(*, work_order: WorkOrder, now: datetime, actor_id: int | None, outbox: list[dict] | None = None) -> None:
    """Every step is done: the work order is resolved (once; a cancelled one stays cancelled), its creator told."""
    target = work_order_transition(work_order.status, "resolve")
    if target is None:
        return
    work_order.status = target
    work_order.resolved_at = now
    work_order.updated_at = now
    timeline.record(work_order_id=work_order.id, kind="resolved", actor_id=actor_id, now=now)
    _send([{"user_ids": [work_order.created_by_id], "kind": "work_order.resolved",
            "params": {"number": work_order.number, "title": work_order.title}, "about": {"work_order_id": work_order.id},
            "priority": work_order.priority}], now, outbox)


def mark_started(work_order: WorkOrder, now: datetime) -> None:
    """`in_progress` from the first claim or completion."""
    target = work_order_transition(work_order.status, "start")
    if target is not None:
        work_order.status = target
        work_order.started_at = now
    work_order.updated_at = now


def close_candidates(task_ids: list[int]) -> None:
    """Take finished or taken tasks out of the candidates' live inboxes."""
    if task_ids:
        db.session.execute(
            update(TaskCandidate).where(TaskCandidate.task_id.in_(task_ids)).values(is_open=False)
            .execution_options(synchronize_session=False)
        )


_CLOSE_OFFER = (
    update(TaskCandidate.__table__).where(TaskCandidate.__table__.c.task_id == bindparam("closing_task_id")).values(is_open=False)
    .returning(TaskCandidate.__table__.c.user_id)
)


def close_offer(task_id: int) -> list[int]:
    """`close_candidates` for one task, answering its candidates (one statement: UPDATE ... RETURNING)."""
    return sorted(db.session.scalars(_CLOSE_OFFER, {"closing_task_id": task_id}))


_STARTS_FROM, _STARTED = WORK_ORDER_TRANSITIONS["start"]
_START = (
    update(WorkOrder.__table__).where(WorkOrder.__table__.c.id == bindparam("work_order_id")).values(
        status=case((WorkOrder.__table__.c.status.in_([s.value for s in _STARTS_FROM]), _STARTED.value),
                    else_=WorkOrder.__table__.c.status),
        started_at=case((WorkOrder.__table__.c.status.in_([s.value for s in _STARTS_FROM]), bindparam("now", type_=UTCDateTime())),
                        else_=WorkOrder.__table__.c.started_at),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
)


def start_locked(work_order: WorkOrder, now: datetime) -> None:
    """`mark_started` as one UPDATE, for a work order the caller has locked and loaded (no flush, no reload)."""
    db.session.execute(_START, {"work_order_id": work_order.id, "now": now})
    target = work_order_transition(work_order.status, "start")
    if target is not None:
        set_committed_value(work_order, "status", target)
        set_committed_value(work_order, "started_at", now)
    set_committed_value(work_order, "updated_at", now)


def start_many(work_order_ids, now: datetime) -> None:
    """`mark_started` for many work orders at once (tasks handed out by a dispatch), one UPDATE."""
    if work_order_ids:
        table = WorkOrder.__table__
        db.session.execute(update(table).where(among_ids(table.c.id, work_order_ids), table.c.status.in_([s.value for s in _STARTS_FROM]))
                           .values(status=_STARTED.value, started_at=now, updated_at=now))


def cancel_tasks(tasks: list[Task], now: datetime) -> None:
    """Cancel running tasks (a return, a cancelled work order, a removed handler): out of inboxes, timers stale."""
    tasks = [t for t in tasks if task_transition(t.status, "cancel") is not None]
    for task in tasks:
        task.status = task_transition(task.status, "cancel")
    ids = [t.id for t in tasks]
    close_candidates(ids)
    disarm_task_timers(task_ids=ids)
