"""Finishing a task (the work order moves on) and returning the work to an earlier step."""
from datetime import datetime

from sqlalchemy import select

from app.common.bulk import dialect
from app.flows.routing import descendants
from app.errors import Conflict, Invalid
from app.extensions import db
from app.flows.forms import REFERENCES, for_each_errors, mismatch_errors, step_words, validate_values
from app.notify.service import notify
from app.org.models import User
from app.workorders import engine, fastpaths, presenters, timeline
from app.workorders.acting import STATE_CONFLICTS, check_transition, commit_or_conflict, effective_times, lock_task, require_actor
from app.workorders.attachments import attachment_errors
from app.workorders.handout import nudge
from app.workorders.models import StepStatus, Task, TaskStatus, WorkOrderStep
from app.workorders.timers import disarm_task_timers, working_seconds

def complete_and_present(*, user: User, task_id: int, outcome: str | None, note: str | None, data: dict | None,
                         now: datetime, occurred_at: datetime | None = None, expected_version: int | None = None,
                         max_skew: int) -> dict:
    """`complete_task`, answered as the API shows a task: in a few statements when it can be (fastpaths.complete)."""
    if dialect() == "postgresql":
        view = fastpaths.complete(user, task_id, outcome, note, data, expected_version, now, occurred_at, max_skew)
        if view is not None:
            return view
    return presenters.present_one(complete_task(
        user=user, task_id=task_id, outcome=outcome, note=note, data=data, now=now, occurred_at=occurred_at,
        expected_version=expected_version, max_skew=max_skew), now)


def complete_task(*, user: User, task_id: int, outcome: str | None, note: str | None, data: dict | None, now: datetime,
                  occurred_at: datetime | None = None, expected_version: int | None = None, max_skew: int) -> Task:
    """Finish a task with an allowed outcome and its form; the work order moves on."""
    task, work_order, step = lock_task(user, task_id)
    if expected_version is not None and expected_version != task.version:
        raise Conflict("The task changed since you loaded it.", code="task_changed", details={"version": task.version})
    if task.status in STATE_CONFLICTS:
        check_transition(task, "complete", user)
    require_actor(user, task)
    target = check_transition(task, "complete", user)
    outcome = outcome or step.get("outcomes", ["done"])[0]
    if outcome not in step.get("outcomes", ["done"]):
        raise Invalid("That outcome is not allowed here.", details={"outcome": [f"must be one of {step.get('outcomes', ['done'])}"]})
    form = step.get("form") or []
    clean, errors = validate_values(form, data or {})
    if not errors:
        errors = attachment_errors(work_order_id=work_order.id, fields=form, values=clean)
        if task.mode != "each":  # these values join the work order's data, which later for_each steps read
            errors.update(for_each_errors(engine.template_of(work_order).steps, clean))
    if errors:
        raise Invalid("The completion form is not valid.", details=errors)
    # A scan is checked against the work order once the form is otherwise sound, so the refusal can say just that.
    expected = {**(work_order.data or {}), **{key: getattr(work_order, key) for key in REFERENCES if getattr(work_order, key)}}
    mismatched = mismatch_errors(form, clean, expected)
    if mismatched:
        raise Invalid("A scanned code does not match the work order.", code="barcode_mismatch", details=mismatched)
    at, trusted = effective_times(task, now, occurred_at, max_skew)
    if task.mode == "pool" and task.assignee_id is None:
        task.assignee_id = user.id  # completing an unclaimed pool task claims it in the same step
        task.claimed_at = now
        task.claimed_effective_at = at
        task.claim_working_seconds = working_seconds(task.calendar_id, task.created_at, at)
    task.status = target
    task.completed_at = now
    task.completed_effective_at = at
    task.complete_working_seconds = working_seconds(task.calendar_id, task.created_at, at)
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
    nudge(template_key=work_order.template_key, step=step, released=False)
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="completed", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details={"outcome": outcome, "note": note, "data": clean, "device_time_trusted": trusted})
    db.session.flush()
    engine.advance(work_order=work_order, template=engine.template_of(work_order), now=now, actor_id=user.id)
    commit_or_conflict()
    return task


def return_task(*, user: User, task_id: int, reason: str, now: datetime, to_step: str | None = None,
                occurred_at: datetime | None = None) -> Task:
    """Send the work back to the previous step, re-opened with its last handler (counted per work order)."""
    task, work_order, step = lock_task(user, task_id)
    if not step.get("allow_return"):
        raise Conflict("This step does not allow returns.", code="return_not_allowed")
    check_transition(task, "return", user)
    require_actor(user, task)
    predecessors = step.get("after") or []
    if not predecessors:
        raise Conflict("This is a first step; there is nothing to return to.", code="nothing_to_return_to")
    if to_step is not None and to_step not in predecessors:
        raise Invalid("Not a previous step.", details={"to_step": [f"must be one of {predecessors}"]})
    wsteps = {w.key: w for w in db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order.id))}
    # A branch not taken was never worked on: it can never be returned to.
    taken = [key for key in predecessors if wsteps[key].status != StepStatus.SKIPPED]
    if to_step is not None and to_step not in taken:
        raise Invalid("That step was skipped (a branch not taken); it cannot be returned to.",
                      code="step_skipped", details={"to_step": [f"must be one of {taken}"]})
    targets = [to_step] if to_step else taken
    wstep = wsteps[task.step]
    siblings = db.session.scalars(select(Task).where(
        Task.step_id == wstep.id, Task.activation == wstep.activation, Task.status.in_([TaskStatus.OPEN, TaskStatus.CLAIMED]))).all()
    engine.cancel_tasks(siblings, now)
    wstep.status = StepStatus.PENDING
    work_order.return_count += 1
    work_order.updated_at = now
    template = engine.template_of(work_order)
    # Returning re-opens the branch: the branches skipped after the steps returned to are decided again when
    # those steps finish again (their route may differ this time).
    reopened_branches = sorted({key for target in targets for key in descendants(template.steps, target)
                                if wsteps[key].status == StepStatus.SKIPPED})
    for key in reopened_branches:
        wsteps[key].status = StepStatus.PENDING
        wsteps[key].route = None
    details = {"reason": reason, "from_step": task.step, "to_steps": targets}
    if reopened_branches:
        details["reopened"] = reopened_branches
    timeline.record(work_order_id=work_order.id, task_id=task.id, kind="returned", actor_id=user.id, now=now,
                    occurred_at=occurred_at, details=details)
    for key in targets:
        target_step = wsteps[key]
        last = [target_step.last_handler_id] if target_step.last_handler_id else None
        reopened = engine.activate_step(work_order=work_order, wstep=target_step, step=template.step(key), now=now,
                                        actor_id=user.id, only_users=last)
        notify(user_ids=[c for t in reopened for c in ([t.assignee_id] if t.assignee_id else last or [])],
               kind="work_order.returned", params={"number": work_order.number, **step_words(template.step(key)), "reason": reason},
               about={"work_order_id": work_order.id, "task_id": reopened[0].id if reopened else None},
               priority=work_order.priority, now=now)
    commit_or_conflict()
    return task
