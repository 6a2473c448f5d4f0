"""What every command on a task shares: the transition table check, locking in one order, the offline time,
committing under the optimistic version check, and who may act."""
from datetime import datetime

from sqlalchemy.orm.exc import StaleDataError

from app.common.offline import effective_time
from app.errors import Conflict, Forbidden
from app.extensions import db
from app.flows.versions import held
from app.org.models import User
from app.workorders.models import TASK_TRANSITIONS, Task, TaskStatus, WorkOrder
from app.workorders.policy import can_act_on_task, is_candidate, visible_task

STATE_CONFLICTS = {
    TaskStatus.COMPLETED: ("task_completed", "This task is already completed."),
    TaskStatus.CANCELLED: ("task_cancelled", "This task was cancelled."),
}


def refusal_details(task: Task) -> dict:
    """What a refused person is told of the task as it is: its status and, when someone holds or finished it, who
    and when (`by` {id, name}, `at`) — so a phone can say "王伟 completed it at 14:02" instead of offering a retry."""
    details: dict = {"status": str(task.status)}
    if task.status == TaskStatus.COMPLETED:
        who, at = task.completed_by_id, task.completed_effective_at or task.completed_at
    elif task.status == TaskStatus.CLAIMED:
        who, at = task.assignee_id, task.claimed_effective_at or task.claimed_at
    else:
        return details
    person = db.session.get(User, who) if who is not None else None
    if person is not None:
        details["by"] = {"id": person.id, "name": person.name}
    if at is not None:
        details["at"] = at.isoformat()
    return details


def check_transition(task: Task, action: str, user: User) -> TaskStatus:
    """The status `action` takes the task to, from the one transitions table; 409 saying why when it cannot."""
    allowed, target = TASK_TRANSITIONS[action]
    if task.status not in allowed:
        code, message = STATE_CONFLICTS.get(task.status, ("invalid_transition", f"A {task.status} task cannot be {action}ed."))
        if task.status == TaskStatus.CLAIMED and task.assignee_id != user.id:
            code, message = "task_taken", "Someone else has taken this task."
        raise Conflict(message, code=code, details=refusal_details(task))
    return target


def lock_task(user: User, task_id: int) -> tuple[Task, WorkOrder, dict]:
    """Load a visible task and lock its work order (always before the task, so lock order never deadlocks)."""
    task = visible_task(user, task_id)
    work_order = db.session.get(WorkOrder, task.work_order_id, with_for_update=True, populate_existing=True)
    db.session.refresh(task)
    template = held(work_order.template_id)
    return task, work_order, template.step(task.step)


def effective_times(task: Task, now: datetime, occurred_at: datetime | None, max_skew: int) -> tuple[datetime, bool]:
    """When the action happened by the offline-truth rule, and whether the device's time was trusted."""
    return effective_time(occurred_at=occurred_at, received_at=now, not_before=task.created_at, max_skew_seconds=max_skew)


def commit_or_conflict() -> None:
    """Commit; a task changed by someone else meanwhile (its version moved) is 409 task_changed."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict("The task changed while you were acting on it; reload and try again.", code="task_changed")


def require_actor(user: User, task: Task) -> None:
    """Refuse anyone who may not act on the task: 409 when a colleague took it, else 403."""
    if not can_act_on_task(user, task):
        if task.assignee_id is not None and task.status == TaskStatus.CLAIMED and is_candidate(user, task):
            raise Conflict("Someone else has taken this task.", code="task_taken", details=refusal_details(task))
        raise Forbidden("You are not a handler of this task.", code="not_a_handler")
