"""The flow engine: resolving handlers, activating steps, and moving a work order forward."""
from datetime import datetime

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.common.types import UTCDateTime
from app.escalation.service import arm_task_timers, disarm_task_timers
from app.extensions import db
from app.flows.graph import parse_duration
from app.flows.models import FlowTemplate
from app.notify.service import notify
from app.org.models import Department, GroupMember, User, UserRole
from app.org.service import manager_chain, stand_in_for
from app.workorders import timeline
from app.workorders.models import (
    StepStatus,
    Task,
    TaskCandidate,
    TaskStatus,
    WorkOrder,
    WorkOrderDepartment,
    WorkOrderStatus,
    WorkOrderStep,
)


def resolve_spec(spec: dict | None, data: dict) -> list[int]:
    """Active users named by an assignee spec (users, groups, departments, roles, from_data)."""
    spec = spec or {}
    ids: set[int] = set(u for u in spec.get("users") or [] if isinstance(u, int))
    if spec.get("groups"):
        ids |= set(db.session.scalars(select(GroupMember.user_id).where(GroupMember.group_id.in_(spec["groups"]))))
    if spec.get("departments"):
        ids |= set(db.session.scalars(select(User.id).where(User.department_id.in_(spec["departments"]))))
    for role in spec.get("roles") or []:
        stmt = select(UserRole.user_id).where(UserRole.role == role["role"])
        if role.get("department") is not None:
            stmt = stmt.join(User, User.id == UserRole.user_id).where(User.department_id == role["department"])
        ids |= set(db.session.scalars(stmt))
    if spec.get("from_data"):
        value = data.get(spec["from_data"])
        values = value if isinstance(value, list) else [value]
        ids |= {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    if not ids:
        return []
    return sorted(db.session.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True))))


def available_handlers(user_ids: list[int]) -> tuple[list[int], dict[int, int]]:
    """Replace people who are away by their stand-in (delegate, else the first available manager)."""
    if not user_ids:
        return [], {}
    users = db.session.scalars(select(User).where(User.id.in_(user_ids))).all()
    result, substitutions = [], {}
    for user in users:
        stand_in = stand_in_for(user=user)
        if stand_in is None:
            stand_in = next((m for m in manager_chain(user_id=user.id, levels=10) if m.active and m.on_duty), None)
        if stand_in is None:
            continue
        if stand_in.id != user.id:
            substitutions[user.id] = stand_in.id
        result.append(stand_in.id)
    return sorted(set(result)), substitutions


def _fallback_handlers(work_order: WorkOrder) -> list[int]:
    """Nobody's work waits on nobody: the owning department's head, else the creator."""
    if work_order.department_id:
        head = db.session.scalar(select(Department.head_id).where(Department.id == work_order.department_id))
        if head:
            return [head]
    return [work_order.created_by_id] if work_order.created_by_id else []


def _instances(step: dict, work_order: WorkOrder) -> list[tuple[int | None, str | None, dict | None]]:
    """(index, label, own assignee spec) for each instance of a step; one instance unless `for_each`."""
    if not step.get("for_each"):
        return [(None, None, None)]
    items = work_order.data.get(step["for_each"]) or []
    instances = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            label = str(item.get("label") or item.get("name") or item.get("code") or i + 1)
            instances.append((i, label[:200], item.get("assignees")))
        else:
            instances.append((i, str(item)[:200], None))
    return instances


def _notify_offer(tasks: list[Task], work_order: WorkOrder, step: dict, now: datetime, candidates: dict[int, list[int]]):
    params = {"number": work_order.number, "step": step["title"], "title": work_order.title}
    for task in tasks:
        url = f"/#/task/{task.id}"
        tag = f"task-{task.id}"
        if task.mode == "pool":
            notify(user_ids=candidates[task.id], kind="task.offered", params=params, url=url, tag=tag,
                   priority=work_order.priority, now=now, data={"task_id": task.id, "actions": ["claim", "open"]})
        else:
            notify(user_ids=candidates[task.id], kind="task.assigned", params=params, url=url, tag=tag,
                   priority=work_order.priority, now=now, data={"task_id": task.id})


def _track_departments(work_order: WorkOrder, user_ids: set[int]) -> None:
    if not user_ids:
        return
    departments = set(db.session.scalars(select(User.department_id).where(User.id.in_(user_ids), User.department_id.is_not(None))))
    known = set(db.session.scalars(select(WorkOrderDepartment.department_id).where(WorkOrderDepartment.work_order_id == work_order.id)))
    for dept in departments - known:
        db.session.add(WorkOrderDepartment(work_order_id=work_order.id, department_id=dept))


def activate_step(*, work_order: WorkOrder, wstep: WorkOrderStep, step: dict, now: datetime, actor_id: int | None,
                  only_users: list[int] | None = None) -> list[Task]:
    """Open a step: resolve and store its handlers, create its tasks, arm their timers, notify."""
    wstep.status = StepStatus.ACTIVE
    wstep.activation += 1
    wstep.activated_at = now
    due_at = now + parse_duration(step["sla"]) if step.get("sla") else None
    tasks, candidates_by_task, everyone = [], {}, set()
    for index, label, own_spec in _instances(step, work_order):
        if only_users is not None:
            named = only_users
        else:
            named = resolve_spec(own_spec if own_spec else step.get("assignees"), work_order.data)
        handlers, substitutions = available_handlers(named)
        if not handlers:
            handlers = _fallback_handlers(work_order)
            substitutions = {"fallback": handlers}
        groups = [[h] for h in handlers] if step["mode"] == "each" else [handlers]
        for members in groups:
            task = Task(
                work_order_id=work_order.id, step_id=wstep.id, step=wstep.key, activation=wstep.activation,
                instance=index, instance_label=label, mode=step["mode"], status=TaskStatus.OPEN,
                priority=work_order.priority, assignee_id=members[0] if step["mode"] == "each" else None,
                due_at=due_at, created_at=now,
            )
            db.session.add(task)
            db.session.flush()
            db.session.add_all(TaskCandidate(task_id=task.id, user_id=u, added_at=now) for u in members)
            arm_task_timers(task=task, step=step, now=now)
            timeline.record(work_order_id=work_order.id, task_id=task.id, kind="activated", actor_id=actor_id, now=now,
                            details={"step": wstep.key, "mode": step["mode"], "candidates": members, "instance": label,
                                     "substituted": {str(k): v for k, v in substitutions.items()}, "due_at": due_at.isoformat() if due_at else None})
            tasks.append(task)
            candidates_by_task[task.id] = members
            everyone |= set(members)
    if not tasks:
        # A for_each over an empty list has nothing to do: the step is complete at once.
        timeline.record(work_order_id=work_order.id, kind="skipped", actor_id=actor_id, now=now,
                        details={"step": wstep.key, "reason": f"no items in data.{step.get('for_each')}"})
        wstep.status = StepStatus.COMPLETED
        wstep.completed_at = now
    _track_departments(work_order, everyone)
    _notify_offer(tasks, work_order, step, now, candidates_by_task)
    if due_at and (work_order.due_at is None or due_at > work_order.due_at):
        work_order.due_at = due_at
    return tasks


def template_of(work_order: WorkOrder) -> FlowTemplate:
    return db.session.get(FlowTemplate, work_order.template_id)


def start(*, work_order: WorkOrder, template: FlowTemplate, now: datetime, actor_id: int | None) -> None:
    """Create the step rows of a new work order and activate its roots (and whatever completes at once)."""
    wsteps = {}
    for step in template.steps:
        wstep = WorkOrderStep(work_order_id=work_order.id, key=step["key"], status=StepStatus.PENDING)
        db.session.add(wstep)
        wsteps[step["key"]] = wstep
    db.session.flush()
    for step in template.steps:
        if not step.get("after"):
            activate_step(work_order=work_order, wstep=wsteps[step["key"]], step=step, now=now, actor_id=actor_id)
    advance(work_order=work_order, template=template, now=now, actor_id=actor_id)


def _steps_by_key(work_order: WorkOrder) -> dict[str, WorkOrderStep]:
    return {s.key: s for s in db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order.id))}


def advance(*, work_order: WorkOrder, template: FlowTemplate, now: datetime, actor_id: int | None) -> None:
    """Complete steps whose tasks are all done, activate steps whose predecessors are all done, resolve at the end.

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
        for step in template.steps:
            wstep = wsteps[step["key"]]
            if wstep.status == StepStatus.PENDING and step.get("after") and all(
                wsteps[p].status == StepStatus.COMPLETED for p in step["after"]
            ):
                activate_step(work_order=work_order, wstep=wstep, step=step, now=now, actor_id=actor_id)
                changed = True
    if all(s.status == StepStatus.COMPLETED for s in _steps_by_key(work_order).values()):
        resolve(work_order=work_order, now=now, actor_id=actor_id)


def resolve(*, work_order: WorkOrder, now: datetime, actor_id: int | None) -> None:
    if work_order.status in (WorkOrderStatus.RESOLVED, WorkOrderStatus.CANCELLED):
        return
    work_order.status = WorkOrderStatus.RESOLVED
    work_order.resolved_at = now
    work_order.updated_at = now
    timeline.record(work_order_id=work_order.id, kind="resolved", actor_id=actor_id, now=now)
    notify(user_ids=[work_order.created_by_id], kind="work_order.resolved",
           params={"number": work_order.number, "title": work_order.title}, url=f"/#/wo/{work_order.id}",
           tag=f"wo-{work_order.id}", priority=work_order.priority, now=now)


def mark_started(work_order: WorkOrder, now: datetime) -> None:
    """`in_progress` from the first claim or completion."""
    if work_order.status == WorkOrderStatus.OPEN:
        work_order.status = WorkOrderStatus.IN_PROGRESS
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


_START = (
    update(WorkOrder.__table__).where(WorkOrder.__table__.c.id == bindparam("work_order_id")).values(
        status=case((WorkOrder.__table__.c.status == WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS.value),
                    else_=WorkOrder.__table__.c.status),
        started_at=case((WorkOrder.__table__.c.status == WorkOrderStatus.OPEN, bindparam("now", type_=UTCDateTime())),
                        else_=WorkOrder.__table__.c.started_at),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
)


def start_locked(work_order: WorkOrder, now: datetime) -> None:
    """`mark_started` as one UPDATE, for a work order the caller has locked and loaded (no flush, no reload)."""
    db.session.execute(_START, {"work_order_id": work_order.id, "now": now})
    if work_order.status == WorkOrderStatus.OPEN:
        set_committed_value(work_order, "status", WorkOrderStatus.IN_PROGRESS)
        set_committed_value(work_order, "started_at", now)
    set_committed_value(work_order, "updated_at", now)


def cancel_tasks(tasks: list[Task], now: datetime) -> None:
    for task in tasks:
        task.status = TaskStatus.CANCELLED
    ids = [t.id for t in tasks]
    close_candidates(ids)
    disarm_task_timers(task_ids=ids)
