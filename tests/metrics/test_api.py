"""GET /metrics/summary, /metrics/export.csv, GET/PUT /metrics/effort-weights: status codes, shapes, permissions, CSV."""
import csv
import io

import pytest

from tests.conftest import assert_error
from tests.metrics.conftest import WEEK

SUMMARY = "/api/v1/metrics/summary"
EXPORT = "/api/v1/metrics/export.csv"
WEIGHTS = "/api/v1/metrics/effort-weights"
HEADLINE = ("service_rate", "manual_service_rate", "work_order_rate", "resolved_share", "resolution_score_mean",
            "effort_overall", "on_time_rate")
http_only = pytest.mark.parametrize("backend", ["sqlite"])


def _query(**extra):
    return {**WEEK, **extra}


def test_the_summary_over_http(client, flow, week):
    response = client.get(SUMMARY, query_string=_query(group_by="department"), headers=flow.h("admin"))
    assert response.status_code == 200, response.json
    body = response.json
    for name in HEADLINE:
        assert name in body and all(name in group for group in body["groups"]), name
    assert body["period"] == {"from": "2025-03-03", "to": "2025-03-09", "timezone": "Asia/Shanghai", "days": 7}
    assert body["group_by"] == "department" and body["scope"]["all_departments"] is True
    assert body["facts_as_of"] == "2025-03-10T00:00:00+00:00"  # the job's last pass (see the week fixture)
    assert body["service_rate"] == pytest.approx(20.8)
    assert body["work_orders"]["total"] == 6 and len(body["groups"]) == 2
    for section in ("volumes", "evaluations", "effort", "sla", "steps", "escalations", "returns", "backlog", "pareto",
                    "tags_by_department"):
        assert section in body, section
    assert "overall" not in body
    assert body["sla"]["time_to_claim"] == {"median": 750, "p90": pytest.approx(1590), "count": 8, "estimated": False}
    assert body["groups"][0]["time_to_complete"]["estimated"] is False
    assert body["pareto"]["items"][0]["label"] == "售后 After-sales / 质量 Quality / 破损 Damaged"


def test_who_may_read_metrics(client, flow, auth, week):
    for url in (SUMMARY, EXPORT):
        assert client.get(url, query_string=_query(), headers=flow.h("lead.cs")).status_code == 200
        assert_error(client.get(url, query_string=_query(), headers=flow.h("cs.agent1")), 403)
        assert_error(client.get(url, query_string=_query(), headers=flow.h("quality.qa")), 403)
        assert_error(client.get(url, query_string=_query()), 401)
    key = client.post("/api/v1/api-keys", json={"name": "bi", "scopes": ["volumes:write"]}, headers=flow.h("admin")).json["key"]
    assert_error(client.get(SUMMARY, headers={"X-API-Key": key}), 403, "insufficient_scope")
    # A lead's figures are their departments'.
    mine = client.get(SUMMARY, query_string=_query(), headers=flow.h("mgr.dlv")).json
    assert mine["work_orders"]["total"] == 1 and mine["scope"]["all_departments"] is False


@http_only
@pytest.mark.parametrize("query, field", [
    ({"group_by": "colour"}, "group_by"),
    ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),
    ({"from": "2025-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2020-01-01", "to": "2025-01-01"}, "from"),
    ({"from": "2020-01-01"}, "from"),  # up to today: too long
    ({"pareto_level": "4"}, "pareto_level"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ({"from": "9999-12-30", "to": "9999-12-31"}, "to"),
])
def test_bad_arguments_are_422(client, auth, demo, query, field):
    error = assert_error(client.get(SUMMARY, query_string=query, headers=auth.headers("admin")), 422)
    assert field in error["details"], error
    assert_error(client.get(EXPORT, query_string={**query}, headers=auth.headers("admin")), 422)


@http_only
def test_the_default_period_is_the_last_thirty_days(client, auth, demo):
    body = client.get(SUMMARY, headers=auth.headers("admin")).json
    from datetime import date

    start, end = date.fromisoformat(body["period"]["from"]), date.fromisoformat(body["period"]["to"])
    assert (end - start).days == 29 and body["period"]["days"] == 30
    only_from = client.get(SUMMARY, query_string={"from": "2030-01-01"}, headers=auth.headers("admin")).json
    assert only_from["period"]["from"] == only_from["period"]["to"] == "2030-01-01"


def _csv(response):
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:10]  # UTF-8 byte order mark
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))


def test_the_csv_export(client, flow, week):
    response = client.get(EXPORT, query_string=_query(group_by="day"), headers=flow.h("admin"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="baton-metrics-2025-03-03-2025-03-09-groups.csv"' in response.headers["Content-Disposition"]
    assert response.headers["Facts-As-Of"] == "2025-03-10T00:00:00+00:00"
    rows = _csv(response)
    header, period, *days = rows
    assert header[:4] == ["row", "key", "label", "work_orders"]
    assert set(HEADLINE) <= set(header)
    assert len(days) == 7 and all(len(r) == len(header) for r in rows)
    line = dict(zip(header, period))
    assert (line["row"], line["work_orders"], line["orders"], line["service_rate"], line["manual_service_rate"]) == ("period", "6", "50000", "20.8", "3.4")
    assert (line["on_time_rate"], line["tasks_on_time"], line["tasks_late"]) == ("0.625", "5", "3")
    assert (line["claim_median_s"], line["complete_p90_s"], line["effort_resolved_mean"]) == ("750", "6480", "2.4333")
    wednesday = dict(zip(header, days[2]))
    assert (wednesday["key"], wednesday["service_rate"], wednesday["resolved_share"]) == ("2025-03-05", "", "")

    ungrouped = _csv(client.get(EXPORT, query_string=_query(), headers=flow.h("admin")))
    assert len(ungrouped) == 2 and ungrouped[1] == period  # the period's row only, the same figures

    pareto = _csv(client.get(EXPORT, query_string=_query(section="pareto"), headers=flow.h("admin")))
    assert pareto[0] == ["rank", "category", "level_1", "level_2", "level_3", "work_orders", "share", "cumulative_share", "vital"]
    assert pareto[1][:6] == ["1", "售后 After-sales / 质量 Quality / 破损 Damaged", "售后 After-sales", "质量 Quality", "破损 Damaged", "2"]
    assert [r[-1] for r in pareto[1:]] == ["true", "true", "true", "false"]

    for section, first_column, count in (("steps", "template", 2), ("tags", "department_id", 4), ("backlog", "bucket", 8),
                                         ("escalations", "level", 2), ("scores", "score", 4)):
        table = _csv(client.get(EXPORT, query_string=_query(section=section), headers=flow.h("admin")))
        assert table[0][0] == first_column and len(table) == count + 1, (section, table)
    scores = _csv(client.get(EXPORT, query_string=_query(section="scores"), headers=flow.h("admin")))
    assert scores[1:] == [["1", "perfunctory", "0"], ["2", "messenger only", "1"], ["3", "resolved", "0"], ["4", "delighted", "1"]]
    assert_error(client.get(EXPORT, query_string=_query(section="everything"), headers=flow.h("admin")), 422)


@http_only
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, flow, demo):
    from app.metrics.export import _cell

    assert _cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [_cell(v) for v in ("+1", "-x", "@a", "ok", -3, -2.5, None, True, 0.0)] == ["'+1", "'-x", "'@a", "ok", "-3", "-2.5", "", "true", "0"]


def test_effort_weights(client, flow, week):
    shown = client.get(WEIGHTS, headers=flow.h("lead.cs"))
    assert shown.status_code == 200
    defaults = {"contacts": 1.0, "wait_hours": 0.5, "handling_hours": 0.1, "unresolved": 5.0, "returns": 2.0}
    assert shown.json["weights"] == shown.json["defaults"] == defaults
    assert shown.json["updated_at"] is None and "formula" in shown.json and set(shown.json["descriptions"]) == set(defaults)

    new = {"contacts": 2.0, "wait_hours": 1.0, "handling_hours": 0.0, "unresolved": 10.0, "returns": 0.0}
    assert_error(client.put(WEIGHTS, json=new, headers=flow.h("lead.cs")), 403)
    stored = client.put(WEIGHTS, json=new, headers=flow.h("admin"))
    assert stored.status_code == 200 and stored.json["weights"] == new
    assert stored.json["updated_by_id"] == flow.demo.uid("admin")

    body = client.get(SUMMARY, query_string=_query(), headers=flow.h("admin")).json
    # WO1: 2 contacts, 600 s waited, resolved; WO2: 1 contact, 300 s waited, unresolved (its return now weighs nothing).
    wo1 = 2 * 2.0 + (600 / 3600) * 1.0
    wo2 = 1 * 2.0 + (300 / 3600) * 1.0 + 10.0
    assert body["effort"]["weights"] == new
    assert body["effort_overall"] == pytest.approx(0.5 * wo1 + 0.5 * wo2)


@http_only
@pytest.mark.parametrize("body", [
    {"contacts": 1.0, "wait_hours": 0.5, "handling_hours": 0.1, "unresolved": 5.0},
    {"contacts": -1.0, "wait_hours": 0.5, "handling_hours": 0.1, "unresolved": 5.0, "returns": 2.0},
    {"contacts": "lots", "wait_hours": 0.5, "handling_hours": 0.1, "unresolved": 5.0, "returns": 2.0},
    {"contacts": 1.0, "wait_hours": 0.5, "handling_hours": 0.1, "unresolved": 5.0, "returns": 2.0, "mood": 1},
])
def test_bad_weights_are_422(client, auth, demo, body):
    assert_error(client.put(WEIGHTS, json=body, headers=auth.headers("admin")), 422)


@http_only
def test_the_endpoints_are_in_the_openapi_document(client, demo):
    document = client.get("/api/v1/openapi.json").json
    paths = document["paths"]
    for path in ("/api/v1/metrics/summary", "/api/v1/metrics/export.csv", "/api/v1/metrics/effort-weights",
                 "/api/v1/service-volumes", "/api/v1/work-orders/{work_order_id}/evaluation"):
        assert path in paths, path
    # The freshness stamp is documented: a field of the summary, a header of the export.
    stamp = document["components"]["schemas"]["Summary"]["properties"]["facts_as_of"]
    assert stamp["format"] == "date-time" and "not yet counted" in stamp["description"]
    assert "Facts-As-Of" in paths["/api/v1/metrics/export.csv"]["get"]["responses"]["200"]["headers"]
