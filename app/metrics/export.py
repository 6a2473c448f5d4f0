"""The summary as CSV: one table per section, a header row first, UTF-8 with a BOM.

The BOM makes spreadsheet programs (Excel in particular) read the file as UTF-8, so Chinese
category and department names open correctly. Numbers are written plainly (rates to 4 decimals,
durations in seconds); an unknown figure (null in JSON) is an empty cell. Text cells that a
spreadsheet would run as a formula (starting with = + - @) are prefixed with an apostrophe.
"""
import csv
import io

from app.common.text import spreadsheet_safe

BOM = "\ufeff"
GROUP_COLUMNS = (
    "row", "key", "label", "work_orders", "customer_work_orders", "open", "resolved", "cancelled",
    "orders", "self_service", "ivr", "manual", "service_rate", "manual_service_rate", "work_order_rate",
    "evaluated", "answered", "resolved_share", "scored", "resolution_score_mean",
    "effort_overall", "effort_resolved_mean", "effort_unresolved_mean",
    "on_time_rate", "tasks_on_time", "tasks_late",
    "claim_median_s", "claim_p90_s", "complete_median_s", "complete_p90_s", "returns", "escalated",
    "claim_working_median_s", "claim_working_p90_s", "complete_working_median_s", "complete_working_p90_s",
)
SCORE_MEANING = {"1": "perfunctory", "2": "messenger only", "3": "resolved", "4": "delighted"}


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        value = " / ".join(str(v) for v in value if v)
    return spreadsheet_safe(str(value))


def _group_row(kind: str, entry: dict) -> list:
    requests = entry.get("requests") or {}
    claim, complete = entry["time_to_claim"], entry["time_to_complete"]
    claim_working, complete_working = entry["working_time_to_claim"], entry["working_time_to_complete"]
    values = {
        **entry, "row": kind, **{name: requests.get(name) for name in ("self_service", "ivr", "manual")},
        "claim_median_s": claim["median"], "claim_p90_s": claim["p90"],
        "complete_median_s": complete["median"], "complete_p90_s": complete["p90"],
        "claim_working_median_s": claim_working["median"], "claim_working_p90_s": claim_working["p90"],
        "complete_working_median_s": complete_working["median"], "complete_working_p90_s": complete_working["p90"],
    }
    return [values.get(column) for column in GROUP_COLUMNS]


def _tables(summary: dict, section: str) -> tuple[list, list[list]]:
    if section == "groups":
        rows = [_group_row("period", summary["overall"])] + [_group_row("group", g) for g in summary["groups"]]
        return list(GROUP_COLUMNS), rows
    if section == "steps":
        header = ["template", "step", "tasks", "completed", "on_time", "late", "overdue_open", "on_time_rate",
                  "claims", "claim_median_s", "claim_p90_s", "completions", "complete_median_s", "complete_p90_s",
                  "claim_working_median_s", "claim_working_p90_s", "complete_working_median_s", "complete_working_p90_s"]
        rows = [[s["template"], s["step"], s["tasks"], s["completed"], s["on_time"], s["late"], s["overdue_open"], s["on_time_rate"],
                 s["time_to_claim"]["count"], s["time_to_claim"]["median"], s["time_to_claim"]["p90"],
                 s["time_to_complete"]["count"], s["time_to_complete"]["median"], s["time_to_complete"]["p90"],
                 s["working_time_to_claim"]["median"], s["working_time_to_claim"]["p90"],
                 s["working_time_to_complete"]["median"], s["working_time_to_complete"]["p90"]]
                for s in summary["steps"]]
        return header, rows
    if section == "pareto":
        header = ["rank", "category", "level_1", "level_2", "level_3", "work_orders", "share", "cumulative_share", "vital"]
        rows = []
        for rank, item in enumerate(summary["pareto"]["items"], start=1):
            levels = list(item["category"]) + [None] * (3 - len(item["category"]))
            rows.append([rank, item["label"], *levels, item["work_orders"], item["share"], item["cumulative_share"], item["vital"]])
        return header, rows
    if section == "tags":
        header = ["department_id", "department", "department_work_orders", "tag", "work_orders"]
        rows = [[d["department_id"], d["department"], d["work_orders"], t["tag"], t["work_orders"]]
                for d in summary["tags_by_department"] for t in d["tags"]]
        return header, rows
    if section == "backlog":
        header = ["bucket", "from_hours", "to_hours", "work_orders"]
        return header, [[b["bucket"], b["from_hours"], b["to_hours"], b["work_orders"]] for b in summary["backlog"]["buckets"]]
    if section == "escalations":
        header = ["level", "reached", "highest"]
        return header, [[e["level"], e["reached"], e["highest"]] for e in summary["escalations"]["by_level"]]
    header = ["score", "meaning", "work_orders"]
    return header, [[score, SCORE_MEANING[score], count] for score, count in summary["evaluations"]["score_distribution"].items()]


def summary_csv(summary: dict, section: str = "groups") -> bytes:
    """One section of a summary as CSV bytes (UTF-8 with BOM, header row first, CRLF line ends)."""
    header, rows = _tables(summary, section)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
