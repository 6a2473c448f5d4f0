"""The inbox (docs/design.md §15): a person's own tasks and the pool tasks they may claim, searchable, sorted, paged,
with true totals — and many similar offers (a recall's hundreds of "contact the customer") folded into groups, so a
person's own normal work never disappears behind a flood.

Three statements, each over the caller's candidate set only (read from the two indexes, `ix_tasks_assignee_status`
and `ix_task_candidates_user_open`): the totals and the groups together, a page of their own tasks, a page of the
pool. `mine` is what waits on them alone (assigned to them, or offered to them in `joint` or `each` mode); `pool`
is the offers anyone of several may claim. A group is every pool offer of one step of one template once there are
GROUP_AT (20) of them; the pool page leaves grouped offers out unless `group` opens one.
"""
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Integer, and_, bindparam, case, func, literal_column, not_, or_, select, tuple_, union

from app.common.bulk import dialect
from app.common.text import LIKE_ESCAPE, like_pattern
from app.common.types import UTCDateTime
from app.extensions import db
from app.flows.models import FlowTemplate
from app.flows.versions import XMIN, running_version
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
_WORK_ORDER_SLICE = slice(len(_INBOX_TASK_COLUMNS), len(_INBOX_TASK_COLUMNS) + len(_INBOX_WORK_ORDER_COLUMNS))
_PATTERN = bindparam("pattern")
_POOLED = case((_IS_POOL, True), else_=False)
# What the pool page leaves out or keeps to: nothing, the grouped steps ("template:step" pairs), or one group.
_FILTERS = {
    None: (),
    "ungrouped": (not_(tuple_(WorkOrder.template_key, Task.step).in_(bindparam("grouped", expanding=True))),),
    "group": (WorkOrder.template_key == bindparam("group_template"), Task.step == bindparam("group_step")),
}


def _where(searched: bool) -> list:
    return [_THEIRS] + ([or_(*[func.lower(column).like(_PATTERN, escape=LIKE_ESCAPE) for column in SEARCHED])] if searched else [])


# The statements are built once per shape (sort, searched or not, which pool filter, with the templates' xmin on
# PostgreSQL) and kept: building and keying them again for every request cost more than running them.
@lru_cache(maxsize=None)
def _counted(searched: bool):
    return (select(WorkOrder.template_key, Task.step, _POOLED.label("pooled"), func.count(), func.min(Task.due_at),
                   func.sum(case((_OVERDUE, 1), else_=0)), func.min(WorkOrder.template_id))
            .select_from(Task).join(WorkOrder, WorkOrder.id == Task.work_order_id).where(*_where(searched))
            .group_by(WorkOrder.template_key, Task.step, _POOLED))


@lru_cache(maxsize=None)
def _page_of(pool: bool, sort: str, searched: bool, keep: str | None, xmin: bool):
    """A page of one list. With `xmin` (PostgreSQL) each row says which write of its template version it runs on, so
    the version is answered from memory (`versions.running_version`) instead of being read again."""
    columns = [*_INBOX_TASK_COLUMNS, *_INBOX_WORK_ORDER_COLUMNS] + ([literal_column(XMIN).label("template_xmin")] if xmin else [])
    statement = select(*columns).join(WorkOrder, WorkOrder.id == Task.work_order_id)
    if xmin:
        statement = statement.join(FlowTemplate, FlowTemplate.id == WorkOrder.template_id)
    where = _where(searched) + ([_IS_POOL, *_FILTERS[keep]] if pool else [not_(_IS_POOL)])
    return (statement.where(*where).order_by(*_ORDER[sort])
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


def inbox(*, user: User, now: datetime, q: str = "", sort: str = "priority", page: int = 1, per_page: int = 50,
          group: str | None = None) -> dict:
    """{mine, pool, totals: {mine, pool}, groups: [{key, template, step, title, count, overdue, soonest_due}]}: a page
    of each, sorted (`priority`, the default: overdue first, then the most urgent, then the soonest due; `due`:
    overdue first, then the soonest due; `newest`), searched by `q` (number, title,
    order, customer, batch, SKU), with `group` ("template:step") opening one group of offers."""
    searched = bool(q)
    params = {"user_id": user.id, "now": now, "limit": per_page, "offset": (page - 1) * per_page}
    if searched:
        params["pattern"] = like_pattern(q.lower())
    counted = db.session.connection().execute(_counted(searched), params).all()
    per_step = {f"{r.template_key}:{r.step}": r[3] for r in counted if r.pooled}
    totals = {"mine": sum(r[3] for r in counted if not r.pooled), "pool": sum(per_step.values())}
    big = [r for r in counted if r.pooled and r[3] >= GROUP_AT]
    templates = load_templates({r[6] for r in big}) if big else {}
    groups = [{"key": f"{r.template_key}:{r.step}", "template": r.template_key, "step": r.step,
               "title": _step_title(templates.get(r[6]), r.step), "count": r[3], "overdue": int(r[5] or 0),
               "soonest_due": r[4]} for r in sorted(big, key=lambda r: (-int(r[5] or 0), r[4] is None, r[4] or now))]
    sort = sort if sort in SORTS else "priority"
    xmin = dialect() == "postgresql"
    # A list the totals say is empty from this page on is not read.
    offset = params["offset"]
    mine = _page(_page_of(False, sort, searched, None, xmin), params, now, xmin) if totals["mine"] > offset else []
    if group:  # one step's offers, grouped or not (a group shrinks below the threshold as its offers are taken)
        template_key, _, step = group.partition(":")
        keep, pool_shown = "group", per_step.get(group, 0)
        params.update(group_template=template_key, group_step=step)
    elif big:
        keep, pool_shown = "ungrouped", totals["pool"] - sum(r[3] for r in big)
        params["grouped"] = [(r.template_key, r.step) for r in big]
    else:
        keep, pool_shown = None, totals["pool"]
    pool = _page(_page_of(True, sort, searched, keep, xmin), params, now, xmin) if pool_shown > offset else []
    return {"mine": mine, "pool": pool, "totals": totals, "groups": groups, "pool_shown": pool_shown}


def _page(statement, params: dict, now: datetime, xmin: bool) -> list[dict]:
    rows = db.session.connection().execute(statement, params).all()
    if xmin:
        templates = {row.wo_template_id: running_version(row.wo_template_id, row.template_xmin) for row in rows}
    else:
        templates = load_templates({row.wo_template_id for row in rows})
    views = []
    for row in rows:
        work_order = WorkOrderSummary(*row[_WORK_ORDER_SLICE])
        views.append(present_task(row, work_order, templates[work_order.template_id], now))
    return views


def _step_title(template, step: str) -> str:
    if template is None:
        return step
    return next((s["title"] for s in template.steps if s["key"] == step), step)
