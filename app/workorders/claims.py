"""Claiming a pool task (exactly one claimer wins) and giving it back."""
from datetime import datetime

from sqlalchemy import Boolean, bindparam, exists, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from app.common.bulk import dialect
from app.common.offline import effective_time
from app.common.types import UTCDateTime
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.flows.models import FlowTemplate
from app.flows.versions import XMIN, running_version
from app.notify.service import Reader, notify, notify_many
from app.org.models import User
from app.workorders import engine, presenters, timeline
from app.workorders.dispatch import Desk, dispatch_of
from app.workorders.handout import nudge
from app.workorders.acting import check_transition, commit_or_conflict, effective_times, lock_task, refusal_details
from app.workorders.models import TASK_TRANSITIONS, WORK_ORDER_TRANSITIONS, Task, TaskCandidate, TaskStatus, WorkOrder
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
    """`claim_task`, answered as the API shows a task: in one statement when it can be (`_claim_at_once`)."""
    if occurred_at is None and dialect() == "postgresql":
        view = _claim_at_once(user, task_id, now)
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
        template = db.session.get(FlowTemplate, work_order.template_id)
        candidate = is_candidate(user, task)
    held = _refuse_claim(user, task, candidate)
    if held is not None:
        return held
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
           params={"who": user.name, "number": work_order.number, "step": step["title"]},
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


# The claim in one statement (PostgreSQL), for the claim a phone makes all day: a pool offer handed out by claiming, on
# no business calendar, claimed online (so the device's time plays no part). Lock the work order of an offer to the
# claimer (always before the task, as every other writer does), take the task with the same arbitrating UPDATE as
# `_TAKE`, close the offer answering its candidates, start the work order, write the timeline; and answer what the
# answer and the "taken" notifications need: the task, its work order, the candidates with their language, time
# zone and devices, and the template version's id and xmin (app/flows/versions.py). No row means anything else
# (nothing offered, taken by someone else, held already, a dispatched step, a calendar): `claim_task` then applies
# the full rules under the same lock, so every refusal says exactly why.
_CLAIMABLE = ", ".join(f"'{s.value}'" for s in sorted(TASK_TRANSITIONS["claim"][0]))
_STARTABLE = ", ".join(f"'{s.value}'" for s in sorted(WORK_ORDER_TRANSITIONS["start"][0]))
_WORK_ORDER_COLUMNS = ("id", "number", "title", "description", "priority", "status", "template_key", "template_id",
                       "order_no", "customer_ref", "product_sku", "batch_no")
_CLAIM_AT_ONCE = text(f"""
    WITH offer AS (
        SELECT work_orders.id AS work_order_id, flow_templates.id AS template_id, {XMIN} AS template_xmin
        FROM tasks
        JOIN work_orders ON work_orders.id = tasks.work_order_id
        JOIN flow_templates ON flow_templates.id = work_orders.template_id
        WHERE tasks.id = :task_id AND tasks.mode = 'pool' AND tasks.dispatch IS NULL AND tasks.calendar_id IS NULL
          AND EXISTS (SELECT 1 FROM task_candidates
                      WHERE task_candidates.task_id = tasks.id AND task_candidates.user_id = :user_id)
        FOR UPDATE OF work_orders
    ), taken AS (
        UPDATE tasks SET status = '{TaskStatus.CLAIMED.value}', assignee_id = :user_id, claimed_at = :now,
                         claimed_effective_at = :now, version = tasks.version + 1
        FROM offer
        WHERE tasks.id = :task_id AND tasks.work_order_id = offer.work_order_id AND tasks.status IN ({_CLAIMABLE})
          AND tasks.assignee_id IS NULL
        RETURNING {", ".join(f"tasks.{c}" for c in presenters.TASK_FIELDS)}, offer.template_id, offer.template_xmin
    ), closed AS (
        UPDATE task_candidates SET is_open = false FROM taken WHERE task_candidates.task_id = taken.id
        RETURNING task_candidates.user_id
    ), started AS (
        UPDATE work_orders SET
            status = CASE WHEN work_orders.status IN ({_STARTABLE}) THEN '{WORK_ORDER_TRANSITIONS["start"][1].value}'
                          ELSE work_orders.status END,
            started_at = CASE WHEN work_orders.status IN ({_STARTABLE}) THEN :now ELSE work_orders.started_at END,
            updated_at = :now
        FROM taken WHERE work_orders.id = taken.work_order_id
        RETURNING {", ".join(f"work_orders.{c} AS wo_{c}" for c in _WORK_ORDER_COLUMNS)}
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT taken.work_order_id, taken.id, 'claimed', :user_id, :now, NULL, '{{"device_time_trusted": true}}' FROM taken
    )
    SELECT taken.*, started.*, (
        SELECT json_agg(json_build_object(
            'id', users.id, 'name', users.name, 'login', users.login, 'locale', users.locale, 'active', users.active,
            'quiet_hours', users.quiet_hours,
            'devices', ARRAY(SELECT push_subscriptions.id FROM push_subscriptions WHERE push_subscriptions.user_id = users.id)
        ) ORDER BY users.id)
        FROM closed JOIN users ON users.id = closed.user_id
    ) AS people
    FROM taken CROSS JOIN started
""").bindparams(bindparam("now", type_=UTCDateTime())).columns(
    **{name: column.type for name, column in Task.__table__.c.items() if name in presenters.TASK_FIELDS},
    **{f"wo_{name}": WorkOrder.__table__.c[name].type for name in _WORK_ORDER_COLUMNS},
)


def _claim_at_once(user: User, task_id: int, now: datetime) -> dict | None:
    """The claim of `claim_task` in one statement, its "taken" notifications in one more, answered from the rows they
    return (no object loaded, nothing read again); None when the full rules must decide (nothing written then)."""
    me = {"id": user.id, "name": user.name, "login": user.login}  # read before the commit expires `user`
    row = db.session.execute(_CLAIM_AT_ONCE, {"task_id": task_id, "user_id": me["id"], "now": now}).first()
    if row is None:
        return None
    template = running_version(row.template_id, row.template_xmin)
    work_order = presenters.WorkOrderSummary(*(getattr(row, f"wo_{name}") for name in _WORK_ORDER_COLUMNS))
    people = row.people or []
    step = template.step(row.step)
    others = [p for p in people if p["id"] != me["id"] and p["active"]]
    notify_many([{"user_ids": [p["id"] for p in others], "kind": "task.taken", "about": {"task_id": row.id},
                  "params": {"who": me["name"], "number": work_order.number, "step": step["title"]}, "priority": "P4"}],
                now, readers=[Reader(p["id"], p["locale"], p["quiet_hours"], p["devices"]) for p in others])
    db.session.commit()
    view = presenters.present_task(row, work_order, template, now, [p["id"] for p in people])
    named = {p["id"]: {"id": p["id"], "name": p["name"], "login": p["login"]} for p in people}
    view["assignee"] = named.get(me["id"], me)
    view["candidate_people"] = list(named.values())
    return view
