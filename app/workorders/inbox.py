"""The inbox: a person's own tasks and the pool tasks they may claim, in one prebuilt query."""
from datetime import datetime

from sqlalchemy import and_, bindparam, case, or_, select, union

from app.common.types import UTCDateTime
from app.extensions import db
from app.org.models import User
from app.workorders.models import Task, TaskCandidate, TaskStatus, WorkOrder
from app.workorders.presenters import TASK_FIELDS, WorkOrderSummary, load_templates, present_task


def inbox(*, user: User, now: datetime, limit: int = 200) -> dict:
    """The caller's own tasks and the pool tasks they can claim, urgent and overdue first, in one query."""
    rows = db.session.execute(_INBOX, {"user_id": user.id, "now": now, "limit": limit}).all()
    templates = load_templates({row.wo_template_id for row in rows})
    mine, pool = [], []
    for row in rows:
        work_order = WorkOrderSummary(*row[len(_INBOX_TASK_COLUMNS):])
        view = present_task(row, work_order, templates[work_order.template_id], now)
        (pool if row.mode == "pool" and row.assignee_id is None else mine).append(view)
    return {"mine": mine, "pool": pool}


def _inbox_query():
    """The inbox's one query, built once (building it cost more than running it)."""
    user_id, now = bindparam("user_id"), bindparam("now", type_=UTCDateTime())
    live = [TaskStatus.OPEN, TaskStatus.CLAIMED]
    offered = select(TaskCandidate.task_id).where(TaskCandidate.user_id == user_id, TaskCandidate.is_open.is_(True))
    # The candidate ids, read from the two indexes (ix_tasks_assignee_status, ix_task_candidates_user_open), so the
    # query costs what the caller's inbox holds: with the OR alone PostgreSQL filters every open task in the table.
    candidate_ids = union(select(Task.id).where(Task.assignee_id == user_id, Task.status.in_(live)), offered).subquery()
    overdue_first = case((and_(Task.due_at.is_not(None), Task.due_at < now), 0), else_=1)
    due_nulls_last = case((Task.due_at.is_(None), 1), else_=0)
    return (
        select(*_INBOX_TASK_COLUMNS, *_INBOX_WORK_ORDER_COLUMNS)
        .join(WorkOrder, WorkOrder.id == Task.work_order_id)
        .where(
            Task.id.in_(select(candidate_ids.c.id)),
            Task.status.in_(live),
            or_(Task.assignee_id == user_id, and_(Task.status == TaskStatus.OPEN, Task.id.in_(offered))),
        )
        .order_by(overdue_first, Task.priority, due_nulls_last, Task.due_at, Task.id)
        .limit(bindparam("limit"))
    )


# The inbox reads plain rows of the columns it shows: loading whole ORM objects (and decoding each work order's
# JSON) cost more than the query itself.
_INBOX_TASK_COLUMNS = [getattr(Task, column) for column in TASK_FIELDS]
_INBOX_WORK_ORDER_COLUMNS = [getattr(WorkOrder, field).label(f"wo_{field}") for field in WorkOrderSummary._fields]
_INBOX = _inbox_query()
