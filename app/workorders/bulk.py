"""Opening thousands of work orders of one template at once, row for row what the engine writes.

`create_work_order` costs a couple of dozen statements per work order; a recall of 100,000
delivered orders needs the same rows written set-based. For each work order this writes what
`app.workorders.service.create_work_order` + `engine.start` would: a number from the day's
counter (`numbers.reserve_numbers`: one upsert reserves the whole range), the work order, its
departments, a `created` event, one step row per template step (roots active with activation 1,
the others pending), the root steps' tasks with their stored candidates (`is_open`), an
`activated` event per task, the candidates' departments, and the durable timers. Which tasks,
for whom, due when and with which timers is decided by the engine's own rules — the activation
planner (`planner.ActivationPlanner`), `flows.timing.due_at` and `flows.timing.timer_plan` — so
this module only writes their plan. From then on the engine drives these work orders like any
other (claim, complete, the next step activates).

How: the work orders go in with one COPY (PostgreSQL, ids drawn from their sequence) or batched
inserts (SQLite); a root step whose handlers are the same for every work order (no `for_each`, not
`each`, no `from_data`) is then written with a handful of INSERT … SELECT statements over the new
work orders, whatever their number; other root steps are planned per work order and inserted in bulk.

Offers are announced with one notification per candidate and batch instead of one per task:
a person offered 5,000 recall tasks at once gets one message, not 5,000.
"""
import json
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Integer, String, false, insert as insert_plain, literal, null, select, true

from app.calendars.worktime import WorkingTime
from app.common.bulk import chunks, in_list, load_rows, load_rows_returning_ids
from app.common.models import JSONType, UTCDateTime
from app.errors import Invalid
from app.extensions import db
from app.flows.forms import validate_values
from app.flows.models import FlowTemplate
from app.flows.conditions import Facts
from app.flows.routing import PENDING, Decision, branches, route
from app.flows.timing import due_at, timer_plan
from app.notify.service import notify_many
from app.org.models import User
from app.workorders.numbers import reserve_numbers
from app.workorders.dispatch import Offer, dispatch_of, hand_out_new
from app.workorders.engine import activated_details, start_many
from app.workorders.planner import ActivationPlanner, PlannedTask, opened_details, work_order_values
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
    WorkOrderStep,
)

def _plan_tasks(planner: ActivationPlanner, step: dict, work_order) -> list[PlannedTask] | None:
    """The tasks the engine would open for a root step; None when it would open none (the engine skips the step)."""
    return planner.plan(work_order=work_order, step=step) or None


def _is_uniform(step: dict) -> bool:
    """Same handlers for every work order: one instance, one task, and a spec that does not read the data."""
    return not step.get("for_each") and step["mode"] != "each" and not (step.get("assignees") or {}).get("from_data")


def create_work_orders(*, template: FlowTemplate, items: list[dict], now: datetime, tz: str, created_by_id: int | None,
                       department_id: int | None, source: str) -> list[tuple[int, str]]:
    """Open one work order per item (title, data, refs) in a few set-based statements; answers [(id, number)] in item order.

    The router (flows.routing) decides each work order's first steps from its data, as the engine would; work orders
    that take the same route are written together. Runs in the caller's transaction; the caller commits.
    """
    if not items:
        return []
    routes: dict[str, tuple[list[Decision], list[int]]] = {}
    checked = []
    pending = {s["key"]: PENDING for s in template.steps}
    branching = branches(template.steps)  # without conditions every work order takes the same route: decided once
    same_route = None if branching else route(template.steps, pending, None)
    for index, item in enumerate(items):
        data = item.get("data") or {}
        if template.form:
            data, errors = validate_values(template.form, data)
            if errors:
                raise Invalid("A bulk work order is not valid.", details=errors)
        checked.append({**item, "data": data})
        decisions = route(template.steps, pending, Facts(data=data)) if branching else same_route
        if not any(d.start for d in decisions):
            raise Invalid("Every step of this work order would be skipped; open it through the engine.", code="bulk_not_supported")
        signature = json.dumps(decisions, sort_keys=True, default=str) if branching else ""
        routes.setdefault(signature, (decisions, []))[1].append(index)
    opened: list[tuple[int, str] | None] = [None] * len(items)
    numbers = reserve_numbers(now=now, tz=tz, count=len(items))  # in item order, whichever route each takes
    planner = ActivationPlanner(now=now)  # the engine's planner: it remembers what it resolved across the batch and routes
    for decisions, indexes in routes.values():
        group = _create_group(template=template, items=[checked[i] for i in indexes], numbers=[numbers[i] for i in indexes],
                              decisions=decisions, now=now, created_by_id=created_by_id, department_id=department_id,
                              source=source, planner=planner)
        for index, pair in zip(indexes, group):
            opened[index] = pair
    return opened


def _create_group(*, template: FlowTemplate, items: list[dict], numbers: list[str], decisions: list[Decision], now: datetime,
                  created_by_id: int | None, department_id: int | None, source: str, planner: ActivationPlanner) -> list[tuple[int, str]]:
    """Open work orders that take the same route: the steps `decisions` start, the ones they skip, the rest pending."""
    owner = department_id or template.owner_department_id
    started = {d.key: d.reason for d in decisions if d.start}
    skipped = {d.key: d.reason for d in decisions if not d.start}
    roots = [s for s in template.steps if s["key"] in started]
    blank = SimpleNamespace(data={}, department_id=owner, created_by_id=created_by_id)
    # A root step whose handlers do not depend on the work order is resolved once and written INSERT … SELECT;
    # the others (for_each, each, from_data) are planned per work order.
    uniform = {s["key"]: _plan_tasks(planner, s, blank)[0] for s in roots if _is_uniform(s)}

    plans = []
    for item in items:
        data = item["data"]
        step_tasks = {}
        for step in roots:
            if step["key"] in uniform:
                continue
            planned = _plan_tasks(planner, step, SimpleNamespace(data=data, department_id=owner, created_by_id=created_by_id))
            if planned is None:
                raise Invalid(f"Step {step['key']!r} would open no task; open this work order through the engine.",
                              code="bulk_not_supported")
            step_tasks[step["key"]] = planned
        plans.append((item, data, step_tasks))

    clocks = {s["key"]: planner.clock(s, owner) for s in roots}
    due = {s["key"]: due_at(s, now, clocks[s["key"]]) for s in roots}
    wo_due = max((d for d in due.values() if d), default=None)
    wo_rows = [
        {**work_order_values(template=template, body={**item, "data": data}, source=source, department_id=owner,
                             created_by_id=created_by_id, now=now), "number": number, "due_at": wo_due}
        for number, (item, data, _) in zip(numbers, plans)
    ]
    wo_ids = load_rows_returning_ids(WorkOrder.__table__, wo_rows)
    ours = in_list(WorkOrder.id, wo_ids)

    _event_on_each(ours, "created", opened_details(template, source), created_by_id, now)

    for step in template.steps:
        key = step["key"]
        status = StepStatus.ACTIVE if key in started else StepStatus.SKIPPED if key in skipped else StepStatus.PENDING
        reason = started.get(key) if key in started else skipped.get(key)
        _insert_select(WorkOrderStep, select(
            WorkOrder.id, literal(key), literal(status.value), literal(1 if key in started else 0),
            literal(now if key in started else None, UTCDateTime), null(), null(),
            literal(reason, JSONType) if reason is not None else null(),
        ).where(ours).order_by(WorkOrder.id), "work_order_id", "key", "status", "activation", "activated_at", "completed_at",
            "last_handler_id", "route")
    offered: dict[int, list[str]] = {}
    everyone_by_wo: dict[int, set[int]] = {}
    everyone_uniform: set[int] = set()
    to_hand_out: dict[str, list[Offer]] = {}
    for decision in decisions:  # in the order the router decided, as the engine writes them
        if not decision.start:  # the engine's `step_skipped` event
            _event_on_each(ours, "step_skipped", {"step": decision.key, "reason": decision.reason}, created_by_id, now)
            continue
        step = template.step(decision.key)
        how = dispatch_of(step)
        clock = clocks[step["key"]]
        if step["key"] in uniform:
            planned = uniform[step["key"]]
            _uniform_tasks(step, planned, ours, wo_ids, due[step["key"]], created_by_id, now, decision.reason, clock)
            everyone_uniform.update(planned.members)
            if how:
                new = db.session.execute(select(Task.id, Task.work_order_id).where(in_list(Task.work_order_id, wo_ids),
                                                                                   Task.step == step["key"])).all()
                new_tasks = [(task_id, wo_id, planned.members) for task_id, wo_id in new]
            else:
                for user_id in planned.members:
                    offered.setdefault(user_id, []).extend([step["title"]] * len(wo_ids))
        else:
            new_tasks = _planned_tasks(step, wo_ids, wo_rows, plans, due[step["key"]], created_by_id, now,
                                       {} if how else offered, everyone_by_wo, decision.reason, clock)
        if how:
            rows = dict(zip(wo_ids, wo_rows))
            to_hand_out[step["key"]] = [
                Offer(task_id, wo_id, step["key"], how, step.get("capacity"), tuple(members), rows[wo_id]["priority"],
                      due[step["key"]], now, clock.calendar_id if clock else None, rows[wo_id]["number"], rows[wo_id]["title"],
                      step["title"])
                for task_id, wo_id, members in new_tasks]

    user_departments = _departments_of(everyone_uniform | {u for users in everyone_by_wo.values() for u in users})
    base_departments = {d for d in (owner, template.owner_department_id) if d}
    base_departments |= {user_departments[u] for u in everyone_uniform if user_departments.get(u)}
    if everyone_by_wo:
        department_rows = []
        for wo_id in wo_ids:
            departments = base_departments | {user_departments[u] for u in everyone_by_wo.get(wo_id, ()) if user_departments.get(u)}
            department_rows.extend({"work_order_id": wo_id, "department_id": d} for d in sorted(departments))
        load_rows(WorkOrderDepartment.__table__, department_rows)
    else:
        for department in sorted(base_departments):
            _insert_select(WorkOrderDepartment, select(WorkOrder.id, literal(department, Integer)).where(ours).order_by(WorkOrder.id),
                           "work_order_id", "department_id")

    _announce(offered, numbers, template, items, now)
    for step_key, offers in to_hand_out.items():  # dispatched steps: each offer handed out at once, the holders told
        handed, notices = hand_out_new(template_key=template.key, step=step_key, offers=offers, now=now, actor_id=created_by_id)
        start_many({offer.work_order_id for offer, _ in handed}, now)
        notify_many(notices, now=now)
    return list(zip(wo_ids, numbers))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _insert_select(model, stmt, *columns: str) -> None:
    db.session.execute(insert_plain(model.__table__).from_select(list(columns), stmt))


def _event_on_each(ours, kind: str, details: dict, actor_id: int | None, now: datetime) -> None:
    """The same work-order event (no task) on every new work order, in one INSERT … SELECT."""
    _insert_select(TimelineEvent, select(
        WorkOrder.id, null(), literal(kind), literal(actor_id, Integer), literal(now, UTCDateTime), null(), literal(details, JSONType),
    ).where(ours).order_by(WorkOrder.id), "work_order_id", "task_id", "kind", "actor_id", "at", "occurred_at", "details")


def _uniform_tasks(step: dict, planned: PlannedTask, ours, wo_ids: list[int], due_at: datetime | None, created_by_id: int | None,
                   now: datetime, route_reason: dict | None, clock: WorkingTime | None) -> None:
    """One task per work order for a root step with the same handlers everywhere, all written set-based."""
    _insert_select(Task, select(
        WorkOrderStep.work_order_id, WorkOrderStep.id, WorkOrderStep.key, literal(1), null(), null(), literal(step["mode"]),
        WorkOrder.template_key, literal(dispatch_of(step), String), literal(TaskStatus.OPEN.value), WorkOrder.priority, null(), literal(due_at, UTCDateTime),
        literal(clock.calendar_id if clock else None, Integer), literal(0), literal(now, UTCDateTime),
        null(), null(), null(), null(), false(), null(), null(), null(), literal({}, JSONType), literal(1),
    ).join(WorkOrder, WorkOrder.id == WorkOrderStep.work_order_id)
        .where(ours, WorkOrderStep.key == step["key"]).order_by(WorkOrderStep.work_order_id),
        "work_order_id", "step_id", "step", "activation", "instance", "instance_label", "mode", "template_key", "dispatch", "status",
        "priority", "assignee_id",
        "due_at", "calendar_id", "escalation_level", "created_at", "claimed_at", "completed_at", "completed_effective_at", "claimed_effective_at",
        "device_time_untrusted", "completed_by_id", "outcome", "note", "data", "version")
    new_tasks = select(Task.id, Task.work_order_id).where(in_list(Task.work_order_id, wo_ids), Task.step == step["key"]).subquery()
    for user_id in planned.members:
        _insert_select(TaskCandidate, select(new_tasks.c.id, literal(user_id, Integer), true(), literal(now, UTCDateTime))
                       .order_by(new_tasks.c.id), "task_id", "user_id", "is_open", "added_at")
    for kind, level, fire_at in timer_plan(step=step, due_at=due_at, now=now, clock=clock):
        _insert_select(Timer, select(new_tasks.c.id, literal(kind), literal(level), literal(fire_at, UTCDateTime), literal(TimerStatus.PENDING.value),
                                     literal(now, UTCDateTime), null(), null()).order_by(new_tasks.c.id),
                       "task_id", "kind", "level", "fire_at", "status", "created_at", "fired_at", "result")
    _insert_select(TimelineEvent, select(
        new_tasks.c.work_order_id, new_tasks.c.id, literal("activated"), literal(created_by_id, Integer), literal(now, UTCDateTime),
        null(), literal(activated_details(step, planned, _iso(due_at), route_reason), JSONType),
    ).order_by(new_tasks.c.id), "work_order_id", "task_id", "kind", "actor_id", "at", "occurred_at", "details")


def _planned_tasks(step: dict, wo_ids: list[int], wo_rows: list[dict], plans: list, due_at: datetime | None,
                   created_by_id: int | None, now: datetime, offered: dict, everyone_by_wo: dict, route_reason: dict | None,
                   clock: WorkingTime | None) -> list[tuple[int, int, list[int]]]:
    """The tasks of a root step whose instances or handlers differ per work order (for_each, each, from_data), row by row;
    answers (task id, work order id, handlers) of each."""
    step_id = dict(db.session.execute(select(WorkOrderStep.work_order_id, WorkOrderStep.id).where(
        in_list(WorkOrderStep.work_order_id, wo_ids), WorkOrderStep.key == step["key"])).all())
    task_rows, task_meta = [], []
    no_data: dict = {}
    for wo_id, wo_row, (_, _, step_tasks) in zip(wo_ids, wo_rows, plans):
        for planned in step_tasks[step["key"]]:
            task_rows.append({
                "work_order_id": wo_id, "step_id": step_id[wo_id], "step": step["key"], "activation": 1,
                "instance": planned.instance, "instance_label": planned.label, "mode": step["mode"],
                "template_key": wo_row["template_key"], "dispatch": dispatch_of(step),
                "status": TaskStatus.OPEN.value, "priority": wo_row["priority"],
                "assignee_id": planned.members[0] if step["mode"] == "each" and planned.members else None,
                "due_at": due_at, "calendar_id": clock.calendar_id if clock else None, "escalation_level": 0, "created_at": now,
                "claimed_at": None,
                "completed_at": None, "completed_effective_at": None, "claimed_effective_at": None,
                "device_time_untrusted": False, "completed_by_id": None, "outcome": None, "note": None, "data": no_data, "version": 1,
            })
            task_meta.append(planned)
    task_ids = load_rows_returning_ids(Task.__table__, task_rows)
    timers = timer_plan(step=step, due_at=due_at, now=now, clock=clock)
    candidate_rows, timer_rows, event_rows, details = [], [], [], {}
    for task_id, row, planned in zip(task_ids, task_rows, task_meta):
        members = planned.members
        candidate_rows.extend({"task_id": task_id, "user_id": u, "is_open": True, "added_at": now} for u in members)
        timer_rows.extend({"task_id": task_id, "kind": kind, "level": level, "fire_at": fire_at, "status": TimerStatus.PENDING.value,
                           "created_at": now, "fired_at": None, "result": None} for kind, level, fire_at in timers)
        key = (planned.label, id(members), id(planned.substitutions))
        if key not in details:
            details[key] = activated_details(step, planned, _iso(due_at), route_reason)
        event_rows.append({"work_order_id": row["work_order_id"], "task_id": task_id, "kind": "activated", "actor_id": created_by_id,
                           "at": now, "occurred_at": None, "details": details[key]})
        everyone_by_wo.setdefault(row["work_order_id"], set()).update(members)
        for user_id in members:
            offered.setdefault(user_id, []).append(step["title"])
    load_rows(TaskCandidate.__table__, candidate_rows)
    load_rows(Timer.__table__, timer_rows)
    load_rows(TimelineEvent.__table__, event_rows)
    return [(task_id, row["work_order_id"], planned.members) for task_id, row, planned in zip(task_ids, task_rows, task_meta)]


def _departments_of(user_ids: set[int]) -> dict[int, int | None]:
    found = {}
    for part in chunks(sorted(user_ids)):
        found.update(dict(db.session.execute(select(User.id, User.department_id).where(in_list(User.id, part))).all()))
    return found


def _announce(offered: dict[int, list[str]], numbers: list[str], template: FlowTemplate, items: list[dict], now: datetime) -> None:
    """One offer per candidate for the whole batch, in the engine's `task.offered` words."""
    span = numbers[0] if len(numbers) == 1 else f"{numbers[0]} … {numbers[-1]}"
    notify_many([
        {"user_ids": [user_id], "kind": "task.offered", "priority": template.priority,
         "about": {"template": template.key, "first": numbers[0], "work_orders": len(steps)},
         "params": {"number": span, "step": steps[0], "title": items[0]["title"] if len(items) == 1 else f"{template.name} ×{len(steps)}"}}
        for user_id, steps in offered.items()
    ], now=now)
