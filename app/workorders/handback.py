"""Work handed back when its holder leaves (docs/design.md §13): nothing waits on someone who is not there.

When a person is deactivated, every live task that waits on them moves, in the deactivation's own transaction:

- a pool or joint task they claimed goes back to its pool, offered again to the other candidates who are still
  active; where nobody would be left, it is offered to whoever stands in for them (their delegate, else the
  first available manager up their line, the rule of Part I), else to the work order's owners (the owning
  department's head, else its creator);
- an offer they are one of several candidates for simply loses them; an offer they were the only candidate for
  goes to the stand-in as above;
- their own task of an `each` step is cancelled when others share the step (the step then completes when the
  others have), else handed to the stand-in, as that person's task to do.

Someone off duty for longer than BATON_OFF_DUTY_HANDBACK_MINUTES (`hand_back_absent`, run by the worker and the
sweep Lambda) has the same done to the tasks they hold and the offers only they have; they stay a candidate of
offers others share, and get new work again once back on duty.

Each move is on its work order's timeline (`handed_back`, with whom it went to and why), the people it now reaches
are told, and the count is the answer to the deactivation (`handed_back`). The work orders are locked in id order before
their tasks change, like every handler does, and the person's live tasks are read again afterwards, so a claim
that committed in between is handed back too.
"""
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from app.extensions import db
from app.flows.forms import step_words
from app.notify.service import notify
from app.org.models import User
from app.workorders import engine, timeline
from app.workorders.handlers import available_handlers, fallback_handlers
from app.workorders.models import Task, TaskCandidate, TaskStatus, WorkOrder, task_transition

LIVE = (TaskStatus.OPEN, TaskStatus.CLAIMED)
PASSES = 3


def hand_back(user_id: int, now: datetime, actor_id: int | None, reason: str = "deactivated") -> int:
    """Move every live task waiting on `user_id` (inactive, or off duty: `reason`) to someone who is there; answers
    how many moved."""
    moved = 0
    leaving = reason == "deactivated"
    for _ in range(PASSES):
        waiting = (Task.assignee_id == user_id) | exists().where(
            TaskCandidate.task_id == Task.id, TaskCandidate.user_id == user_id, TaskCandidate.is_open.is_(True))
        work_order_ids = sorted(set(db.session.scalars(select(Task.work_order_id).where(Task.status.in_(LIVE), waiting))))
        if not work_order_ids:
            break
        work_orders = db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(work_order_ids)).order_by(WorkOrder.id)
                                         .with_for_update().execution_options(populate_existing=True)).all()
        tasks = db.session.scalars(select(Task).where(Task.work_order_id.in_(work_order_ids), Task.status.in_(LIVE), waiting)
                                   .order_by(Task.id).execution_options(populate_existing=True)).all()
        by_id = {w.id: w for w in work_orders}
        passed = 0
        for task in tasks:
            done = _move(task, by_id[task.work_order_id], user_id, now, actor_id, reason, leaving)
            moved += done
            passed += done
        db.session.flush()
        for work_order in work_orders:  # a cancelled `each` task may complete its step
            engine.advance(work_order=work_order, template=engine.template_of(work_order), now=now, actor_id=actor_id)
        if not leaving and not passed:
            break  # off duty: the offers others share stay theirs, so nothing more will move
    return moved


def hand_back_absent(*, now: datetime, after: timedelta) -> int:
    """Hand back what people off duty for longer than `after` hold; one transaction per person. Answers the count."""
    if after <= timedelta(0):
        return 0
    holding = exists().where(Task.assignee_id == User.id, Task.status.in_(LIVE))
    absent = db.session.scalars(select(User.id).where(User.active.is_(True), User.on_duty.is_(False),
                                                      User.off_duty_since <= now - after, holding).order_by(User.id)).all()
    moved = 0
    for user_id in absent:
        moved += hand_back(user_id, now, None, reason="off_duty")
        db.session.commit()
    lonely = _alone_offers_of_absent(now, after)
    for user_id in lonely:
        moved += hand_back(user_id, now, None, reason="off_duty")
        db.session.commit()
    return moved


def _alone_offers_of_absent(now: datetime, after: timedelta) -> list[int]:
    """People off duty for too long who are the only candidate of an open offer."""
    others = select(TaskCandidate.task_id).where(TaskCandidate.task_id == Task.id, TaskCandidate.user_id != User.id,
                                                 TaskCandidate.is_open.is_(True)).exists()
    alone = exists().where(TaskCandidate.user_id == User.id, TaskCandidate.is_open.is_(True), Task.id == TaskCandidate.task_id,
                           Task.status == TaskStatus.OPEN, ~others)
    return list(db.session.scalars(select(User.id).where(User.active.is_(True), User.on_duty.is_(False),
                                                         User.off_duty_since <= now - after, alone).order_by(User.id)))


def _candidates(task: Task) -> list[int]:
    """The task's candidates who are still active."""
    return list(db.session.scalars(select(TaskCandidate.user_id).join(User, User.id == TaskCandidate.user_id)
                                   .where(TaskCandidate.task_id == task.id, User.active.is_(True))))


def _stand_ins(user_id: int, work_order: WorkOrder, now: datetime) -> list[int]:
    """Who takes over from someone who left: their stand-in up their line, else the work order's owners — never
    the person themselves (they may be the work order's creator or its department's head)."""
    handlers, _ = available_handlers([user_id], now)
    return [u for u in handlers or fallback_handlers(work_order, now) if u != user_id]


def _move(task: Task, work_order: WorkOrder, user_id: int, now: datetime, actor_id: int | None, reason: str, leaving: bool,
          extra: dict | None = None) -> int:
    """Hand one task back; answers 1 when work moved to someone, 0 when they were merely one candidate of many."""
    step = engine.template_of(work_order).step(task.step)
    held = task.assignee_id == user_id
    if not held and not leaving and any(u != user_id for u in _candidates(task)):
        return 0  # off duty: an offer others share stays theirs too
    db.session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == task.id, TaskCandidate.user_id == user_id))
    if task.mode == "each" and held:
        siblings = db.session.scalar(select(Task.id).where(
            Task.step_id == task.step_id, Task.activation == task.activation, Task.id != task.id,
            Task.instance.is_(None) if task.instance is None else Task.instance == task.instance,
            Task.status.in_((*LIVE, TaskStatus.COMPLETED))).limit(1))
        if siblings is not None:
            engine.cancel_tasks([task], now)
            _record(task, work_order, user_id, None, now, actor_id, reason)
            return 1
        (to, *_) = _stand_ins(user_id, work_order, now) or [None]  # nobody at all: it stays theirs for a lead to move
        if to is None:
            return 0
        task.assignee_id = to
        db.session.add(TaskCandidate(task_id=task.id, user_id=to, is_open=True, added_at=now))
        _tell([to], "task.assigned", task, work_order, step, now)
        _record(task, work_order, user_id, to, now, actor_id, reason)
        return 1
    others = [u for u in _candidates(task) if u != user_id]
    new = [] if others else _stand_ins(user_id, work_order, now)
    if held:
        task.status = task_transition(task.status, "release")
        task.assignee_id = None
        task.claimed_at = task.claimed_effective_at = task.claim_working_seconds = None
    if new:
        db.session.add_all(TaskCandidate(task_id=task.id, user_id=u, is_open=True, added_at=now) for u in new)
    if held:
        reopened = db.session.scalars(select(TaskCandidate).where(TaskCandidate.task_id == task.id)).all()
        for row in reopened:
            row.is_open = True
    if not held and not new:
        return 0  # one of several candidates: the others still have it
    _tell(others + new if held else new, "task.offered" if task.mode == "pool" else "task.assigned", task, work_order, step, now)
    _record(task, work_order, user_id, new[0] if new else None, now, actor_id, reason, extra)
    return 1


def _tell(user_ids: list[int], kind: str, task: Task, work_order: WorkOrder, step: dict, now: datetime) -> None:
    notify(user_ids=user_ids, kind=kind, params={"number": work_order.number, **step_words(step), "title": work_order.title},
           about={"task_id": task.id}, priority=work_order.priority, now=now)


def _record(task: Task, work_order: WorkOrder, user_id: int, to: int | None, now: datetime, actor_id: int | None,
            reason: str, extra: dict | None = None) -> None:
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="handed_back", actor_id=actor_id, now=now,
                    details={"from_user": user_id, "to_user": to, "reason": reason, "step": task.step, **(extra or {})})
