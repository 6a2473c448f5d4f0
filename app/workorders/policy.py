"""Who may see and act on work orders and tasks (docs/design.md §5): one place, used by every view and service."""
from sqlalchemy import exists, or_, select

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.org.models import User
from app.org.service import subtree_ids
from app.workorders.models import Task, TaskCandidate, WorkOrder, WorkOrderDepartment

QUALITY_SOURCES = ("andon", "recall")
#: Who may open work orders and steer them (add or remove handlers, escalate, evaluate): the gate at the
#: door. Which work orders each of them steers is `can_lead_work_order`.
STEERING_ROLES = ("lead", "admin", "quality")


def lead_department_ids(user: User) -> set[int]:
    """Departments a lead oversees: their own and every one below it."""
    if not user.has_role("lead") or user.department_id is None:
        return set()
    return subtree_ids(user.department_id)


def _overseer_clauses(user: User) -> list:
    """Why `user` sees a whole work order, every task of it: they created it, lead a department taking part,
    or are quality and it came from an andon or a recall."""
    clauses = [WorkOrder.created_by_id == user.id]
    departments = lead_department_ids(user)
    if departments:
        clauses.append(
            exists().where(
                WorkOrderDepartment.work_order_id == WorkOrder.id,
                WorkOrderDepartment.department_id.in_(departments),
            )
        )
    if user.has_role("quality"):
        clauses.append(WorkOrder.source.in_(QUALITY_SOURCES))
    return clauses


def handles_task(user: User):
    """A WHERE clause selecting the tasks `user` is a candidate or the assignee of."""
    return or_(
        Task.assignee_id == user.id,
        exists().where(TaskCandidate.task_id == Task.id, TaskCandidate.user_id == user.id),
    )


def work_order_filter(user: User):
    """A WHERE clause selecting the work orders `user` may see."""
    if user.has_role("admin"):
        return None
    involved = exists().where(
        Task.work_order_id == WorkOrder.id,
        or_(
            Task.assignee_id == user.id,
            Task.id.in_(select(TaskCandidate.task_id).where(TaskCandidate.user_id == user.id)),
        ),
    )
    return or_(*_overseer_clauses(user), involved)


def oversees_work_order(user: User, work_order: WorkOrder) -> bool:
    """Whether `user` sees every task of a work order, not only those they handle (docs/design.md §5)."""
    if user.has_role("admin"):
        return True
    return bool(db.session.scalar(select(WorkOrder.id).where(WorkOrder.id == work_order.id, or_(*_overseer_clauses(user)))))


def task_filter(user: User, work_order: WorkOrder):
    """A WHERE clause selecting the tasks of a visible work order that `user` may see; None for all of them.

    Staff see the tasks they are a candidate or the assignee of, and nothing else: not a colleague's own task of
    an `each` step, not the tasks of other steps. Those who oversee the work order see every task.
    """
    return None if oversees_work_order(user, work_order) else handles_task(user)


def can_view_work_order(user: User, work_order: WorkOrder) -> bool:
    clause = work_order_filter(user)
    if clause is None:
        return True
    return bool(db.session.scalar(select(WorkOrder.id).where(WorkOrder.id == work_order.id, clause)))


def visible_work_order(user: User, work_order_id: int) -> WorkOrder:
    """The work order if `user` may see it; 404 otherwise, since its existence is private."""
    work_order = db.session.get(WorkOrder, work_order_id)
    if work_order is None or not can_view_work_order(user, work_order):
        raise NotFound("No such work order.")
    return work_order


def is_candidate(user: User, task: Task) -> bool:
    return bool(db.session.scalar(
        select(TaskCandidate.user_id).where(TaskCandidate.task_id == task.id, TaskCandidate.user_id == user.id)
    ))


def can_act_on_task(user: User, task: Task) -> bool:
    """Handlers act on their tasks: the assignee, or a candidate of an unassigned task."""
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return is_candidate(user, task)


def can_lead_work_order(user: User, work_order: WorkOrder) -> bool:
    """Leads of a taking-part department, the creator (if a lead) and admins steer a work order."""
    if user.has_role("admin"):
        return True
    if not user.has_role(*STEERING_ROLES):
        return False
    if work_order.created_by_id == user.id:
        return True
    if user.has_role("quality") and work_order.source in QUALITY_SOURCES:
        return True
    departments = lead_department_ids(user)
    return bool(departments) and bool(db.session.scalar(
        select(WorkOrderDepartment.department_id).where(
            WorkOrderDepartment.work_order_id == work_order.id, WorkOrderDepartment.department_id.in_(departments)
        ).limit(1)
    ))


def require_lead(user: User, work_order: WorkOrder) -> None:
    if not can_lead_work_order(user, work_order):
        raise Forbidden("Only a lead of a department taking part can do that.", code="lead_required")


def visible_task(user: User, task_id: int) -> Task:
    """The task if `user` handles it or oversees its work order; 404 otherwise, since its existence is private."""
    task = db.session.get(Task, task_id)
    if task is None:
        raise NotFound("No such task.")
    if task.assignee_id == user.id or is_candidate(user, task):
        return task
    if not oversees_work_order(user, task.work_order):
        raise NotFound("No such task.")
    return task
