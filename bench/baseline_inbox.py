"""The inbox as it was before issue 19's last steps, for bench_inbox.py to measure in the same run.

`inbox` is app/workorders/inbox.py as of commit cee45f5: its statements built and keyed again for every request, and
the pages' template versions read from `flow_templates` (one statement more). bench_inbox answers it with
`InboxSchema().dump`, as the view did then. Not used by the app.
"""
from datetime import datetime

from sqlalchemy import and_, bindparam, case, func, not_, or_, select, tuple_, union

from app.common.text import LIKE_ESCAPE, like_pattern
from app.common.types import UTCDateTime
from app.extensions import db
from app.org.models import User
from app.workorders.models import Task, TaskCandidate, TaskStatus, WorkOrder
from app.workorders.presenters import TASK_FIELDS, WorkOrderSummary, load_templates, present_task

SORTS = ("due", "priority", "newest")
GROUP_AT = 20  # this many offers of one step of one template are shown as one group (a flood, not a day's work)
SEARCHED = (WorkOrder.number, WorkOrder.title, WorkOrder.order_no, WorkOrder.customer_ref, WorkOrder.batch_no, WorkOrder.product_sku)

_USER = bindparam("user_id")
_NOW = bindparam("now", type_=UTCDateTime())
_LIVE = (TaskStatus.OPEN, TaskStatus.CLAIMED)
_OFFERED = select(TaskCandidate.task_id).where(TaskCandidate.user_id == _USER, TaskCandidate.is_open.is_(True))
# The candidate ids, read from the two indexes: with the OR alone PostgreSQL filters every open task in the table.
_CANDIDATES = union(select(Task.id).where(Task.assignee_id == _USER, Task.status.in_(_LIVE)), _OFFERED).subquery()
_THEIRS = and_(Task.id.in_(select(_CANDIDATES.c.id)), Task.status.in_(_LIVE),
               or_(Task.assignee_id == _USER, and_(Task.status == TaskStatus.OPEN, Task.id.in_(_OFFERED))))
_IS_POOL = and_(Task.mode == "pool", Task.assignee_id.is_(None))
_OVERDUE = and_(Task.due_at.is_not(None), Task.due_at < _NOW)
_ORDER = {
    "due": (case((_OVERDUE, 0), else_=1), case((Task.due_at.is_(None), 1), else_=0), Task.due_at, Task.priority, Task.id),
    "priority": (case((_OVERDUE, 0), else_=1), Task.priority, case((Task.due_at.is_(None), 1), else_=0), Task.due_at, Task.id),
    "newest": (Task.created_at.desc(), Task.id.desc()),
}
# The inbox reads plain rows of the columns it shows: loading whole ORM objects (and decoding each work order's
# JSON) cost more than the query itself.
_INBOX_TASK_COLUMNS = [getattr(Task, column) for column in TASK_FIELDS]
_INBOX_WORK_ORDER_COLUMNS = [getattr(WorkOrder, field).label(f"wo_{field}") for field in WorkOrderSummary._fields]


def _search(q: str):
    pattern = like_pattern(q.lower())
    return or_(*[func.lower(column).like(pattern, escape=LIKE_ESCAPE) for column in SEARCHED])


def inbox(*, user: User, now: datetime, q: str = "", sort: str = "priority", page: int = 1, per_page: int = 50,
          group: str | None = None) -> dict:
    """{mine, pool, totals: {mine, pool}, groups: [{key, template, step, title, count, overdue, soonest_due}]}: a page
    of each, sorted (`priority`, the default: overdue first, then the most urgent, then the soonest due; `due`:
    overdue first, then the soonest due; `newest`), searched by `q` (number, title,
    order, customer, batch, SKU), with `group` ("template:step") opening one group of offers."""
    where = [_THEIRS] + ([_search(q)] if q else [])
    params = {"user_id": user.id, "now": now}
    pooled = case((_IS_POOL, True), else_=False)
    counted = db.session.execute(
        select(WorkOrder.template_key, Task.step, pooled.label("pooled"), func.count(), func.min(Task.due_at),
               func.sum(case((_OVERDUE, 1), else_=0)), func.min(WorkOrder.template_id))
        .select_from(Task).join(WorkOrder, WorkOrder.id == Task.work_order_id).where(*where)
        .group_by(WorkOrder.template_key, Task.step, pooled), params).all()
    per_step = {f"{r.template_key}:{r.step}": r[3] for r in counted if r.pooled}
    totals = {"mine": sum(r[3] for r in counted if not r.pooled), "pool": sum(per_step.values())}
    big = [r for r in counted if r.pooled and r[3] >= GROUP_AT]
    templates = load_templates({r[6] for r in big})
    groups = [{"key": f"{r.template_key}:{r.step}", "template": r.template_key, "step": r.step,
               "title": _step_title(templates.get(r[6]), r.step), "count": r[3], "overdue": int(r[5] or 0),
               "soonest_due": r[4]} for r in sorted(big, key=lambda r: (-int(r[5] or 0), r[4] is None, r[4] or now))]
    order = _ORDER[sort if sort in SORTS else "priority"]
    mine = _page(where + [not_(_IS_POOL)], order, params, page, per_page, now)
    pool_where = where + [_IS_POOL]
    if group:  # one step's offers, grouped or not (a group shrinks below the threshold as its offers are taken)
        template_key, _, step = group.partition(":")
        pool_where.append(and_(WorkOrder.template_key == template_key, Task.step == step))
        pool_shown = per_step.get(group, 0)
    else:
        if big:
            pool_where.append(not_(tuple_(WorkOrder.template_key, Task.step).in_([(r.template_key, r.step) for r in big])))
        pool_shown = totals["pool"] - sum(r[3] for r in big)
    pool = _page(pool_where, order, params, page, per_page, now)
    return {"mine": mine, "pool": pool, "totals": totals, "groups": groups, "pool_shown": pool_shown}


def _page(where: list, order, params: dict, page: int, per_page: int, now: datetime) -> list[dict]:
    rows = db.session.execute(
        select(*_INBOX_TASK_COLUMNS, *_INBOX_WORK_ORDER_COLUMNS).join(WorkOrder, WorkOrder.id == Task.work_order_id)
        .where(*where).order_by(*order).limit(per_page).offset((page - 1) * per_page), params).all()
    templates = load_templates({row.wo_template_id for row in rows})
    views = []
    for row in rows:
        work_order = WorkOrderSummary(*row[len(_INBOX_TASK_COLUMNS):])
        views.append(present_task(row, work_order, templates[work_order.template_id], now))
    return views


def _step_title(template, step: str) -> str:
    if template is None:
        return step
    return next((s["title"] for s in template.steps if s["key"] == step), step)

