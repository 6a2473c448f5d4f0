"""Acting on tasks: claim, release, complete, return, transfer, add or remove handlers; the inbox."""
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Boolean, and_, bindparam, case, exists, inspect, or_, select, union, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.exc import StaleDataError

from app.common.offline import effective_time
from app.common.types import UTCDateTime
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.flows.forms import for_each_errors, validate_values
from app.flows.models import FlowTemplate
from app.notify.service import notify
from app.org.models import User
from app.workorders import engine, timeline
from app.workorders.attachments import attachment_errors
from app.workorders.models import (
    StepStatus,
    Task,
    TaskCandidate,
    TaskStatus,
    TASK_TRANSITIONS,
    WorkOrder,
    WorkOrderStep,
)
from app.workorders.timers import arm_task_timers, disarm_task_timers
from app.workorders.policy import can_act_on_task, is_candidate, oversees_work_order, require_lead, visible_task

_STATE_CONFLICTS = {
    TaskStatus.COMPLETED: ("task_completed", "This task is already completed."),
    TaskStatus.CANCELLED: ("task_cancelled", "This task was cancelled."),
}


def _check_transition(task: Task, action: str, user: User) -> TaskStatus:
    allowed, target = TASK_TRANSITIONS[action]
    if task.status not in allowed:
        code, message = _STATE_CONFLICTS.get(task.status, ("invalid_transition", f"A {task.status} task cannot be {action}ed."))
        if task.status == TaskStatus.CLAIMED and task.assignee_id != user.id:
            code, message = "task_taken", "Someone else has taken this task."
        raise Conflict(message, code=code, details={"status": task.status})
    return target


def _lock(user: User, task_id: int) -> tuple[Task, WorkOrder, dict]:
    """Load a visible task and lock its work order (always before the task, so lock order never deadlocks)."""
    task = visible_task(user, task_id)
    work_order = db.session.get(WorkOrder, task.work_order_id, with_for_update=True, populate_existing=True)
    db.session.refresh(task)
    template = db.session.get(FlowTemplate, work_order.template_id)
    return task, work_order, template.step(task.step)


def _times(task: Task, now: datetime, occurred_at: datetime | None, max_skew: int) -> tuple[datetime, bool]:
    return effective_time(occurred_at=occurred_at, received_at=now, not_before=task.created_at, max_skew_seconds=max_skew)


def _commit_or_conflict() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict("The task changed while you were acting on it; reload and try again.", code="task_changed")


def _require_actor(user: User, task: Task) -> None:
    if not can_act_on_task(user, task):
        if task.assignee_id is not None and task.status == TaskStatus.CLAIMED and is_candidate(user, task):
            raise Conflict("Someone else has taken this task.", code="task_taken")
        raise Forbidden("You are not a handler of this task.", code="not_a_handler")


# The claim's statements are built once: building SQLAlchemy constructs costs more CPU than running them.
_OFFER = (
    select(WorkOrder, FlowTemplate, Task.created_at)
    .join(Task, Task.work_order_id == WorkOrder.id)
    .join(FlowTemplate, FlowTemplate.id == WorkOrder.template_id)
    .where(Task.id == bindparam("task_id"), Task.mode == "pool",
           exists().where(TaskCandidate.task_id == Task.id, TaskCandidate.user_id == bindparam("user_id")))
    .with_for_update(of=WorkOrder)
    .execution_options(populate_existing=True)
)
# The arbiter: only a row still open, unassigned and offered to the claimer is taken, whatever else runs at once.
_TAKE = (
    update(Task)
    .where(Task.id == bindparam("task_id"), Task.mode == "pool", Task.status == TaskStatus.OPEN, Task.assignee_id.is_(None),
           exists().where(TaskCandidate.task_id == Task.id, TaskCandidate.user_id == bindparam("user_id")))
    .values(status=TaskStatus.CLAIMED, assignee_id=bindparam("user_id"), claimed_at=bindparam("now", type_=UTCDateTime()),
            claimed_effective_at=bindparam("at", type_=UTCDateTime()),
            device_time_untrusted=Task.device_time_untrusted | bindparam("untrusted", type_=Boolean()), version=Task.version + 1)
    .returning(Task)
    .execution_options(synchronize_session=False, populate_existing=True)
)

# A lost claim reads the task as it is now, and whether it is offered to the claimer, to say why.
_TASK_AND_OFFER = (
    select(Task, exists().where(TaskCandidate.task_id == Task.id, TaskCandidate.user_id == bindparam("user_id")))
    .where(Task.id == bindparam("task_id"))
    .execution_options(populate_existing=True)
)


def _lock_offer(user: User, task_id: int) -> tuple[WorkOrder, FlowTemplate, datetime] | None:
    """Lock the work order of a pool task offered to `user`, in one statement with its template and the task's offer time.

    None when there is no such offer (no such task, not a pool task, or not offered to `user`): the full rules then
    say why. The task's state is not read here: rows joined to a locked one may be older than the lock.
    """
    row = db.session.execute(_OFFER, {"task_id": task_id, "user_id": user.id}).first()
    return None if row is None else tuple(row)


def _take(*, user: User, task_id: int, now: datetime, at: datetime, trusted: bool) -> Task | None:
    """Claim the task for `user` if it is still open; None when it is not (someone else won)."""
    params = {"task_id": task_id, "user_id": user.id, "now": now, "at": at, "untrusted": not trusted}
    return db.session.scalars(_TAKE, params).one_or_none()


def _refuse_claim(user: User, task: Task, candidate: bool) -> Task | None:
    """Raise why `user` may not claim `task`; answer the task when they already hold it, None when it is claimable."""
    if task.assignee_id != user.id and not candidate and not oversees_work_order(user, task.work_order):
        raise NotFound("No such task.")
    if task.mode != "pool":
        raise Conflict("Only pool tasks are claimed; complete this one directly.", code="not_claimable")
    if task.assignee_id == user.id and task.status == TaskStatus.CLAIMED:
        return task  # claiming what you already hold is a no-op, so a retried claim never fails
    if not candidate:
        raise Forbidden("This task is not offered to you.", code="not_a_candidate")
    _check_transition(task, "claim", user)
    return None


def claim_task(*, user: User, task_id: int, now: datetime, occurred_at: datetime | None = None, max_skew: int) -> Task:
    """Take a pool task; exactly one claimer wins, the others get 409 task_taken."""
    offer = _lock_offer(user, task_id)
    if offer is not None:
        work_order, template, offered_at = offer
        at, trusted = effective_time(occurred_at=occurred_at, received_at=now, not_before=offered_at, max_skew_seconds=max_skew)
        task = _take(user=user, task_id=task_id, now=now, at=at, trusted=trusted)
        if task is not None:
            return _claimed(user=user, task=task, work_order=work_order, template=template, now=now,
                            occurred_at=occurred_at, trusted=trusted)
        # Not taken: read the task as it is now (the work order's lock is held) and say why.
        task, candidate = db.session.execute(_TASK_AND_OFFER, {"task_id": task_id, "user_id": user.id}).one()
    else:
        task, work_order, _ = _lock(user, task_id)
        template = db.session.get(FlowTemplate, work_order.template_id)
        candidate = is_candidate(user, task)
    held = _refuse_claim(user, task, candidate)
    if held is not None:
        return held
    at, trusted = _times(task, now, occurred_at, max_skew)
    taken = _take(user=user, task_id=task.id, now=now, at=at, trusted=trusted)
    if taken is None:
        db.session.rollback()
        raise Conflict("Someone else has taken this task.", code="task_taken")
    return _claimed(user=user, task=taken, work_order=work_order, template=template, now=now, occurred_at=occurred_at,
                    trusted=trusted)


def _claimed(*, user: User, task: Task, work_order: WorkOrder, template: FlowTemplate, now: datetime,
             occurred_at: datetime | None, trusted: bool) -> Task:
    """What follows a won claim: off the others' inboxes, the work order started, the timeline, "taken" for the others."""
    step = template.step(task.step)
    candidates = engine.close_offer(task.id)
    engine.start_locked(work_order, now)
    timeline.append(work_order_id=work_order.id, task_id=task.id, kind="claimed", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details={"device_time_trusted": trusted})
    notify(user_ids=[c for c in candidates if c != user.id], kind="task.taken",
           params={"who": user.name, "number": work_order.number, "step": step["title"]},
           url=f"/#/task/{task.id}", tag=f"task-{task.id}", priority="P4", now=now, data={"task_id": task.id})
    _commit_keeping_loaded()
    # The session's identity map holds objects weakly: hold on to what the answer shows, so presenting reads nothing
    # again (a work order's template version never changes, so neither can go stale).
    set_committed_value(task, "work_order", work_order)
    task._baton_template = template
    return task


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds: the task and its work order were written under the work order's
    lock, so their loaded values are the committed ones, and the answer is built from them without reading them again."""
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def release_task(*, user: User, task_id: int, now: datetime, reason: str | None = None) -> Task:
    """Give a claimed pool task back to the pool."""
    task, work_order, _ = _lock(user, task_id)
    if task.assignee_id != user.id:
        raise Forbidden("Only the person holding this task can release it.", code="not_assignee")
    if task.mode != "pool":
        raise Conflict("Only pool tasks can be released.", code="not_releasable")
    task.status = _check_transition(task, "release", user)
    task.assignee_id = None
    task.claimed_at = None
    db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task.id).values(is_open=True)
                       .execution_options(synchronize_session=False))
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="released", actor_id=user.id, now=now, details={"reason": reason})
    _commit_or_conflict()
    return task


def complete_task(*, user: User, task_id: int, outcome: str | None, note: str | None, data: dict | None, now: datetime,
                  occurred_at: datetime | None = None, expected_version: int | None = None, max_skew: int) -> Task:
    """Finish a task with an allowed outcome and its form; the work order moves on."""
    task, work_order, step = _lock(user, task_id)
    if expected_version is not None and expected_version != task.version:
        raise Conflict("The task changed since you loaded it.", code="task_changed", details={"version": task.version})
    if task.status in _STATE_CONFLICTS:
        _check_transition(task, "complete", user)
    _require_actor(user, task)
    target = _check_transition(task, "complete", user)
    outcome = outcome or step.get("outcomes", ["done"])[0]
    if outcome not in step.get("outcomes", ["done"]):
        raise Invalid("That outcome is not allowed here.", details={"outcome": [f"must be one of {step.get('outcomes', ['done'])}"]})
    clean, errors = validate_values(step.get("form") or [], data or {})
    if not errors:
        errors = attachment_errors(work_order_id=work_order.id, fields=step.get("form") or [], values=clean)
        if task.mode != "each":  # these values join the work order's data, which later for_each steps read
            errors.update(for_each_errors(engine.template_of(work_order).steps, clean))
    if errors:
        raise Invalid("The completion form is not valid.", details=errors)
    at, trusted = _times(task, now, occurred_at, max_skew)
    if task.mode == "pool" and task.assignee_id is None:
        task.assignee_id = user.id  # completing an unclaimed pool task claims it in the same step
        task.claimed_at = now
        task.claimed_effective_at = at
    task.status = target
    task.completed_at = now
    task.completed_effective_at = at
    task.device_time_untrusted = task.device_time_untrusted or not trusted
    task.completed_by_id = user.id
    task.outcome = outcome
    task.note = note
    task.data = clean
    if task.mode != "each" and clean:
        work_order.data = {**work_order.data, **clean}
    wstep = db.session.get(WorkOrderStep, task.step_id)
    wstep.last_handler_id = user.id
    engine.close_candidates([task.id])
    disarm_task_timers(task_ids=[task.id])
    engine.mark_started(work_order, now)
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="completed", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details={"outcome": outcome, "note": note, "data": clean, "device_time_trusted": trusted})
    db.session.flush()
    engine.advance(work_order=work_order, template=engine.template_of(work_order), now=now, actor_id=user.id)
    _commit_or_conflict()
    return task


def return_task(*, user: User, task_id: int, reason: str, now: datetime, to_step: str | None = None,
                occurred_at: datetime | None = None) -> Task:
    """Send the work back to the previous step, re-opened with its last handler (counted per work order)."""
    task, work_order, step = _lock(user, task_id)
    if not step.get("allow_return"):
        raise Conflict("This step does not allow returns.", code="return_not_allowed")
    _check_transition(task, "return", user)
    _require_actor(user, task)
    predecessors = step.get("after") or []
    if not predecessors:
        raise Conflict("This is a first step; there is nothing to return to.", code="nothing_to_return_to")
    if to_step is not None and to_step not in predecessors:
        raise Invalid("Not a previous step.", details={"to_step": [f"must be one of {predecessors}"]})
    targets = [to_step] if to_step else predecessors
    wstep = db.session.get(WorkOrderStep, task.step_id)
    siblings = db.session.scalars(select(Task).where(
        Task.step_id == wstep.id, Task.activation == wstep.activation, Task.status.in_([TaskStatus.OPEN, TaskStatus.CLAIMED]))).all()
    engine.cancel_tasks(siblings, now)
    wstep.status = StepStatus.PENDING
    work_order.return_count += 1
    work_order.updated_at = now
    template = engine.template_of(work_order)
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="returned", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details={"reason": reason, "from_step": task.step, "to_steps": targets})
    for key in targets:
        target_step = db.session.scalar(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order.id, WorkOrderStep.key == key))
        last = [target_step.last_handler_id] if target_step.last_handler_id else None
        reopened = engine.activate_step(work_order=work_order, wstep=target_step, step=template.step(key), now=now,
                                        actor_id=user.id, only_users=last)
        notify(user_ids=[c for t in reopened for c in ([t.assignee_id] if t.assignee_id else last or [])],
               kind="work_order.returned", params={"number": work_order.number, "step": template.step(key)["title"], "reason": reason},
               url=f"/#/task/{reopened[0].id}" if reopened else f"/#/wo/{work_order.id}", tag=f"wo-{work_order.id}",
               priority=work_order.priority, now=now)
    _commit_or_conflict()
    return task


def transfer_task(*, user: User, task_id: int, to_user_id: int, now: datetime, reason: str | None = None) -> Task:
    """Hand a task to someone else: its holder, or a lead of the work order, may do it."""
    task, work_order, step = _lock(user, task_id)
    if task.assignee_id != user.id:
        require_lead(user, work_order)
    target_status = _check_transition(task, "transfer", user)
    target = db.session.get(User, to_user_id)
    if target is None or not target.active:
        raise Invalid("Unknown person.", details={"to_user": ["does not exist or is inactive"]})
    if not target.on_duty:
        raise Invalid(f"{target.name} is off duty.", code="user_unavailable",
                      details={"to_user": ["off duty"], "delegate_id": target.delegate_id})
    if target.id == task.assignee_id:
        return task
    previous = task.assignee_id
    task.assignee_id = target.id
    task.status = target_status
    task.claimed_at = now
    if not is_candidate(target, task):
        db.session.add(TaskCandidate(task_id=task.id, user_id=target.id, is_open=False, added_at=now))
    engine.close_candidates([task.id])
    engine._track_departments(work_order, {target.id})
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="transferred", actor_id=user.id, now=now,
                    details={"from_user": previous, "to_user": target.id, "reason": reason})
    notify(user_ids=[target.id], kind="task.transferred", params={"number": work_order.number, "step": step["title"], "title": work_order.title},
           url=f"/#/task/{task.id}", tag=f"task-{task.id}", priority=work_order.priority, now=now, data={"task_id": task.id})
    _commit_or_conflict()
    return task


def change_candidates(*, user: User, task_id: int, add: list[int], remove: list[int], now: datetime) -> Task:
    """Add or remove handlers mid-step (加签 / 减签); for `each`, that person's own task is added or cancelled."""
    task, work_order, step = _lock(user, task_id)
    require_lead(user, work_order)
    if task.status not in (TaskStatus.OPEN, TaskStatus.CLAIMED):
        raise Conflict("Handlers can only change on a running task.", code="task_not_running")
    if set(add) & set(remove):
        raise Invalid("A person cannot be both added and removed.", details={"add": ["overlaps remove"]})
    found = set(db.session.scalars(select(User.id).where(User.id.in_(add), User.active.is_(True)))) if add else set()
    missing = sorted(set(add) - found)
    if missing:
        raise Invalid("Unknown people.", details={"add": [f"user {m} does not exist or is inactive" for m in missing]})
    siblings = db.session.scalars(select(Task).where(Task.step_id == task.step_id, Task.activation == task.activation,
                                                     Task.instance.is_(task.instance) if task.instance is None else Task.instance == task.instance)).all()
    if task.mode == "each":
        holders = {t.assignee_id: t for t in siblings if t.status in (TaskStatus.OPEN, TaskStatus.CLAIMED, TaskStatus.COMPLETED)}
        live_after = [t for t in siblings if t.status in (TaskStatus.OPEN, TaskStatus.CLAIMED) and t.assignee_id not in remove]
        nobody_left = not live_after and not (set(add) - set(holders))
        if nobody_left and not any(t.status == TaskStatus.COMPLETED for t in siblings):
            raise Conflict("Removing everyone would leave the step with nobody.", code="no_handlers_left")
        for uid in sorted(set(add) - set(holders)):
            new = Task(work_order_id=work_order.id, step_id=task.step_id, step=task.step, activation=task.activation,
                       instance=task.instance, instance_label=task.instance_label, mode="each", status=TaskStatus.OPEN,
                       priority=work_order.priority, assignee_id=uid, due_at=task.due_at, created_at=now)
            db.session.add(new)
            db.session.flush()
            db.session.add(TaskCandidate(task_id=new.id, user_id=uid, added_at=now))
            arm_task_timers(task=new, step=step, now=now)
            notify(user_ids=[uid], kind="task.assigned", params={"number": work_order.number, "step": step["title"], "title": work_order.title},
                   url=f"/#/task/{new.id}", tag=f"task-{new.id}", priority=work_order.priority, now=now, data={"task_id": new.id})
        engine.cancel_tasks([t for t in siblings if t.assignee_id in remove and t.status in (TaskStatus.OPEN, TaskStatus.CLAIMED)], now)
    else:
        current = set(db.session.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == task.id)))
        if task.assignee_id in remove:
            raise Conflict("That person holds the task; transfer it first.", code="assignee_cannot_be_removed")
        if not (current - set(remove)) | set(add):
            raise Conflict("Removing everyone would leave the task with nobody.", code="no_handlers_left")
        open_row = task.status == TaskStatus.OPEN
        for uid in sorted(set(add) - current):
            db.session.add(TaskCandidate(task_id=task.id, user_id=uid, is_open=open_row, added_at=now))
        if remove:
            db.session.query(TaskCandidate).filter(TaskCandidate.task_id == task.id, TaskCandidate.user_id.in_(remove)).delete(synchronize_session=False)
        new_people = sorted(set(add) - current)
        if new_people and open_row:
            kind = "task.offered" if task.mode == "pool" else "task.assigned"
            notify(user_ids=new_people, kind=kind, params={"number": work_order.number, "step": step["title"], "title": work_order.title},
                   url=f"/#/task/{task.id}", tag=f"task-{task.id}", priority=work_order.priority, now=now, data={"task_id": task.id})
    engine._track_departments(work_order, set(add))
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="handlers_changed", actor_id=user.id, now=now,
                    details={"added": sorted(set(add)), "removed": sorted(set(remove))})
    db.session.flush()
    engine.advance(work_order=work_order, template=engine.template_of(work_order), now=now, actor_id=user.id)
    _commit_or_conflict()
    return task


def inbox(*, user: User, now: datetime, limit: int = 200) -> dict:
    """The caller's own tasks and the pool tasks they can claim, urgent and overdue first, in one query."""
    rows = db.session.execute(_INBOX, {"user_id": user.id, "now": now, "limit": limit}).all()
    templates = load_templates({row.wo_template_id for row in rows})
    mine, pool = [], []
    for row in rows:
        work_order = _WorkOrderSummary(*row[len(_INBOX_TASK_COLUMNS):])
        view = present_task(row, work_order, templates[work_order.template_id], now)
        (pool if row.mode == "pool" and row.assignee_id is None else mine).append(view)
    return {"mine": mine, "pool": pool}


def _inbox_query():
    """The inbox's one query, built once (building it cost more than running it)."""
    user_id, now = bindparam("user_id"), bindparam("now", type_=UTCDateTime())
    live = [TaskStatus.OPEN, TaskStatus.CLAIMED]
    offered = select(TaskCandidate.task_id).where(TaskCandidate.user_id == user_id, TaskCandidate.is_open.is_(True))
    # The candidate ids, read from the two indexes (ix_tasks_assignee_status, ix_task_candidates_user_open), so the
    # query costs what the caller's inbox holds: with the OR alone PostgreSQL filters every open task in the table.
    candidate_ids = union(select(Task.id).where(Task.assignee_id == user_id, Task.status.in_(live)), offered).subquery()
    overdue_first = case((and_(Task.due_at.is_not(None), Task.due_at < now), 0), else_=1)
    due_nulls_last = case((Task.due_at.is_(None), 1), else_=0)
    return (
        select(*_INBOX_TASK_COLUMNS, *_INBOX_WORK_ORDER_COLUMNS)
        .join(WorkOrder, WorkOrder.id == Task.work_order_id)
        .where(
            Task.id.in_(select(candidate_ids.c.id)),
            Task.status.in_(live),
            or_(Task.assignee_id == user_id, and_(Task.status == TaskStatus.OPEN, Task.id.in_(offered))),
        )
        .order_by(overdue_first, Task.priority, due_nulls_last, Task.due_at, Task.id)
        .limit(bindparam("limit"))
    )


class _WorkOrderSummary(NamedTuple):
    """What an inbox item shows of its work order (WorkOrderSummarySchema), without loading the whole row."""

    id: int
    number: str
    title: str
    description: str
    priority: str
    status: str
    template_key: str
    template_id: int


def load_templates(ids: set[int]) -> dict[int, FlowTemplate]:
    return _by_id(FlowTemplate, ids)


def _by_id(model, ids: set[int]) -> dict:
    """Rows by id: those the session already holds, loaded and unexpired, as they are; the others in one query."""
    found, missing = {}, set()
    identity_map = db.session.identity_map
    for id_ in ids:
        obj = identity_map.get(identity_key(model, id_))
        if obj is not None and not inspect(obj).expired_attributes:
            found[id_] = obj
        else:
            missing.add(id_)
    if missing:
        found.update((row.id, row) for row in db.session.scalars(select(model).where(model.id.in_(missing))))
    return found


def present_task(task: Task, work_order: WorkOrder, template: FlowTemplate, now: datetime, candidates: list | None = None) -> dict:
    """A task as the API shows it, with what a phone needs to act on it."""
    step = template.step(task.step)
    view = {column: getattr(task, column) for column in TASK_FIELDS}
    view.update(
        step_title=step["title"],
        outcomes=step.get("outcomes") or ["done"],
        form=step.get("form") or [],
        allow_return=bool(step.get("allow_return")) and bool(step.get("after")),
        overdue=bool(task.due_at and task.due_at < now and task.status in (TaskStatus.OPEN, TaskStatus.CLAIMED)),
        work_order=work_order,
    )
    if candidates is not None:
        view["candidates"] = candidates
    return view


TASK_FIELDS = (
    "id", "work_order_id", "step", "mode", "status", "assignee_id", "due_at", "escalation_level", "priority",
    "instance", "instance_label", "created_at", "claimed_at", "completed_at", "completed_by_id", "outcome", "note",
    "data", "version", "device_time_untrusted", "claimed_effective_at", "completed_effective_at",
)


def present_one(task: Task, now: datetime) -> dict:
    """A single task with its work order, template step and candidates."""
    return present_many([task], now)[0]


_CANDIDATE_PEOPLE = (
    select(TaskCandidate.task_id, User.id, User.name, User.login).join(User, User.id == TaskCandidate.user_id)
    .where(TaskCandidate.task_id.in_(bindparam("task_ids", expanding=True))).order_by(TaskCandidate.user_id)
)


# The inbox reads plain rows of the columns it shows: loading whole ORM objects (and decoding each work order's
# JSON) cost more than the query itself.
_INBOX_TASK_COLUMNS = [getattr(Task, column) for column in TASK_FIELDS]
_INBOX_WORK_ORDER_COLUMNS = [getattr(WorkOrder, field).label(f"wo_{field}") for field in _WorkOrderSummary._fields]
_INBOX = _inbox_query()


def present_many(tasks: list[Task], now: datetime) -> list[dict]:
    """Tasks with their work orders, steps, candidates and people's names, in a fixed number of queries."""
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    work_orders = _by_id(WorkOrder, {t.work_order_id for t in tasks})
    templates = load_templates({w.template_id for w in work_orders.values()})
    candidates: dict[int, list[int]] = {}
    people: dict[int, dict] = {}
    for task_id, user_id, name, login in db.session.execute(_CANDIDATE_PEOPLE, {"task_ids": ids}):
        candidates.setdefault(task_id, []).append(user_id)
        people[user_id] = {"id": user_id, "name": name, "login": login}
    people.update(names_of({t.assignee_id for t in tasks if t.assignee_id and t.assignee_id not in people}))
    views = []
    for task in tasks:
        work_order = work_orders[task.work_order_id]
        view = present_task(task, work_order, templates[work_order.template_id], now, candidates.get(task.id, []))
        view["assignee"] = people.get(task.assignee_id)
        view["candidate_people"] = [people[u] for u in candidates.get(task.id, []) if u in people]
        views.append(view)
    return views


def names_of(user_ids: set[int]) -> dict[int, dict]:
    """{id: {id, name, login}} for the given users, in one query."""
    user_ids = {u for u in user_ids if u}
    if not user_ids:
        return {}
    return {u.id: {"id": u.id, "name": u.name, "login": u.login}
            for u in db.session.execute(select(User.id, User.name, User.login).where(User.id.in_(user_ids)))}
