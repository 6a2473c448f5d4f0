"""The rows every summary reads: facts of closed work orders, and open work read live.

A year of work is a million work orders and a few million tasks; adding them up from the
work-order tables on every request takes seconds. But a resolved or cancelled work order never
changes again, so what the summary needs of it is written once into narrow tables:
`WorkOrderFact` (one row per work order, with its evaluation and its tasks' on-time counts),
`TaskFact` (one row per task), `TagFact` (one row per tag) and `StepDay` (tasks added up per
business day, step and escalation level, so an organisation-wide per-step view of a year reads
thousands of rows, not millions). Each carries the business `day` the work order was opened on,
worked out once in BUSINESS_TIMEZONE, so summaries do no time-zone arithmetic row by row, and the
set of departments taking part in the work order (`DepartmentSet`, a handful of distinct sets), so a
lead's visibility is one `department_set_id IN (...)` test on the fact itself, worked out once per
summary from their subtree, rather than a look-up in `work_order_departments` for every row. The
sets hold department ids, not subtrees: moving a department in the tree changes what leads see at
once. A closed work order's departments do not change (they are added as steps activate).

A summary reads the facts of the period's closed work orders and the open ones computed live
from the work-order tables, under the same column names: additive figures are summed over each
and added; percentiles read both as one (`task_rows`). The only later change to a closed work
order is its evaluation, which `evaluation` copies into the fact as it records it.

Facts are written by a background job, never by a summary (`catch_up`): a summary reads what
the last pass wrote, and says as of when (`facts_as_of`); a work order closed after that pass is not
counted until the next one. `catch_up.rebuild_facts` rebuilds everything (after a bulk import, say:
`flask metrics rebuild-facts`). A closed work order edited directly in the database, outside the
services, keeps its old fact until then.
"""
from dataclasses import replace
from datetime import datetime

from sqlalchemy import (
    Boolean, Column, Date, Float, Integer, MetaData, Table, Text, and_, case, cast, exists, func, literal, null, or_,
    select, tablesample, text, true, union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from app.extensions import db
from app.metrics.grouping import Scope
from app.metrics.models import DepartmentSet, Evaluation, StepDay, TagFact, TaskFact, WorkOrderFact
from app.metrics.period import Period, bucket_expr, is_postgresql, seconds_between
from app.workorders.models import Task, TaskStatus, WorkOrder, WorkOrderDepartment, WorkOrderStatus, WorkOrderTag

CLOSED = (WorkOrderStatus.RESOLVED, WorkOrderStatus.CANCELLED)
OPEN = (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)
RUNNING_TASKS = (TaskStatus.OPEN, TaskStatus.CLAIMED)

WO_COLUMNS = ("work_order_id", "day", "status", "source", "template_key", "department_id",
              "business_1", "business_2", "business_3", "problem_1", "problem_2", "problem_3", "due_at",
              "contact_count", "return_count", "escalation_level", "resolved", "score", "wait_seconds",
              "handling_seconds", "tasks_on_time", "tasks_late")
TASK_COLUMNS = ("task_id", "work_order_id", "day", "template_key", "step", "status", "escalation_level",
                "due_at", "completed_effective_at", "claim_seconds", "complete_seconds", "claim_working_seconds",
                "complete_working_seconds")
# Work-order attributes a task row can carry for grouping (task facts keep a copy).
GROUP_ATTRIBUTES = ("source", "department_id", "business_1", "business_2", "business_3", "problem_1", "problem_2", "problem_3")


def _sum(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def on_time_condition(status, due_at, done_at):
    return and_(status == TaskStatus.COMPLETED, due_at.is_not(None), done_at <= due_at)


def late_condition(status, due_at, done_at, now: datetime):
    """Completed after its due time, or still running past it."""
    return and_(due_at.is_not(None), or_(and_(status == TaskStatus.COMPLETED, done_at > due_at),
                                         and_(status.in_(RUNNING_TASKS), due_at < now)))


def _claimed():
    return and_(Task.claimed_effective_at.is_not(None), Task.status.in_((TaskStatus.CLAIMED, TaskStatus.COMPLETED)))


def _done():
    return and_(Task.status == TaskStatus.COMPLETED, Task.completed_effective_at.is_not(None))


def claim_seconds():
    """Seconds from a task being offered to its claim (for tasks claimed and not released)."""
    return case((_claimed(), seconds_between(Task.claimed_effective_at, Task.created_at)))


def complete_seconds():
    return case((_done(), seconds_between(Task.completed_effective_at, Task.created_at)))


def claim_working_seconds():
    """The same in working time: what the task's calendar counted at the claim; on the wall clock, the wall time."""
    return case((_claimed(), func.coalesce(Task.claim_working_seconds, seconds_between(Task.claimed_effective_at, Task.created_at))))


def complete_working_seconds():
    return case((_done(), func.coalesce(Task.complete_working_seconds, seconds_between(Task.completed_effective_at, Task.created_at))))


def local_day(created_at, tz: str):
    """SQL for the business day of a stored time, as a date (PostgreSQL) or 'YYYY-MM-DD' text (SQLite)."""
    if is_postgresql():
        return cast(func.timezone(tz, created_at), Date)
    return bucket_expr(created_at, "day", tz)


def _live_work_orders(condition, tz: str):
    """Fact-shaped rows computed from the work-order tables, for open work orders matching `condition`.

    An open work order has no evaluation yet, and its tasks' on-time figures are counted from the live
    task rows, so those columns are empty here.
    """
    columns = [
        WorkOrder.id, local_day(WorkOrder.created_at, tz), WorkOrder.status, WorkOrder.source, WorkOrder.template_key,
        WorkOrder.department_id, WorkOrder.business_1, WorkOrder.business_2, WorkOrder.business_3, WorkOrder.problem_1,
        WorkOrder.problem_2, WorkOrder.problem_3, WorkOrder.due_at, WorkOrder.contact_count, WorkOrder.return_count,
        WorkOrder.escalation_level, null_of(Boolean), null_of(Integer), null_of(Float), null_of(Float), literal(0), literal(0),
    ]
    return select(*[c.label(name) for c, name in zip(columns, WO_COLUMNS)]).where(condition)


def null_of(type_):
    return cast(null(), type_)


def _closed_work_orders(new, now: datetime, tz: str):
    """Fact rows for the closed work orders listed in `new` (see `build`), computed from the work-order tables."""
    counts = (
        select(
            Task.work_order_id.label("work_order_id"),
            _sum(on_time_condition(Task.status, Task.due_at, Task.completed_effective_at)).label("on_time"),
            _sum(late_condition(Task.status, Task.due_at, Task.completed_effective_at, now)).label("late"),
        )
        .where(Task.work_order_id.in_(select(new.c.work_order_id)))
        .group_by(Task.work_order_id)
        .subquery("task_counts")
    )
    columns = [
        WorkOrder.id, local_day(WorkOrder.created_at, tz), WorkOrder.status, WorkOrder.source, WorkOrder.template_key,
        WorkOrder.department_id, WorkOrder.business_1, WorkOrder.business_2, WorkOrder.business_3, WorkOrder.problem_1,
        WorkOrder.problem_2, WorkOrder.problem_3, WorkOrder.due_at, WorkOrder.contact_count, WorkOrder.return_count,
        WorkOrder.escalation_level, Evaluation.resolved, Evaluation.score, Evaluation.wait_seconds, Evaluation.handling_seconds,
        func.coalesce(counts.c.on_time, 0), func.coalesce(counts.c.late, 0), new.c.department_set_id,
    ]
    return (
        select(*[c.label(name) for c, name in zip(columns, (*WO_COLUMNS, "department_set_id"))])
        .select_from(new)
        .join(WorkOrder, WorkOrder.id == new.c.work_order_id)
        .outerjoin(Evaluation, Evaluation.work_order_id == WorkOrder.id)
        .outerjoin(counts, counts.c.work_order_id == WorkOrder.id)
    )


def _live_tasks(condition, tz: str, attributes: tuple = ()):
    columns = [Task.id, Task.work_order_id, local_day(WorkOrder.created_at, tz), WorkOrder.template_key, Task.step, Task.status,
               Task.escalation_level, Task.due_at, Task.completed_effective_at, claim_seconds(), complete_seconds(),
               claim_working_seconds(), complete_working_seconds()]
    return (
        select(*[c.label(name) for c, name in zip(columns, TASK_COLUMNS)], *[getattr(WorkOrder, a).label(a) for a in attributes])
        .select_from(Task)
        .join(WorkOrder, WorkOrder.id == Task.work_order_id)
        .where(condition)
    )


# ---- building ------------------------------------------------------------------------------------

_same_work_order = aliased(WorkOrderTag)
# The closed work orders one `build` writes facts for, with their set of departments: worked out once,
# then every fact table is filled from it (a temporary table, private to the connection, dropped after).
_new_facts = Table("metric_new_facts", MetaData(), Column("work_order_id", Integer, primary_key=True),
                   Column("departments", Text), prefixes=["TEMPORARY"])


def _insert():
    return pg_insert if is_postgresql() else sqlite_insert


def department_key():
    """SQL aggregate over `work_order_departments` rows: their department ids, ascending, comma-separated."""
    department_id = WorkOrderDepartment.department_id
    if is_postgresql():
        return func.string_agg(cast(department_id, Text), aggregate_order_by(literal(","), department_id))
    # SQLite (before 3.44) has no ORDER BY inside group_concat; rows come in the order of the primary key
    # index (work order, department). Were they ever not, a set would merely be stored twice: still correct.
    return func.group_concat(department_id, ",")


def _collect_new(condition) -> bool:
    """Fill `_new_facts` with the closed work orders matching `condition` that have no fact yet, and register their sets.

    Answers False, creating nothing, when there are none (the usual case of a catch-up).
    """
    missing = and_(WorkOrder.status.in_(CLOSED), condition, ~exists().where(WorkOrderFact.work_order_id == WorkOrder.id))
    ids = select(WorkOrder.id).where(missing).correlate(None)
    if not db.session.scalar(select(ids.exists())):
        return False
    keys = select(WorkOrderDepartment.work_order_id, department_key().label("departments")) \
        .where(WorkOrderDepartment.work_order_id.in_(ids)).group_by(WorkOrderDepartment.work_order_id) \
        .subquery("department_keys")
    _new_facts.create(db.session.connection())
    db.session.execute(_new_facts.insert().from_select(
        ["work_order_id", "departments"],
        select(WorkOrder.id, func.coalesce(keys.c.departments, ""))
        .select_from(WorkOrder).outerjoin(keys, keys.c.work_order_id == WorkOrder.id).where(missing)))
    if is_postgresql():
        db.session.execute(text("ANALYZE metric_new_facts"))  # temporary tables have no statistics otherwise
    sets = select(_new_facts.c.departments).distinct().where(true())  # (SQLite's upsert wants a WHERE)
    db.session.execute(_insert()(DepartmentSet).from_select(["departments"], sets).on_conflict_do_nothing())
    return True


def _new_with_sets():
    """(work order, department set) of the work orders being built."""
    return select(_new_facts.c.work_order_id, DepartmentSet.id.label("department_set_id")) \
        .join(DepartmentSet, DepartmentSet.departments == _new_facts.c.departments).subquery("new_facts")


def _add_to_step_days(new, now: datetime, tz: str) -> None:
    """Add the tasks of the given closed work orders to the per-day step totals."""
    day = local_day(WorkOrder.created_at, tz)
    totals = (
        select(day, WorkOrder.template_key, Task.step, Task.escalation_level, new.c.department_set_id, func.count(),
               _sum(Task.status != TaskStatus.CANCELLED), _sum(Task.status == TaskStatus.COMPLETED),
               _sum(on_time_condition(Task.status, Task.due_at, Task.completed_effective_at)),
               _sum(late_condition(Task.status, Task.due_at, Task.completed_effective_at, now)))
        .select_from(new).join(Task, Task.work_order_id == new.c.work_order_id)
        .join(WorkOrder, WorkOrder.id == Task.work_order_id).where(true())
        .group_by(day, WorkOrder.template_key, Task.step, Task.escalation_level, new.c.department_set_id)
    )
    keys = ["day", "template_key", "step", "escalation_level", "department_set_id"]
    counters = ("every", "tasks", "completed", "on_time", "late")
    stmt = _insert()(StepDay).from_select([*keys, *counters], totals)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: getattr(StepDay, name) + getattr(stmt.excluded, name) for name in counters},
    ))


def build(condition, now: datetime, tz: str) -> None:
    """Write facts for the closed work orders matching `condition` that have none yet.

    Callers hold the catch-up lock (see `catch_up`), so the set of missing work orders cannot change underneath.
    """
    if not _collect_new(condition):
        return
    new = _new_with_sets()
    _add_to_step_days(new, now, tz)
    tasks = _live_tasks(true(), tz, GROUP_ATTRIBUTES).join(new, new.c.work_order_id == Task.work_order_id) \
        .add_columns(new.c.department_set_id)
    db.session.execute(_insert()(TaskFact).from_select([*TASK_COLUMNS, *GROUP_ATTRIBUTES, "department_set_id"], tasks)
                       .on_conflict_do_nothing())
    siblings = select(func.count()).where(_same_work_order.work_order_id == WorkOrderTag.work_order_id).scalar_subquery()
    tags = select(WorkOrderTag.work_order_id, WorkOrderTag.tag, local_day(WorkOrder.created_at, tz), siblings,
                  new.c.department_set_id) \
        .select_from(new).join(WorkOrderTag, WorkOrderTag.work_order_id == new.c.work_order_id) \
        .join(WorkOrder, WorkOrder.id == WorkOrderTag.work_order_id).where(true())
    db.session.execute(_insert()(TagFact).from_select(
        ["work_order_id", "tag", "day", "tags_on_work_order", "department_set_id"], tags).on_conflict_do_nothing())
    work_orders = _closed_work_orders(new, now, tz).where(true())
    db.session.execute(_insert()(WorkOrderFact).from_select([*WO_COLUMNS, "department_set_id"], work_orders).on_conflict_do_nothing())
    _new_facts.drop(db.session.connection())  # on a failure, the rollback takes it away


def copy_evaluation(evaluation: Evaluation) -> None:
    """Carry a new or corrected evaluation into its work order's fact (in the caller's transaction)."""
    fact = db.session.get(WorkOrderFact, evaluation.work_order_id)
    if fact is not None:
        fact.resolved, fact.score = evaluation.resolved, evaluation.score
        fact.wait_seconds, fact.handling_seconds = evaluation.wait_seconds, evaluation.handling_seconds


# ---- reading -------------------------------------------------------------------------------------

def visible(work_order_id_column, scope: Scope):
    """Visibility of live work orders: one of the scope's departments takes part (`work_order_departments`)."""
    if scope.everything:
        return None
    if not scope.department_ids:
        return literal(False)
    return exists().where(WorkOrderDepartment.work_order_id == work_order_id_column,
                          WorkOrderDepartment.department_id.in_(sorted(scope.department_ids)))


def with_department_sets(scope: Scope) -> Scope:
    """The scope with the department sets it sees (sharing a department with it) worked out; once per summary."""
    if scope.everything or scope.department_sets is not None:
        return scope
    seen = [set_id for set_id, departments in db.session.execute(select(DepartmentSet.id, DepartmentSet.departments))
            if any(int(d) in scope.department_ids for d in departments.split(",") if d)]
    return replace(scope, department_sets=tuple(sorted(seen)))


def visible_fact(department_set_column, scope: Scope):
    """Visibility of facts, the same as `visible` but read from the department set each fact carries (no join)."""
    if scope.everything:
        return None
    sets = with_department_sets(scope).department_sets
    if not sets:
        return literal(False)
    return department_set_column.in_(sets)


def _where(*conditions):
    return and_(*[c for c in conditions if c is not None])


def _in_period(created_at, period: Period):
    return and_(created_at >= period.start_utc, created_at < period.end_utc)


def _on_days(day, period: Period):
    return and_(day >= period.start, day <= period.end)


def _live(period: Period, scope: Scope):
    return _where(WorkOrder.status.in_(OPEN), _in_period(WorkOrder.created_at, period), visible(WorkOrder.id, scope))


def work_order_sources(*, period: Period, scope: Scope) -> list:
    """The period's work orders the reader may see, as two fact-shaped subqueries: closed (facts) and open (live).

    Additive figures are summed over each and added; the two never overlap.
    """
    closed = select(*[getattr(WorkOrderFact, name).label(name) for name in WO_COLUMNS]).where(_where(
        _on_days(WorkOrderFact.day, period), visible_fact(WorkOrderFact.department_set_id, scope)))
    return [closed.subquery("closed_work_orders"), _live_work_orders(_live(period, scope), period.tz).subquery("open_work_orders")]


def task_sources(*, period: Period, scope: Scope, attributes: tuple = (), sample_percent: float | None = None) -> list:
    """The tasks of those work orders, as two subqueries (closed, open), with the work-order attributes asked for.

    With `sample_percent` (PostgreSQL), facts are read from a repeatable sample of that share of the
    table's pages, and open tasks by the same share of their ids: for estimating percentiles.
    """
    source = TaskFact.__table__
    if sample_percent is not None:
        source = tablesample(TaskFact, func.system(sample_percent), name="sampled_task_facts", seed=literal(20250101))
    column = source.c
    closed = select(*[column[name].label(name) for name in (*TASK_COLUMNS, *attributes)]).select_from(source)
    closed = closed.where(_where(_on_days(column.day, period), visible_fact(column.department_set_id, scope)))
    live_condition = _live(period, scope)
    if sample_percent is not None:
        live_condition = and_(live_condition, (Task.id % 10_000) < int(sample_percent * 100))
    return [closed.subquery("closed_tasks"), _live_tasks(live_condition, period.tz, attributes).subquery("open_tasks")]


def task_rows(**kwargs):
    """Closed and open tasks in one subquery, for figures that are not sums (percentiles)."""
    closed, live = task_sources(**kwargs)
    return union_all(select(closed), select(live)).subquery("task_rows")


def tag_sources(*, period: Period, scope: Scope) -> list:
    """(work order, tag, tags on that work order) of the period's visible work orders: closed (facts) and open (live)."""
    closed = select(TagFact.work_order_id, TagFact.tag, TagFact.tags_on_work_order).where(_where(
        _on_days(TagFact.day, period), visible_fact(TagFact.department_set_id, scope)))
    siblings = select(func.count()).where(_same_work_order.work_order_id == WorkOrderTag.work_order_id).scalar_subquery()
    live = select(WorkOrderTag.work_order_id, WorkOrderTag.tag, siblings.label("tags_on_work_order")) \
        .join(WorkOrder, WorkOrder.id == WorkOrderTag.work_order_id).where(_live(period, scope))
    return [closed.subquery("closed_tags"), live.subquery("open_tags")]


def step_day_sources(*, period: Period, scope: Scope):
    """Per-day step totals of the closed work orders of the period that the reader may see."""
    return select(StepDay).where(_where(StepDay.day >= period.start.isoformat(), StepDay.day <= period.end.isoformat(),
                                        visible_fact(StepDay.department_set_id, scope))).subquery("step_days")
