"""Claiming a pool task (exactly one claimer wins) and giving it back."""
from datetime import datetime

from sqlalchemy import Boolean, bindparam, exists, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.common.bulk import dialect
from app.common.offline import effective_time
from app.common.types import UTCDateTime
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.flows.forms import step_words
from app.flows.models import FlowTemplate
from app.flows.versions import held
from app.notify.service import notify
from app.org.models import User
from app.workorders import engine, fastpaths, presenters, timeline
from app.workorders.dispatch import Desk, dispatch_of
from app.workorders.handout import nudge
from app.workorders.acting import check_transition, commit_or_conflict, effective_times, lock_task, refusal_details
from app.workorders.models import Task, TaskCandidate, TaskStatus, WorkOrder
from app.workorders.policy import is_candidate, oversees_work_order
from app.workorders.timers import working_seconds

# The claim's statements are built once: building SQLAlchemy constructs costs more CPU than running them.
_OFFER = (
    select(WorkOrder, FlowTemplate, Task.created_at, Task.step)
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


def _lock_offer(user: User, task_id: int) -> tuple[WorkOrder, FlowTemplate, datetime, str] | None:
    """Lock the work order of a pool task offered to `user`, in one statement with its template, the task's offer time
    and its step.

    None when there is no such offer (no such task, not a pool task, or not offered to `user`): the full rules then
    say why. The task's state is not read here: rows joined to a locked one may be older than the lock.
    """
    row = db.session.execute(_OFFER, {"task_id": task_id, "user_id": user.id}).first()
    return None if row is None else tuple(row)


def _take(*, user: User, task_id: int, now: datetime, at: datetime, trusted: bool) -> Task | None:
    """Claim the task for `user` if it is still open; None when it is not (someone else won)."""
    params = {"task_id": task_id, "user_id": user.id, "now": now, "at": at, "untrusted": not trusted}
    return db.session.scalars(_TAKE, params).one_or_none()


def _has_room(user: User, work_order: WorkOrder, step: dict, now: datetime) -> bool:
    """Whether `user` may claim one more offer of `step`: below its `capacity` of open tasks of the template, counted
    under the template's dispatch lock, so no hand-out decides about them meanwhile (always, without a capacity)."""
    capacity = step.get("capacity")
    if capacity is None or dispatch_of(step) is None:
        return True
    desk = Desk(work_order.template_key, now)
    if not desk.has_room(user.id, capacity):
        return False
    desk.given(user.id, None)
    desk.save()
    return True


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
    check_transition(task, "claim", user)
    return None


def claim_and_present(*, user: User, task_id: int, now: datetime, occurred_at: datetime | None = None, max_skew: int) -> dict:
    """`claim_task`, answered as the API shows a task: in one statement when it can be (fastpaths.claim)."""
    if dialect() == "postgresql":
        view = fastpaths.claim(user, task_id, now, occurred_at, max_skew)
        if view is not None:
            return view
    return presenters.present_one(claim_task(user=user, task_id=task_id, now=now, occurred_at=occurred_at, max_skew=max_skew), now)


def claim_task(*, user: User, task_id: int, now: datetime, occurred_at: datetime | None = None, max_skew: int) -> Task:
    """Take a pool task; exactly one claimer wins, the others get 409 task_taken."""
    offer = _lock_offer(user, task_id)
    if offer is not None:
        work_order, template, offered_at, step_key = offer
        room = _has_room(user, work_order, template.step(step_key), now)
        if room:
            at, trusted = effective_time(occurred_at=occurred_at, received_at=now, not_before=offered_at, max_skew_seconds=max_skew)
            task = _take(user=user, task_id=task_id, now=now, at=at, trusted=trusted)
            if task is not None:
                return _claimed(user=user, task=task, work_order=work_order, template=template, now=now,
                                occurred_at=occurred_at, trusted=trusted)
        # Not taken: read the task as it is now (the work order's lock is held) and say why.
        task, candidate = db.session.execute(_TASK_AND_OFFER, {"task_id": task_id, "user_id": user.id}).one()
        if not room and candidate and task.status == TaskStatus.OPEN and task.assignee_id is None:
            capacity = template.step(step_key)["capacity"]
            raise Conflict(f"You already hold {capacity} open tasks of this kind, the most this step gives one person.",
                           code="over_capacity", details={"capacity": capacity})
    else:
        task, work_order, _ = lock_task(user, task_id)
        template = held(work_order.template_id)
        candidate = is_candidate(user, task)
    holding = _refuse_claim(user, task, candidate)
    if holding is not None:
        return holding
    at, trusted = effective_times(task, now, occurred_at, max_skew)
    taken = _take(user=user, task_id=task.id, now=now, at=at, trusted=trusted)
    if taken is None:
        db.session.rollback()
        winner = db.session.get(Task, task_id, populate_existing=True)
        raise Conflict("Someone else has taken this task.", code="task_taken", details=refusal_details(winner))
    return _claimed(user=user, task=taken, work_order=work_order, template=template, now=now, occurred_at=occurred_at,
                    trusted=trusted)


def _claimed(*, user: User, task: Task, work_order: WorkOrder, template: FlowTemplate, now: datetime,
             occurred_at: datetime | None, trusted: bool) -> Task:
    """What follows a won claim: off the others' inboxes, the work order started, the timeline, "taken" for the others."""
    step = template.step(task.step)
    if task.calendar_id is not None:  # on a business calendar: how long it waited, in working time, for metrics
        task.claim_working_seconds = working_seconds(task.calendar_id, task.created_at, task.claimed_effective_at)
    candidates = engine.close_offer(task.id)
    engine.start_locked(work_order, now)
    timeline.append(work_order_id=work_order.id, task_id=task.id, kind="claimed", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details={"device_time_trusted": trusted})
    notify(user_ids=[c for c in candidates if c != user.id], kind="task.taken",
           params={"who": user.name, "number": work_order.number, **step_words(step)},
           about={"task_id": task.id}, priority="P4", now=now)
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


def release_and_present(*, user: User, task_id: int, now: datetime, reason: str | None = None) -> dict:
    """`release_task`, answered as the API shows a task: in one statement when it can be (fastpaths.release)."""
    if dialect() == "postgresql":
        view = fastpaths.release(user, task_id, now, reason)
        if view is not None:
            return view
    return presenters.present_one(release_task(user=user, task_id=task_id, now=now, reason=reason), now)


def release_task(*, user: User, task_id: int, now: datetime, reason: str | None = None) -> Task:
    """Give a claimed pool task back to the pool."""
    task, work_order, step = lock_task(user, task_id)
    if task.assignee_id != user.id:
        raise Forbidden("Only the person holding this task can release it.", code="not_assignee")
    if task.mode != "pool":
        raise Conflict("Only pool tasks can be released.", code="not_releasable")
    task.status = check_transition(task, "release", user)
    task.assignee_id = None
    task.claimed_at = None
    db.session.execute(update(TaskCandidate).where(TaskCandidate.task_id == task.id).values(is_open=True)
                       .execution_options(synchronize_session=False))
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="released", actor_id=user.id, now=now, details={"reason": reason})
    nudge(template_key=work_order.template_key, step=step, released=True)
    commit_or_conflict()
    return task
