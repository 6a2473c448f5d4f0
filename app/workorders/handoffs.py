"""Handing a task to someone else, and adding or removing handlers mid-step (加签 / 减签)."""
from datetime import datetime

from sqlalchemy import select

from app.common.bulk import dialect
from app.errors import Conflict, Invalid
from app.extensions import db
from app.flows.forms import step_words
from app.notify.service import notify
from app.org.duty import is_on_duty
from app.org.models import User
from app.org.service import find_person
from app.workorders import engine, fastpaths, presenters, timeline
from app.workorders.acting import check_transition, commit_or_conflict, lock_task
from app.workorders.models import Task, TaskCandidate, TaskStatus
from app.workorders.policy import is_candidate, require_lead
from app.workorders.timers import arm_task_timers

def transfer_and_present(*, user: User, task_id: int, to_user: int | str, now: datetime, reason: str | None = None) -> dict:
    """`transfer_task`, answered as the API shows a task: in a few statements when it can be (fastpaths.transfer)."""
    if dialect() == "postgresql":
        view = fastpaths.transfer(user, task_id, to_user, now, reason)
        if view is not None:
            return view
    return presenters.present_one(transfer_task(user=user, task_id=task_id, to_user=to_user, now=now, reason=reason), now)


def transfer_task(*, user: User, task_id: int, to_user: int | str, now: datetime, reason: str | None = None) -> Task:
    """Hand a task to someone else (named by id or login): its holder, or a lead of the work order, may do it."""
    task, work_order, step = lock_task(user, task_id)
    if task.assignee_id != user.id:
        require_lead(user, work_order)
    target_status = check_transition(task, "transfer", user)
    target = find_person(to_user)
    if target is None or not target.active:
        raise Invalid("Unknown person.", details={"to_user": ["does not exist or is inactive"]})
    if not is_on_duty(target.id, now):
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
    notify(user_ids=[target.id], kind="task.transferred", params={"number": work_order.number, **step_words(step), "title": work_order.title},
           about={"task_id": task.id}, priority=work_order.priority, now=now)
    commit_or_conflict()
    return task


def change_candidates(*, user: User, task_id: int, add: list[int], remove: list[int], now: datetime) -> Task:
    """Add or remove handlers mid-step (加签 / 减签); for `each`, that person's own task is added or cancelled."""
    task, work_order, step = lock_task(user, task_id)
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
                       instance=task.instance, instance_label=task.instance_label, mode="each", template_key=task.template_key,
                       status=TaskStatus.OPEN,
                       priority=work_order.priority, assignee_id=uid, due_at=task.due_at, calendar_id=task.calendar_id, created_at=now)
            db.session.add(new)
            db.session.flush()
            db.session.add(TaskCandidate(task_id=new.id, user_id=uid, added_at=now))
            arm_task_timers(task=new, step=step, now=now)
            notify(user_ids=[uid], kind="task.assigned", params={"number": work_order.number, **step_words(step), "title": work_order.title},
                   about={"task_id": new.id}, priority=work_order.priority, now=now)
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
            notify(user_ids=new_people, kind=kind, params={"number": work_order.number, **step_words(step), "title": work_order.title},
                   about={"task_id": task.id}, priority=work_order.priority, now=now)
    engine._track_departments(work_order, set(add))
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="handlers_changed", actor_id=user.id, now=now,
                    details={"added": sorted(set(add)), "removed": sorted(set(remove))})
    db.session.flush()
    engine.advance(work_order=work_order, template=engine.template_of(work_order), now=now, actor_id=user.id)
    commit_or_conflict()
    return task
