"""Task-level figures: on-time rate, time to claim and to complete (median, p90), escalations per level.

All by offline-truth time (docs/design.md §4): `claimed_effective_at` / `completed_effective_at`.

- A task counts when it was not cancelled (a returned task is cancelled and replaced by the re-opened one).
- On time: completed with `completed_effective_at <= due_at`. Late: completed after `due_at`, or still
  open (or claimed) with `due_at` already past (`overdue_open` counts those). on_time_rate =
  on time / (on time + late); tasks with no SLA, and running tasks not yet due, do not count.
- Time to claim: from the task being offered (`created_at`) to its claim, for tasks that were claimed
  (pool tasks; completing an unclaimed pool task claims it at the same moment). A released task that
  is open again has no claim.
- Time to complete: from the task being offered to its completion.
- Both also in working time (`working_time_to_claim`, `working_time_to_complete`): on a task's business calendar
  the time it counted (nights, weekends and holidays left out), on the wall clock the same as the wall time.
- Median and p90 interpolate between ranks like PostgreSQL's `percentile_cont` (which PostgreSQL
  computes; on SQLite the sorted values are fetched and interpolated the same way). Over more than
  EXACT_UP_TO tasks, PostgreSQL estimates them from a repeatable sample of about SAMPLE_TARGET
  tasks (pages of the task facts, and the same share of open tasks), and each figure says
  `estimated: true`; counts are always exact.
- Escalations: a task at escalation level L has been escalated at every level up to L (timers fire
  level by level, a manual escalation raises one level), so `reached` at level L counts tasks whose
  level is at least L — cancelled tasks included, since the escalation happened — and `highest`
  those whose last level is L.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select, tuple_

from app.extensions import db
from app.metrics import facts
from app.metrics.grouping import Scope, attributes_for, group_columns, group_key
from app.metrics.period import Period, is_postgresql, percentile
from app.workorders.models import TaskStatus

COUNTS = ("tasks", "completed", "on_time", "late", "overdue_open")
# The durations reported (name in the answer, column of the task rows): wall time, and working time on each task's
# business calendar (the same as wall time for a task on the wall clock).
TIMES = (("time_to_claim", "claim_seconds"), ("time_to_complete", "complete_seconds"),
         ("working_time_to_claim", "claim_working_seconds"), ("working_time_to_complete", "complete_working_seconds"))
# Sorting millions of durations on every request would take seconds: beyond this many tasks,
# PostgreSQL estimates percentiles from a sample (the answer says so). Below it, and always on
# SQLite, they are exact.
EXACT_UP_TO = 200_000
SAMPLE_TARGET = 50_000


def _sum(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def empty_counts() -> dict:
    return {name: 0 for name in COUNTS}


def duration_stats(median=None, p90=None, count=0, estimated=False) -> dict:
    return {"median": None if median is None else round(float(median), 3),
            "p90": None if p90 is None else round(float(p90), 3), "count": int(count or 0), "estimated": estimated}


def on_time_rate(counts: dict) -> float | None:
    due = counts["on_time"] + counts["late"]
    return counts["on_time"] / due if due else None


@dataclass
class TaskFigures:
    steps: dict = field(default_factory=lambda: defaultdict(empty_counts))
    total: dict = field(default_factory=empty_counts)
    highest_level: dict = field(default_factory=lambda: defaultdict(int))
    open_group_counts: dict = field(default_factory=lambda: defaultdict(empty_counts))
    group_times: dict = field(default_factory=dict)
    step_times: dict = field(default_factory=dict)
    total_times: dict = field(default_factory=dict)
    rows: int = 0


def task_figures(*, period: Period, scope: Scope, group_by: str | None, now: datetime) -> TaskFigures:
    """Counts per step and in total, escalation levels, and claim and completion times per step, group and in total.

    Counts of closed work orders' tasks come from their per-day totals; those of open work, read live, are
    also kept per group (closed work orders carry theirs in their own fact).
    """
    figures = TaskFigures()
    _, live = facts.task_sources(period=period, scope=scope, attributes=attributes_for(group_by))
    _step_day_counts(figures, facts.step_day_sources(period=period, scope=scope))
    _counts(figures, live, group_columns(group_by, period, live), group_by, now, per_group=True)
    sample = None
    if is_postgresql() and figures.rows > EXACT_UP_TO:
        sample = min(100.0, max(0.01, round(100.0 * SAMPLE_TARGET / figures.rows, 2)))
    rows = facts.task_rows(period=period, scope=scope, attributes=attributes_for(group_by), sample_percent=sample)
    group_cols = group_columns(group_by, period, rows)
    if is_postgresql():
        _times_in_database(figures, rows, group_by, group_cols, estimated=sample is not None)
    else:
        _times_in_python(figures, rows, group_by, group_cols)
    return figures


def _step_day_counts(figures: TaskFigures, days) -> None:
    """Closed work orders' tasks from their per-day totals (none of them is still running)."""
    d = days.c
    stmt = select(d.template_key, d.step, d.escalation_level, *[func.sum(d[name]) for name in ("every", "tasks", "completed", "on_time", "late")]) \
        .group_by(d.template_key, d.step, d.escalation_level)
    for template, step, level, every, tasks, completed, on_time, late in db.session.execute(stmt):
        counts = {"tasks": int(tasks), "completed": int(completed), "on_time": int(on_time), "late": int(late), "overdue_open": 0}
        for target in (figures.steps[(template, step)], figures.total):
            for name, value in counts.items():
                target[name] += value
        figures.rows += int(every)
        if level:
            figures.highest_level[int(level)] += int(every)


def _counts(figures: TaskFigures, rows, group_cols: list, group_by: str | None, now: datetime, per_group: bool = False) -> None:
    r = rows.c
    running = r.status.in_(facts.RUNNING_TASKS)
    stmt = select(
        *[c.label(f"g{i}") for i, c in enumerate(group_cols)], r.template_key, r.step, r.escalation_level,
        func.count(),
        _sum(r.status != TaskStatus.CANCELLED),
        _sum(r.status == TaskStatus.COMPLETED),
        _sum(facts.on_time_condition(r.status, r.due_at, r.completed_effective_at)),
        _sum(facts.late_condition(r.status, r.due_at, r.completed_effective_at, now)),
        _sum(and_(running, r.due_at.is_not(None), r.due_at < now)),
    ).group_by(*group_cols, r.template_key, r.step, r.escalation_level)
    width = len(group_cols)
    for row in db.session.execute(stmt):
        template, step, level, every, *numbers = row[width:]
        counts = dict(zip(COUNTS, (int(v) for v in numbers)))
        targets = [figures.steps[(template, step)], figures.total]
        if per_group:
            targets.append(figures.open_group_counts[group_key(group_by, tuple(row[:width]))])
        for target in targets:
            for name, value in counts.items():
                target[name] += value
        figures.rows += int(every)
        if level:
            figures.highest_level[int(level)] += int(every)


def _times_in_database(figures: TaskFigures, rows, group_by, group_cols, estimated: bool) -> None:
    """PostgreSQL: percentile_cont over grouping sets (per step, per group, overall) in one scan."""
    r = rows.c
    grouping_sets = [tuple_(r.template_key, r.step), tuple_()]
    if group_cols:
        grouping_sets.insert(1, tuple_(*group_cols))
    measures = []
    for _, column in TIMES:
        value = case((r.status != TaskStatus.CANCELLED, r[column]))
        measures += [func.percentile_cont(0.5).within_group(value), func.percentile_cont(0.9).within_group(value), func.count(value)]
    columns = [c.label(f"g{i}") for i, c in enumerate(group_cols)] + [r.template_key, r.step, *measures,
                                                                      func.grouping(r.template_key, r.step)]
    if group_cols:
        columns.append(func.grouping(*group_cols))
    width = len(group_cols)
    flags = width + 2 + 3 * len(TIMES)
    for row in db.session.execute(select(*columns).group_by(func.grouping_sets(*grouping_sets))):
        times = {name: duration_stats(*row[width + 2 + 3 * i:width + 5 + 3 * i], estimated=estimated)
                 for i, (name, _) in enumerate(TIMES)}
        by_step_absent = row[flags]
        by_group_absent = row[flags + 1] if group_cols else 1
        if by_step_absent == 0:
            figures.step_times[(row[width], row[width + 1])] = times
        elif by_group_absent == 0:
            figures.group_times[group_key(group_by, tuple(row[:width]))] = times
        else:
            figures.total_times = times


def _times_in_python(figures: TaskFigures, rows, group_by, group_cols) -> None:
    """SQLite: fetch the durations with their group and step, and interpolate here as percentile_cont does."""
    r = rows.c
    stmt = select(*[c.label(f"g{i}") for i, c in enumerate(group_cols)], r.template_key, r.step,
                  *[r[column] for _, column in TIMES]).where(r.status != TaskStatus.CANCELLED)
    width = len(group_cols)

    def lists():
        return tuple([] for _ in TIMES)

    values = {"group": defaultdict(lists), "step": defaultdict(lists), "total": lists()}
    for row in db.session.execute(stmt):
        targets = [values["group"][group_key(group_by, tuple(row[:width]))], values["step"][(row[width], row[width + 1])],
                   values["total"]]
        for index, value in enumerate(row[width + 2:]):
            if value is not None:
                for found in targets:
                    found[index].append(float(value))

    def stats(found):
        answer = {}
        for (name, _), measured in zip(TIMES, found):
            measured.sort()
            answer[name] = duration_stats(percentile(measured, 0.5), percentile(measured, 0.9), len(measured))
        return answer

    figures.group_times = {key: stats(pair) for key, pair in values["group"].items()} if group_cols else {}
    figures.step_times = {key: stats(pair) for key, pair in values["step"].items()}
    figures.total_times = stats(values["total"])
