"""Which work orders a summary reads (period and visibility), and how they are grouped.

Visibility: admins read every work order; a lead reads the work orders in which their department,
or one below it, takes part (`work_order_departments`). A work order belongs to the period in
which it was opened (its `created_at`, in the business time zone), and every figure about it —
its tasks, its evaluation, its backlog age — follows it there.

Groups: `day`, `week` (ISO, by its Monday), `month`; `department` (the owning department of the
work order, so groups add up to the total); `template`; `source`; `business_1..3` and
`problem_1..3` (a level of the classification tree, keyed by its path from the top, since the same
name can sit under two parents); `category` is the full problem path (= `problem_3`).
"""
from dataclasses import dataclass

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Integer, cast, func, literal, select

from app.extensions import db
from app.metrics.period import TIME_BUCKETS, Period, bucket_key, bucket_label, is_postgresql
from app.org.models import Department

TREE_LEVELS = tuple(f"{tree}_{level}" for tree in ("business", "problem") for level in (1, 2, 3))
GROUP_BY = TIME_BUCKETS + ("department", "template", "source") + TREE_LEVELS + ("category",)
UNCLASSIFIED = "(unclassified)"
# Work orders the company opens itself (an andon's containment, recalls) are not customer requests.
INTERNAL_SOURCES = ("andon", "recall")
A_MONDAY = date(1969, 12, 29)  # weeks are counted from this Monday (no day before 1970 is accepted)


@dataclass(frozen=True)
class Scope:
    """The departments whose work orders a reader sees; None means all of them.

    `department_sets`: the sets of departments of the facts (see `facts.with_department_sets`) that share
    one of them, once worked out.
    """

    department_ids: frozenset[int] | None
    department_sets: tuple[int, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.department_ids is None


def _tree_columns(group_by: str, rows) -> list:
    if group_by == "category":
        group_by = "problem_3"
    tree, level = group_by.rsplit("_", 1)
    return [rows.c[f"{tree}_{i}"] for i in range(1, int(level) + 1)]


def group_columns(group_by: str | None, period: Period, rows) -> list:
    """SQL expressions over a row source (see `facts`) whose values key a group; none when ungrouped."""
    if group_by is None:
        return []
    if group_by in TIME_BUCKETS:
        return [day_bucket(rows.c.day, group_by)]
    if group_by == "department":
        return [rows.c.department_id]
    if group_by in ("template", "source"):
        return [rows.c[f"{group_by}_key" if group_by == "template" else group_by]]
    return _tree_columns(group_by, rows)


def attributes_for(group_by: str | None) -> tuple:
    """Work-order attributes a task row needs to be grouped this way."""
    if group_by in (None, "template") or group_by in TIME_BUCKETS:
        return ()
    if group_by in ("department", "source"):
        return ("department_id",) if group_by == "department" else ("source",)
    tree, level = ("problem_3" if group_by == "category" else group_by).rsplit("_", 1)
    return tuple(f"{tree}_{i}" for i in range(1, int(level) + 1))


def day_bucket(day, kind: str):
    """SQL for the day, week (its Monday) or month of a business-day column: a date on PostgreSQL, text on SQLite."""
    if kind == "day":
        return day
    if is_postgresql():
        # Date arithmetic only: date_trunc() on a date would go through time stamps with a time zone, row by row.
        if kind == "week":
            return day - cast(day - cast(literal(A_MONDAY.isoformat()), Date), Integer).op("%")(7)
        return cast(func.date_trunc("month", cast(day, DateTime)), Date)
    if kind == "week":
        return func.date(day, "-6 days", "weekday 1")
    return func.strftime("%Y-%m", day)


def group_key(group_by: str | None, values: tuple):
    """The key of a group from its column values (a tuple for a category path, shown as a list)."""
    if group_by is None:
        return None
    if group_by in TIME_BUCKETS:
        value = values[0]
        if isinstance(value, datetime):
            value = value.date()
        return bucket_key(value, group_by) if isinstance(value, date) else value
    if group_by in TREE_LEVELS or group_by == "category":
        return tuple(values)
    return values[0]


def path_label(levels) -> str:
    named = [level for level in levels if level]
    return " / ".join(named) if named else UNCLASSIFIED


def labeller(group_by: str | None):
    """A function from a group key to a readable label."""
    if group_by in TIME_BUCKETS:
        return lambda key: bucket_label(key, group_by)
    if group_by == "department":
        departments = department_names()
        return lambda key: departments.get(key, "(none)") if key is not None else "(none)"
    if group_by in TREE_LEVELS or group_by == "category":
        return path_label
    return lambda key: "(none)" if key is None else str(key)


def department_names() -> dict[int, str]:
    return {dept_id: f"{code} {name}" for dept_id, code, name in db.session.execute(select(Department.id, Department.code, Department.name))}
