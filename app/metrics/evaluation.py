"""Evaluating a resolved work order: the customer's answer and the QA resolution score (docs/design.md §8).

Who records what:
- a lead who can lead the work order, or an admin: the customer's answer (`resolved`), the QA
  score (1 perfunctory, 2 messenger only, 3 resolved, 4 delighted) and a note;
- an integration key with scope `volumes:write` (the contact-centre system that also posts
  service volumes), on the customer's behalf: the customer's answer only, never the QA score or
  the note, which are a person's judgement (403 `score_requires_person` / `note_requires_person`).
  A key learns nothing about work orders it cannot evaluate: a missing one and one that is not
  resolved answer the same 404.

Only resolved work orders are evaluated (409 `not_resolved` otherwise): a cancelled one solved
nothing, and an open one is not finished. One evaluation per work order; posting again corrects
the fields given and leaves the others, and every change is kept on the timeline
(`evaluated`, with the values before and after).
"""
from datetime import datetime

from sqlalchemy import func, select

from app.auth.models import ApiKey
from app.common.clock import as_utc
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.metrics import facts
from app.metrics.models import Evaluation
from app.org.models import User
from app.workorders import timeline
from app.workorders.models import Task, WorkOrder, WorkOrderStatus
from app.workorders.policy import require_lead, visible_work_order
from app.workorders.service import register_detail_part

FIELDS = ("resolved", "score", "note")


def _snapshot(evaluation: Evaluation | None) -> dict | None:
    if evaluation is None:
        return None
    return {name: getattr(evaluation, name) for name in FIELDS}


def _effort_inputs(work_order: WorkOrder) -> tuple[float, float]:
    """B1 and B2 of the effort score, by offline-truth time: wait before the first pick-up, then handling to the end."""
    first_pick, last_done = db.session.execute(
        select(func.min(func.coalesce(Task.claimed_effective_at, Task.completed_effective_at)), func.max(Task.completed_effective_at))
        .where(Task.work_order_id == work_order.id)
    ).one()
    if first_pick is None:
        return 0.0, 0.0
    first_pick, last_done = as_utc(first_pick), as_utc(last_done) if last_done else None
    wait = max((first_pick - work_order.created_at).total_seconds(), 0.0)
    handling = max((last_done - first_pick).total_seconds(), 0.0) if last_done else 0.0
    return wait, handling


def _load_for_update(work_order_id: int) -> WorkOrder:
    work_order = db.session.get(WorkOrder, work_order_id, with_for_update=True, populate_existing=True)
    if work_order is None:
        raise NotFound("No such work order.")
    return work_order


def record_evaluation(*, work_order_id: int, changes: dict, now: datetime, user: User | None = None,
                      api_key: ApiKey | None = None) -> tuple[Evaluation, bool]:
    """Record or correct the evaluation of a resolved work order; answers (evaluation, created)."""
    if "note" in changes:
        changes = {**changes, "note": changes["note"] or ""}
    if user is not None:
        visible_work_order(user, work_order_id)
        work_order = _load_for_update(work_order_id)
        require_lead(user, work_order)
    else:
        if "score" in changes:
            raise Forbidden("The QA resolution score is recorded by a person, not an integration.", code="score_requires_person")
        if "note" in changes:
            raise Forbidden("The evaluation note is written by a person, not an integration.", code="note_requires_person")
        work_order = db.session.get(WorkOrder, work_order_id, with_for_update=True, populate_existing=True)
        if work_order is None or work_order.status != WorkOrderStatus.RESOLVED:
            raise NotFound("No resolved work order has this id.")
    if work_order.status != WorkOrderStatus.RESOLVED:
        raise Conflict("Only a resolved work order can be evaluated.", code="not_resolved", details={"status": work_order.status})

    evaluation = db.session.scalar(select(Evaluation).where(Evaluation.work_order_id == work_order.id))
    before = _snapshot(evaluation)
    created = evaluation is None
    if created:
        evaluation = Evaluation(work_order_id=work_order.id, note="", created_at=now, corrections=0)
        db.session.add(evaluation)
    changed = {name: value for name, value in changes.items() if name in FIELDS and (before is None or before[name] != value)}
    for name, value in changed.items():
        setattr(evaluation, name, value)
    if "resolved" in changed:
        evaluation.customer_answered_at = now
    if "score" in changed:
        evaluation.scored_at = now
        evaluation.scored_by_id = user.id if user else None
    if not created and not changed:
        return evaluation, False  # the same answer again changes nothing and adds nothing to the timeline
    evaluation.wait_seconds, evaluation.handling_seconds = _effort_inputs(work_order)
    evaluation.updated_at = now
    evaluation.updated_by_id = user.id if user else None
    evaluation.updated_by_key_id = api_key.id if api_key else None
    if not created:
        evaluation.corrections = (evaluation.corrections or 0) + 1
    timeline.record(
        work_order_id=work_order.id, kind="evaluated", actor_id=user.id if user else None, now=now,
        details={
            "before": before,
            "after": _snapshot(evaluation),
            "correction": not created,
            "by": "user" if user else "api_key",
            "api_key_id": api_key.id if api_key else None,
        },
    )
    db.session.flush()
    facts.copy_evaluation(evaluation)
    db.session.commit()
    return evaluation, created


def get_evaluation(*, user: User, work_order_id: int) -> Evaluation:
    """The evaluation of a work order the caller may see; 404 when there is none yet."""
    work_order = visible_work_order(user, work_order_id)
    evaluation = evaluation_of(work_order_id=work_order.id)
    if evaluation is None:
        raise NotFound("This work order has not been evaluated.", code="not_evaluated")
    return evaluation


def evaluation_of(*, work_order_id: int) -> Evaluation | None:
    """The evaluation of a work order, if any (the caller has already checked visibility)."""
    return db.session.scalar(select(Evaluation).where(Evaluation.work_order_id == work_order_id))


# A work order's detail shows its evaluation.
register_detail_part(lambda work_order: {"evaluation": evaluation_of(work_order_id=work_order.id)})
