"""The inbox as it was before issue 19's last steps, for bench_inbox.py to measure in the same run.

`inbox` is app/workorders/inbox.py's as of commit cee45f5: its statements built and keyed again for every request, and
the pages' template versions read from `flow_templates` (one statement more); the definitions that did not change are
imported from today's module. bench_inbox answers it with
`InboxSchema().dump`, as the view did then. Not used by the app.
"""
from datetime import datetime

from sqlalchemy import and_, case, func, not_, or_, select, tuple_

from app.common.text import LIKE_ESCAPE, like_pattern
from app.extensions import db
# What did not change (who sees what, the sorts, the columns shown, a step's title) is the app's own; only how the
# statements were built and run differs.
from app.workorders.inbox import (
    _INBOX_TASK_COLUMNS, _INBOX_WORK_ORDER_COLUMNS, _IS_POOL, _ORDER, _OVERDUE, _THEIRS, GROUP_AT, SEARCHED, SORTS,
    _step_title,
)
from app.org.models import User
from app.workorders.models import Task, WorkOrder
from app.workorders.presenters import WorkOrderSummary, load_templates, present_task


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
