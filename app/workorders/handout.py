"""The hand-out job: dispatched offers that waited in the pool go out as soon as someone has room (docs/design.md §16).

An offer of a `round_robin` or `least_loaded` step waits when no candidate on duty had room under the step's
`capacity`, when it was given back (released, or handed back from someone off duty), or when it opened behind
others already waiting. The worker (`flask worker`, every couple of seconds) and the sweep Lambda run
`hand_out_waiting`; a completion or a release of such a task also queues it on AWS (`nudge`), so a freed place is
filled within seconds there too.

Per step, one transaction: the template's desk is locked first (workorders.dispatch), then the waiting offers are
read most urgent first, skipping those whose work order someone holds at that moment (SKIP LOCKED: a claim or a
completion in progress; the next pass takes them). Each offer goes to whoever the step's rule picks among its
candidates on duty with room, never straight back to the person who released it. Two runs at once take turns on
the desk, and a task is only taken while it is still an open offer nobody holds: every offer is given once.
"""
from datetime import datetime

from sqlalchemy import select

from app.common.bulk import among_ids
from app.extensions import db
from app.flows.models import FlowTemplate
from app.notify.nudge import queue_after_commit
from app.notify.service import notify_many
from app.workorders.dispatch import WAITING, Desk, Offer, assign, assigned_notices, decide, dispatch_of
from app.workorders.engine import start_many
from app.workorders.models import Task, TaskCandidate, TimelineEvent, WorkOrder

_TASK = Task.__table__
_WORK_ORDER = WorkOrder.__table__
BATCH = 500


def hand_out_waiting(*, now: datetime, template_key: str | None = None, batch: int = BATCH) -> int:
    """Hand out the dispatched offers waiting in the pool, most urgent first (of one template, or all); one
    transaction per step, at most `batch` offers per step and pass. Answers how many were given."""
    steps = select(_TASK.c.template_key, _TASK.c.step).where(WAITING).distinct()
    if template_key is not None:
        steps = steps.where(_TASK.c.template_key == template_key)
    pairs = sorted(db.session.execute(steps).all())
    db.session.rollback()  # a read: the desks below are each taken in a transaction of their own
    given = 0
    for key, step in pairs:
        given += _hand_out_step(key, step, now, batch)
        db.session.commit()
    return given


def _hand_out_step(template_key: str, step: str, now: datetime, batch: int) -> int:
    desk = Desk(template_key, now)
    rows = db.session.execute(
        select(_TASK.c.id, _TASK.c.work_order_id, _TASK.c.priority, _TASK.c.due_at, _TASK.c.created_at, _TASK.c.calendar_id,
               _WORK_ORDER.c.template_id, _WORK_ORDER.c.number, _WORK_ORDER.c.title)
        .join(_WORK_ORDER, _WORK_ORDER.c.id == _TASK.c.work_order_id)
        .where(_TASK.c.template_key == template_key, _TASK.c.step == step, WAITING)
        .order_by(_TASK.c.priority, _TASK.c.due_at.is_(None), _TASK.c.due_at, _TASK.c.created_at, _TASK.c.id)
        .limit(batch).with_for_update(of=_WORK_ORDER, skip_locked=True)
    ).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    candidates: dict[int, list[int]] = {}
    for task_id, user_id in db.session.execute(
            select(TaskCandidate.task_id, TaskCandidate.user_id).where(among_ids(TaskCandidate.task_id, ids),
                                                                       TaskCandidate.is_open.is_(True))):
        candidates.setdefault(task_id, []).append(user_id)
    released = dict(db.session.execute(
        select(TimelineEvent.task_id, TimelineEvent.actor_id)
        .where(among_ids(TimelineEvent.work_order_id, {r.work_order_id for r in rows}), among_ids(TimelineEvent.task_id, ids),
               TimelineEvent.kind == "released").order_by(TimelineEvent.id)).all())  # the last release of each wins
    templates = {t.id: t for t in db.session.scalars(select(FlowTemplate).where(among_ids(FlowTemplate.id, {r.template_id for r in rows})))}
    offers = []
    for r in rows:
        config = templates[r.template_id].step(step)
        how = dispatch_of(config)
        if how is None:
            continue
        offers.append(Offer(r.id, r.work_order_id, step, how, config.get("capacity"), tuple(candidates.get(r.id, ())), r.priority,
                            r.due_at, r.created_at, r.calendar_id, r.number, r.title, config["title"], released.get(r.id)))
    written = assign(decide(desk, offers), now=now, actor_id=None)
    start_many({offer.work_order_id for offer, _ in written}, now)
    notify_many(assigned_notices(written, template_key), now)
    return len(written)


def nudge(*, template_key: str, step: dict, released: bool) -> None:
    """A task of a dispatched step was released (it waits to go out again) or, under a capacity, finished (a place is
    free): on AWS, a hand-out of the template is queued once this transaction commits (the jobs queue); locally the
    worker's next pass does it."""
    if dispatch_of(step) and (released or step.get("capacity") is not None):
        queue_after_commit(db.session, "JOBS_QUEUE_URL", {"kind": "hand_out", "template_key": template_key})
