"""The end of a shift (docs/design.md §16): claimed tasks not started go back to the pool with a handover note.

When a shift with `handover` ends, each of its people (the person, or the group's active members) who is no longer
on duty (`app.org.duty`: no other shift of theirs covers the moment) gives back the tasks they claimed and have not
started — no comment or attachment of theirs on the work order since they claimed it — of `pool` steps that set
`handover_at_shift_end`. The task goes back to its pool the way the off-duty hand-back moves it
(`app.workorders.handback`): offered again to the other candidates (or, with nobody left, to the person's stand-in),
handed out again by a dispatched step. Its timeline gets `handed_back` with reason `shift_end` and the handover
note `{"shift_id", "ended_at"}`, rendered in the reader's language.

Run by the worker and the sweep Lambda (`hand_over_ended_shifts`), one transaction per shift. Exactly once: the
shift row is taken with FOR UPDATE SKIP LOCKED and marked `handed_over_at` in the same transaction, so of two runs
at once one does it and the other passes it by; the work orders are then locked in id order, like every handler,
and a task is only moved while it is still claimed by that person.
"""
from datetime import datetime

from sqlalchemy import and_, exists, select

from app.extensions import db
from app.flows.models import FlowTemplate
from app.org.duty import on_duty_at
from app.org.models import GroupMember, Shift, User
from app.workorders.handback import _move
from app.workorders.models import Task, TaskStatus, TimelineEvent, WorkOrder

BATCH = 100
TOUCHES = ("commented", "attachment_added")


def hand_over_ended_shifts(*, now: datetime, batch: int = BATCH) -> int:
    """Hand back what the people of shifts that ended hold and have not started; answers how many tasks moved."""
    # As the partial index `ix_shifts_handover_due` states it, so the database reads only shifts still to hand over.
    due = list(db.session.scalars(select(Shift.id).where(Shift.handover, Shift.handed_over_at.is_(None), Shift.ends_at <= now)
                                  .order_by(Shift.ends_at, Shift.id).limit(batch)))
    db.session.rollback()  # a read: each shift is handed over in a transaction of its own
    moved = 0
    for shift_id in due:
        moved += _hand_over(shift_id, now)
        db.session.commit()
    return moved


def _hand_over(shift_id: int, now: datetime) -> int:
    shift = db.session.scalars(select(Shift).where(Shift.id == shift_id, Shift.handed_over_at.is_(None))
                               .with_for_update(skip_locked=True)).first()
    if shift is None:
        return 0  # another run has it, or had it
    shift.handed_over_at = now
    people = [shift.user_id] if shift.user_id else list(db.session.scalars(
        select(GroupMember.user_id).where(GroupMember.group_id == shift.group_id)))
    users = User.__table__
    gone = list(db.session.scalars(select(users.c.id).where(users.c.id.in_(people), ~(users.c.active & on_duty_at(now, users)))
                                   .order_by(users.c.id))) if people else []
    if not gone:
        return 0
    touched = exists().where(TimelineEvent.work_order_id == Task.work_order_id, TimelineEvent.actor_id == Task.assignee_id,
                             TimelineEvent.kind.in_(TOUCHES), TimelineEvent.at >= Task.claimed_at)
    untouched = and_(Task.assignee_id.in_(gone), Task.status == TaskStatus.CLAIMED, Task.mode == "pool", ~touched)
    found = db.session.execute(select(Task.id, Task.work_order_id, Task.step, WorkOrder.template_id)
                               .join(WorkOrder, WorkOrder.id == Task.work_order_id).where(untouched)).all()
    templates = {t.id: t for t in db.session.scalars(select(FlowTemplate).where(FlowTemplate.id.in_({r.template_id for r in found})))}
    allowed = {r.id for r in found if templates[r.template_id].step(r.step).get("handover_at_shift_end")}
    if not allowed:
        return 0
    work_order_ids = sorted({r.work_order_id for r in found if r.id in allowed})
    work_orders = {w.id: w for w in db.session.scalars(
        select(WorkOrder).where(WorkOrder.id.in_(work_order_ids)).order_by(WorkOrder.id).with_for_update()
        .execution_options(populate_existing=True))}
    tasks = db.session.scalars(select(Task).where(Task.id.in_(allowed), untouched).order_by(Task.id)
                               .execution_options(populate_existing=True)).all()  # still theirs and untouched, now locked
    note = {"handover": {"shift_id": shift.id, "ended_at": shift.ends_at.isoformat()}}
    moved = sum(_move(task, work_orders[task.work_order_id], task.assignee_id, now, None, "shift_end", False, note) for task in tasks)
    db.session.flush()
    return moved
