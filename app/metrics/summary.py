"""The metrics summary of a period (docs/design.md §8): rates, resolution, effort, SLA, backlog, where work comes from.

Definitions (the team's notes repeat them):

- service_rate = (self-service + IVR requests) / (orders / 10,000); manual_service_rate = manual
  requests / (orders / 10,000). Requests are the posted daily volumes less their misrouted part;
  orders are the posted daily order volume, else the posted orders (see `volumes`). Work orders are
  a subset of manual requests and are never added to them: work_order_rate = customer work orders /
  (orders / 10,000), where customer work orders leave out those the company opens itself (sources
  `andon` and `recall`). With no orders every rate is null. Volumes are kept per day, not per
  department or category, so groups other than day/week/month carry a null service_rate and
  manual_service_rate, and a work_order_rate against the whole period's orders.
- resolved_share: of the work orders whose customer answered, the share who said resolved.
- resolution_score_mean: mean QA score (1–4) of the scored work orders; score_distribution counts each.
- effort_overall: see `effort`.
- on_time_rate, time to claim / complete, escalations: see `sla`.
- returns: returns made (sum of `return_count`) and work orders returned at least once.
- backlog: work orders of the period still open or in progress, by age (now − opened) in buckets.

A summary only reads. Closed work orders come from the read model (`facts`), which a background job
keeps caught up (`catch_up`); `facts_as_of` says up to when. A work order closed after that is not yet
counted, neither as open nor as closed, until the job's next pass; open work is read live.
"""
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select, text

from app.common.clock import as_utc
from app.extensions import db
from app.metrics import breakdowns, facts, sla
from app.metrics.catch_up import facts_as_of
from app.metrics.effort import current_weights, effort_figures
from app.metrics.grouping import INTERNAL_SOURCES, TIME_BUCKETS, Scope, group_columns, group_key, labeller
from app.metrics.policy import scope_for
from app.metrics.period import Period, bucket_key, bucket_keys, is_postgresql, prepare_connection
from app.metrics.volumes import daily_counts, per_ten_thousand_orders, sum_days
from app.org.models import User
from app.workorders.models import WorkOrder, WorkOrderStatus

OPEN_STATUSES = (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)
# (label, from hours, to hours): ages of open work, in hours and then days.
BACKLOG_BUCKETS = (
    ("<1h", 0, 1), ("1-4h", 1, 4), ("4-8h", 4, 8), ("8-24h", 8, 24),
    ("1-3d", 24, 72), ("3-7d", 72, 168), ("7-30d", 168, 720), (">30d", 720, None),
)
WO_FIELDS = (
    "work_orders", "customer", "open", "in_progress", "resolved", "cancelled", "returns", "returned", "escalated",
    "evaluated", "answered", "answered_resolved", "scored", "score_sum", "score_1", "score_2", "score_3", "score_4",
    "r_n", "r_contacts", "r_wait_s", "r_handling_s", "r_returns",
    "u_n", "u_contacts", "u_wait_s", "u_handling_s", "u_returns",
    "tasks_on_time", "tasks_late",
)


def _empty_work_orders() -> dict:
    return {name: 0 for name in WO_FIELDS}


def _fold(into: dict, status, internal, score, resolved, n, returns, returned, escalated, contacts, wait, handling,
          on_time, late) -> None:
    """Add one (status, source kind, score, answer) slice of work orders to a group's totals."""
    into["work_orders"] += n
    into[status] += n
    if not internal:
        into["customer"] += n
    into["returns"] += returns
    into["returned"] += returned
    into["escalated"] += escalated
    into["tasks_on_time"] += on_time
    into["tasks_late"] += late
    if resolved is not None or score is not None:
        into["evaluated"] += n
    if resolved is not None:
        into["answered"] += n
        into["answered_resolved"] += n if resolved else 0
    if score is not None:
        into["scored"] += n
        into["score_sum"] += score * n
        into[f"score_{score}"] += n
        side = "r" if score >= 3 else "u"
        into[f"{side}_n"] += n
        into[f"{side}_contacts"] += contacts
        into[f"{side}_wait_s"] += wait
        into[f"{side}_handling_s"] += handling
        into[f"{side}_returns"] += returns


def _work_order_figures(sources: list, group_by: str | None, period: Period, pareto_level: int,
                        figures: bool = True, categories_too: bool = True) -> tuple[dict, dict]:
    """Additive work-order figures per group, and work orders per problem category (for the Pareto).

    One GROUP BY over the closed facts and one over open work, added up here. Either half can be left
    out (`figures`, `categories_too`) when an export does not need it.
    """
    groups: dict = {}
    categories: dict = defaultdict(int)
    # Counting categories in the same pass saves reading the rows twice, unless the groups and the
    # categories together would make too many combinations (then the Pareto reads them on its own).
    # (GROUPING SETS would read the rows once, but PostgreSQL runs them in a single process: slower.)
    together = group_by is None and categories_too and figures
    for rows in sources:
        r = rows.c
        group_cols = group_columns(group_by, period, rows)
        levels = [r[f"problem_{i}"] for i in range(1, pareto_level + 1)]
        path = levels if together else []
        if categories_too and not together:
            for *values, count in db.session.execute(select(*levels, func.count()).group_by(*levels)):
                categories[tuple(values)] += int(count)
        if not figures:
            continue
        slices = (r.status, r.source.in_(INTERNAL_SOURCES), r.score, r.resolved)
        stmt = select(
            *[c.label(f"g{i}") for i, c in enumerate(group_cols)], *path, *slices,
            func.count(),
            func.coalesce(func.sum(r.return_count), 0),
            func.coalesce(func.sum(case((r.return_count > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((r.escalation_level > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(r.contact_count), 0),
            func.coalesce(func.sum(func.coalesce(r.wait_seconds, 0.0)), 0.0),
            func.coalesce(func.sum(func.coalesce(r.handling_seconds, 0.0)), 0.0),
            func.coalesce(func.sum(r.tasks_on_time), 0),
            func.coalesce(func.sum(r.tasks_late), 0),
        ).group_by(*group_cols, *path, *slices)
        width, depth = len(group_cols), len(path)
        for row in db.session.execute(stmt):
            key = group_key(group_by, tuple(row[:width]))
            status, is_internal, score, resolved = row[width + depth:width + depth + 4]
            numbers = [float(v) if isinstance(v, float) else int(v) for v in row[width + depth + 4:]]
            if together:
                categories[tuple(row[width:width + depth])] += numbers[0]
            _fold(groups.setdefault(key, _empty_work_orders()), status, bool(is_internal), score,
                  None if resolved is None else bool(resolved), *numbers)
    return groups, categories


def _backlog(period: Period, scope: Scope, now: datetime) -> dict:
    """Open work of the period by age (now - opened), read live: it is the small, changing part."""
    running = WorkOrder.status.in_(OPEN_STATUSES)
    columns = [func.count(), func.coalesce(func.sum(case((WorkOrder.due_at < now, 1), else_=0)), 0), func.min(WorkOrder.created_at)]
    for _, low, high in BACKLOG_BUCKETS:
        # Work opened "in the future" (a clock running ahead) counts as the youngest.
        condition = WorkOrder.created_at <= now - timedelta(hours=low) if low else None
        if high is not None:
            younger = WorkOrder.created_at > now - timedelta(hours=high)
            condition = younger if condition is None else and_(condition, younger)
        columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0))
    condition = and_(running, WorkOrder.created_at >= period.start_utc, WorkOrder.created_at < period.end_utc)
    visible = facts.visible(WorkOrder.id, scope)
    if visible is not None:
        condition = and_(condition, visible)
    row = db.session.execute(select(*columns).where(condition)).one()
    total, overdue, oldest = int(row[0]), int(row[1]), row[2]
    oldest = _as_datetime(oldest) if oldest is not None else None
    return {
        "open": total,
        "overdue": overdue,
        "oldest_age_hours": round((now - oldest).total_seconds() / 3600, 3) if oldest else None,
        "buckets": [{"bucket": label, "from_hours": low, "to_hours": high, "work_orders": int(count)}
                    for (label, low, high), count in zip(BACKLOG_BUCKETS, row[3:])],
    }


def _as_datetime(value) -> datetime:
    if isinstance(value, str):  # SQLite answers MIN() over a column as its stored text
        value = datetime.fromisoformat(value)
    return as_utc(value)


def _add(into: dict, values: dict) -> None:
    for name, value in values.items():
        into[name] = into.get(name, 0) + value


def _headline(wo: dict, task_counts: dict, volumes: dict | None, orders: int, weights: dict) -> tuple[dict, dict]:
    """The figures every level of the summary carries (the whole period and each group), and the effort split."""
    side = {p: {"n": wo[f"{p}_n"], "contacts": wo[f"{p}_contacts"], "wait_s": wo[f"{p}_wait_s"],
                "handling_s": wo[f"{p}_handling_s"], "returns": wo[f"{p}_returns"]} for p in ("r", "u")}
    effort = effort_figures(side["r"], side["u"], weights)
    return {
        "service_rate": per_ten_thousand_orders(volumes["self_service"] + volumes["ivr"], orders) if volumes else None,
        "manual_service_rate": per_ten_thousand_orders(volumes["manual"], orders) if volumes else None,
        "work_order_rate": per_ten_thousand_orders(wo["customer"], orders),
        "resolved_share": wo["answered_resolved"] / wo["answered"] if wo["answered"] else None,
        "resolution_score_mean": wo["score_sum"] / wo["scored"] if wo["scored"] else None,
        "effort_overall": effort["overall"],
        "on_time_rate": sla.on_time_rate(task_counts),
    }, effort


def _group_entry(key, label, wo: dict, times: dict, volumes: dict | None, orders: int, weights: dict) -> dict:
    headline, effort = _headline(wo, {"on_time": wo["tasks_on_time"], "late": wo["tasks_late"]}, volumes, orders, weights)
    return {
        "key": list(key) if isinstance(key, tuple) else key,
        "label": label,
        **headline,
        "orders": orders if volumes else None,
        "requests": {name: volumes[name] for name in ("self_service", "ivr", "manual")} if volumes else None,
        "work_orders": wo["work_orders"],
        "customer_work_orders": wo["customer"],
        "open": wo["open"] + wo["in_progress"],
        "resolved": wo["resolved"],
        "cancelled": wo["cancelled"],
        "evaluated": wo["evaluated"],
        "answered": wo["answered"],
        "scored": wo["scored"],
        "effort_resolved_mean": effort["resolved"]["mean"],
        "effort_unresolved_mean": effort["unresolved"]["mean"],
        "returns": wo["returns"],
        "escalated": wo["escalated"],
        "tasks_on_time": wo["tasks_on_time"],
        "tasks_late": wo["tasks_late"],
        **_times(times),
    }


def _tune_session() -> None:
    """PostgreSQL: room to hash and sort in memory, no JIT compile for a one-off report, and index look-ups
    priced as the cached reads they are (so open work is fetched by index, not by scanning every task).

    For this transaction only, as SET LOCAL would, but in one SELECT: a summary runs nothing else.
    """
    if is_postgresql():
        db.session.execute(text("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true), "
                                "set_config('random_page_cost', '1.1', true)"))


def _groups(group_by: str, period: Period, days: dict, period_volumes: dict, wo_groups: dict, times: dict, weights: dict) -> list:
    label = labeller(group_by)
    if group_by in TIME_BUCKETS:
        volumes_by_bucket = defaultdict(lambda: sum_days({}))
        for day, slot in days.items():
            _add(volumes_by_bucket[bucket_key(day, group_by)], {name: slot[name] for name in period_volumes})
        return [_group_entry(key, label(key), wo_groups.get(key) or _empty_work_orders(), times.get(key, {}),
                             volumes_by_bucket[key], volumes_by_bucket[key]["orders"], weights)
                for key in bucket_keys(period, group_by)]
    keys = sorted(wo_groups, key=lambda k: (-wo_groups[k]["work_orders"], label(k)))
    # Volumes are not kept per department or category: those groups carry no service rates, and their
    # work-order rate is against the whole period's orders.
    return [_group_entry(key, label(key), wo_groups[key], times.get(key, {}), None, period_volumes["orders"], weights)
            for key in keys]


# What each CSV section reads of a summary: the export works out only that.
PARTS = frozenset({"work_orders", "tasks", "pareto", "tags", "backlog"})
SECTION_PARTS = {
    "groups": frozenset({"work_orders", "tasks"}), "steps": frozenset({"tasks"}), "escalations": frozenset({"tasks"}),
    "scores": frozenset({"work_orders"}), "pareto": frozenset({"pareto"}), "tags": frozenset({"tags"}),
    "backlog": frozenset({"backlog"}),
}


def summarise(*, user: User, period: Period, group_by: str | None, now: datetime, pareto_level: int = 3,
              parts: frozenset = PARTS) -> dict:
    """Every figure of docs/design.md §8 for the period, as the user may see it, overall and per group; only reads.

    Closed work orders are counted as of `facts_as_of` in the answer (the read model's stamp, see
    `catch_up`): work closed after it is not yet counted. `parts` limits the work to some of it (see
    SECTION_PARTS); what is left out is absent or empty in the answer, and what is in it is the same as in
    a whole summary.
    """
    prepare_connection(period.tz)
    as_of = facts_as_of(tz=period.tz)
    scope = facts.with_department_sets(scope_for(user))
    _tune_session()
    weights = current_weights()
    days, orders_source = daily_counts(period)
    period_volumes = sum_days(days)
    sources = facts.work_order_sources(period=period, scope=scope)
    wo_groups, categories = {}, {}
    if parts & {"work_orders", "pareto"}:
        wo_groups, categories = _work_order_figures(sources, group_by, period, pareto_level,
                                                    figures="work_orders" in parts, categories_too="pareto" in parts)
    tasks = sla.TaskFigures()
    if "tasks" in parts:
        tasks = sla.task_figures(period=period, scope=scope, group_by=group_by, now=now)
    for key, counts in tasks.open_group_counts.items():  # on-time figures of open work, counted from its tasks
        group = wo_groups.setdefault(key, _empty_work_orders())
        group["tasks_on_time"] += counts["on_time"]
        group["tasks_late"] += counts["late"]

    total_wo = _empty_work_orders()
    for values in wo_groups.values():
        _add(total_wo, values)
    headline, effort = _headline(total_wo, tasks.total, period_volumes, period_volumes["orders"], weights)
    groups = _groups(group_by, period, days, period_volumes, wo_groups, tasks.group_times, weights) if group_by else []

    return {
        "period": {"start": period.start, "end": period.end, "timezone": period.tz, "days": len(days)},
        "group_by": group_by,
        "scope": {"all_departments": scope.everything, "department_ids": sorted(scope.department_ids or [])},
        "generated_at": now,
        "facts_as_of": as_of,
        **headline,
        "volumes": {
            "orders": period_volumes["orders"],
            "orders_source": orders_source,
            "self_service": period_volumes["self_service"],
            "ivr": period_volumes["ivr"],
            "manual": period_volumes["manual"],
            "misrouted": period_volumes["misrouted"],
        },
        "work_orders": {
            "total": total_wo["work_orders"], "customer": total_wo["customer"], "open": total_wo["open"],
            "in_progress": total_wo["in_progress"], "resolved": total_wo["resolved"], "cancelled": total_wo["cancelled"],
        },
        "evaluations": {
            "evaluated": total_wo["evaluated"], "answered": total_wo["answered"],
            "answered_resolved": total_wo["answered_resolved"], "scored": total_wo["scored"],
            "score_distribution": {str(s): total_wo[f"score_{s}"] for s in (1, 2, 3, 4)},
        },
        "effort": {**effort, "weights": weights},
        "sla": {
            **{name: tasks.total[name] for name in sla.COUNTS},
            "on_time_rate": headline["on_time_rate"],
            **_times(tasks.total_times),
        },
        "steps": _steps(tasks),
        "escalations": _escalations(tasks, total_wo),
        "returns": {
            "returns": total_wo["returns"],
            "work_orders_returned": total_wo["returned"],
            "return_rate": total_wo["returned"] / total_wo["work_orders"] if total_wo["work_orders"] else None,
        },
        "backlog": _backlog(period, scope, now) if "backlog" in parts else None,
        "pareto": breakdowns.pareto(categories=categories, level=pareto_level) if "pareto" in parts else None,
        "tags_by_department": breakdowns.tags_by_department(sources=facts.tag_sources(period=period, scope=scope))
        if "tags" in parts else [],
        "groups": groups,
        # The whole period shaped like a group, for the CSV export (not part of the JSON answer).
        "overall": _group_entry(None, "(period)", total_wo, tasks.total_times, period_volumes, period_volumes["orders"], weights),
    }


def _times(times: dict) -> dict:
    """Every duration reported (wall and working time), empty figures where nothing was measured."""
    return {name: times.get(name) or sla.duration_stats() for name, _ in sla.TIMES}


def _steps(tasks: sla.TaskFigures) -> list[dict]:
    steps = []
    for (template, step), counts in sorted(tasks.steps.items(), key=lambda item: (item[0][0], item[0][1])):
        times = tasks.step_times.get((template, step), {})
        steps.append({
            "template": template, "step": step, **counts, "on_time_rate": sla.on_time_rate(counts),
            **_times(times),
        })
    return steps


def _escalations(tasks: sla.TaskFigures, wo: dict) -> dict:
    top = max(tasks.highest_level, default=0)
    levels = [{"level": level,
               "reached": sum(n for lvl, n in tasks.highest_level.items() if lvl >= level),
               "highest": tasks.highest_level.get(level, 0)} for level in range(1, top + 1)]
    return {"work_orders": wo["escalated"], "tasks": sum(tasks.highest_level.values()), "by_level": levels}
