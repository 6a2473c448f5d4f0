"""Flows that branch (docs/design.md §11), through the HTTP API on both databases: the engine starts what the
router decides, skips the branches not taken, resolves when everything is completed or skipped, and returns
re-open a branch."""
from tests.conftest import assert_error


def _recall(flow, **extra_steps):
    cs, wh, qa = flow.demo.dept("CS"), flow.demo.dept("WH-SH-01"), flow.demo.dept("QA")
    steps = [
        {"key": "contact", "title": "Contact", "assignees": {"departments": [cs]}, "outcomes": ["received", "refused", "unreachable"],
         "form": [{"name": "reason", "type": "text"}]},
        {"key": "follow_up", "title": "Supervisor follows up", "after": ["contact"], "assignees": {"departments": [cs]},
         "when": {"outcome": {"step": "contact", "in": ["unreachable"]}}},
        {"key": "inspect", "title": "Inspect", "after": ["contact"], "assignees": {"departments": [wh]},
         "when": {"outcome": {"step": "contact", "in": ["received"]}}, "outcomes": ["pass", "fail"], "allow_return": True},
        {"key": "restock", "title": "Restock", "after": ["inspect"], "assignees": {"departments": [wh]},
         "when": {"outcome": {"step": "inspect", "in": ["pass"]}}},
        {"key": "dispose", "title": "Dispose", "after": ["inspect"], "assignees": {"departments": [qa]}, "default": True,
         "allow_return": True},
        {"key": "report", "title": "Report", "after": ["restock", "dispose"], "assignees": {"departments": [qa]}, "allow_return": True},
    ]
    flow.template({"key": "branching_recall", "name": "Recall with branches", "steps": steps})
    return flow.create("branching_recall")


def _states(flow, wo_id):
    return {s["key"]: s["status"] for s in flow.detail(wo_id)["steps"]}


def test_a_refusal_closes_the_recall_without_sending_anyone(flow):
    wo = _recall(flow)
    flow.finish(wo["id"], "contact", "cs.agent1", outcome="refused", data={"reason": "already used it"})
    detail = flow.detail(wo["id"])
    assert detail["status"] == "resolved"  # every other step was skipped
    states = {s["key"]: s for s in detail["steps"]}
    assert [states[k]["status"] for k in ("contact", "follow_up", "inspect", "restock", "dispose", "report")] == \
        ["completed", "skipped", "skipped", "skipped", "skipped", "skipped"]
    assert states["inspect"]["reason"] == {"by": "when", "held": False,
                                           "when": {"outcome": {"step": "contact", "in": ["received"]}}}
    assert states["restock"]["reason"] == {"by": "no_branch_taken", "after": ["inspect"]}
    skipped = [e["details"]["step"] for e in detail["timeline"] if e["kind"] == "step_skipped"]
    assert skipped == ["follow_up", "inspect", "restock", "dispose", "report"]
    assert not flow.open_tasks(wo["id"])


def test_received_goods_that_fail_inspection_are_disposed_by_the_default_branch(flow):
    wo = _recall(flow)
    flow.finish(wo["id"], "contact", "cs.agent1", outcome="received")
    assert _states(flow, wo["id"])["inspect"] == "active" and _states(flow, wo["id"])["follow_up"] == "skipped"
    started = [e for e in flow.detail(wo["id"])["timeline"] if e["kind"] == "activated" and e["details"]["step"] == "inspect"]
    assert started[0]["details"]["route"]["held"] is True  # the timeline says which condition started it
    flow.finish(wo["id"], "inspect", "staff.wh1", outcome="fail")
    states = _states(flow, wo["id"])
    assert (states["restock"], states["dispose"]) == ("skipped", "active")
    flow.finish(wo["id"], "dispose", "quality.qa")
    # The join after the exclusive choice waited only for the branch taken.
    assert _states(flow, wo["id"])["report"] == "active"


def test_a_return_reopens_the_branch_and_the_route_is_decided_again(flow):
    wo = _recall(flow)
    flow.finish(wo["id"], "contact", "cs.agent1", outcome="received")
    flow.finish(wo["id"], "inspect", "staff.wh1", outcome="fail")
    qa_login = "quality.qa"
    (dispose,) = flow.open_tasks(wo["id"], "dispose")
    assert flow.act(dispose["id"], "claim", qa_login).status_code == 200
    r = flow.act(dispose["id"], "return", qa_login, reason="looks fine to me, inspect again")
    assert r.status_code == 200, r.json
    states = _states(flow, wo["id"])
    assert (states["inspect"], states["restock"], states["dispose"]) == ("active", "pending", "pending")
    returned = [e for e in flow.detail(wo["id"])["timeline"] if e["kind"] == "returned"][-1]
    assert returned["details"]["reopened"] == ["restock"]
    flow.finish(wo["id"], "inspect", "staff.wh1", outcome="pass")
    states = _states(flow, wo["id"])
    assert (states["restock"], states["dispose"]) == ("active", "skipped")


def test_a_skipped_step_can_never_be_returned_to(flow):
    wo = _recall(flow)
    flow.finish(wo["id"], "contact", "cs.agent1", outcome="received")
    flow.finish(wo["id"], "inspect", "staff.wh1", outcome="pass")
    flow.finish(wo["id"], "restock", "staff.wh1")
    (report,) = flow.open_tasks(wo["id"], "report")
    assert flow.act(report["id"], "claim", "quality.qa").status_code == 200
    err = assert_error(flow.act(report["id"], "return", "quality.qa", reason="redo", to_step="dispose"), 422, "step_skipped")
    assert err["details"] == {"to_step": ["must be one of ['restock']"]}
    # Without naming a step, the work goes back to the branch that was taken.
    assert flow.act(report["id"], "return", "quality.qa", reason="redo").status_code == 200
    assert _states(flow, wo["id"])["restock"] == "active" and _states(flow, wo["id"])["dispose"] == "skipped"


def test_conditions_on_data_decide_the_first_steps_and_all_instances_can_be_required(flow):
    cs, wh = flow.demo.dept("CS"), flow.demo.dept("WH-SH-01")
    agents = [flow.demo.uid("cs.agent1"), flow.demo.uid("cs.agent2")]
    flow.template({"key": "approval", "name": "Approval", "form": [{"name": "amount", "type": "number", "required": True}],
                   "steps": [
                       {"key": "sign", "title": "Both sign", "mode": "each", "assignees": {"users": agents},
                        "when": {"field": "amount", "op": "gt", "value": 500}, "outcomes": ["yes", "no"]},
                       {"key": "pay", "title": "Pay", "after": ["sign"], "assignees": {"departments": [wh]},
                        "when": {"outcome": {"step": "sign", "in": ["yes"], "quantifier": "all"}}},
                       {"key": "refuse", "title": "Tell the customer", "after": ["sign"], "assignees": {"departments": [cs]},
                        "default": True},
                   ]})
    small = flow.create("approval", data={"amount": 20})
    assert flow.detail(small["id"])["status"] == "resolved"  # nothing to approve: everything skipped at once
    big = flow.create("approval", data={"amount": 900})
    tasks = flow.open_tasks(big["id"], "sign")
    by_agent = {t["assignee_id"]: t for t in tasks}
    assert flow.act(by_agent[agents[0]]["id"], "complete", "cs.agent1", outcome="yes").status_code == 200
    assert flow.act(by_agent[agents[1]]["id"], "complete", "cs.agent2", outcome="no").status_code == 200
    states = _states(flow, big["id"])
    assert (states["pay"], states["refuse"]) == ("skipped", "active")  # not all of them said yes


def test_a_template_with_a_bad_condition_is_refused_with_the_exact_path(flow):
    cs = flow.demo.dept("CS")
    body = {"key": "bad_route", "name": "Bad", "form": [{"name": "amount", "type": "number"}], "steps": [
        {"key": "a", "title": "A", "assignees": {"departments": [cs]}, "outcomes": ["ok", "ko"]},
        {"key": "b", "title": "B", "after": ["a"], "assignees": {"departments": [cs]},
         "when": {"all": [{"outcome": {"step": "a", "in": ["maybe"]}}, {"field": "amount", "op": "contains", "value": 3}]}},
        {"key": "c", "title": "C", "after": ["a"], "assignees": {"departments": [cs]}, "when": {"outcome": {"step": "c", "in": ["done"]}}},
    ]}
    err = assert_error(flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin")), 422, "invalid_template")
    assert set(err["details"]) == {"steps.1.when.all.0.outcome.in", "steps.1.when.all.1.op", "steps.2.when.outcome.step"}, err


def test_the_dry_run_plans_the_route_who_gets_each_step_and_when_it_is_due(flow):
    _recall(flow)
    from app.workorders.models import TimelineEvent, WorkOrder
    from app.extensions import db
    from sqlalchemy import func, select

    before = (db.session.scalar(select(func.count()).select_from(WorkOrder)), db.session.scalar(select(func.count()).select_from(TimelineEvent)))
    body = {"outcomes": {"contact": "received", "inspect": "fail"}, "start_at": "2026-12-04T01:00:00Z"}
    r = flow.client.post("/api/v1/templates/branching_recall/dry-run", json=body, headers=flow.h("admin"))
    assert r.status_code == 200, r.json
    steps = r.json["steps"]
    assert [(s["key"], s["status"]) for s in steps] == [
        ("contact", "started"), ("follow_up", "skipped"), ("inspect", "started"), ("restock", "skipped"), ("dispose", "started"),
        ("report", "started")]
    cs_agents = {flow.demo.uid("cs.agent1"), flow.demo.uid("cs.agent2")}
    assert cs_agents <= set(steps[0]["candidates"]) and steps[2]["outcome"] == "fail"
    assert steps[3]["reason"] == {"by": "when", "held": False, "when": {"outcome": {"step": "inspect", "in": ["pass"]}}}
    assert steps[4]["reason"] == {"by": "default", "taken": []}
    assert (db.session.scalar(select(func.count()).select_from(WorkOrder)),
            db.session.scalar(select(func.count()).select_from(TimelineEvent))) == before  # nothing is written


def test_the_dry_run_gives_due_times_with_their_explanation_in_the_readers_language(flow):
    cs = flow.demo.dept("CS")
    flow.template({"key": "timed", "name": "Timed", "steps": [
        {"key": "a", "title": "A", "assignees": {"departments": [cs]}, "sla": "P1DT4H"},
        {"key": "b", "title": "B", "after": ["a"], "assignees": {"departments": [cs]}, "sla": "PT30M"},
        {"key": "c", "title": "C", "after": ["b"], "assignees": {"departments": [cs]}}]})
    body = {"start_at": "2026-12-04T01:00:00Z"}
    zh = flow.client.post("/api/v1/templates/timed/dry-run", json=body, headers=flow.h("admin")).json["steps"]
    assert [s["due_at"] for s in zh] == ["2026-12-05T05:00:00+00:00", "2026-12-05T05:30:00+00:00", None]
    assert zh[1]["started_at"] == "2026-12-05T05:00:00+00:00"  # taken as completed when it was due
    assert zh[0]["due_explained"] == "自 2026-12-04 09:00（Asia/Shanghai）起 1天4小时，按自然时间计算。"
    assert zh[2]["due_explained"] == "无时限要求。"
    flow.client.patch("/api/v1/me", json={"locale": "en"}, headers=flow.h("admin"))
    en = flow.client.post("/api/v1/templates/timed/dry-run", json=body, headers=flow.h("admin")).json["steps"]
    assert en[1]["due_explained"] == "30 min after 2026-12-05 13:00 (Asia/Shanghai), counted on the wall clock."


def test_the_dry_run_checks_its_sample_like_a_real_work_order(flow):
    _recall(flow)
    body = {"outcomes": {"contact": "maybe", "nope": "x"}, "step_data": {"contact": {"reason": 5}}, "department_id": 999999}
    err = assert_error(flow.client.post("/api/v1/templates/branching_recall/dry-run", json=body, headers=flow.h("admin")), 422)
    assert set(err["details"]) == {"outcomes.contact", "outcomes.nope", "step_data.contact.reason", "department_id"}, err
    assert_error(flow.client.post("/api/v1/templates/branching_recall/dry-run", json={}, headers=flow.h("staff.wh1")), 403)
    assert_error(flow.client.post("/api/v1/templates/nothing/dry-run", json={}, headers=flow.h("admin")), 404)


def test_the_readme_example_is_a_valid_template_and_routes_as_it_says(flow):
    import json
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Writing a flow that branches", 1)[1]
    body = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    flow.template(body)
    r = flow.client.post("/api/v1/templates/returns/dry-run", json={"data": {"refund": 800}, "outcomes": {"inspect": "fail"}},
                         headers=flow.h("admin"))
    assert r.status_code == 200, r.json
    assert {s["key"]: s["status"] for s in r.json["steps"]} == {
        "inspect": "started", "restock": "skipped", "dispose": "started", "approve": "started", "refund": "started"}
    r = flow.client.post("/api/v1/templates/returns/dry-run",
                         json={"data": {"refund": 20}, "outcomes": {"inspect": "pass"}, "step_data": {"inspect": {"damage": "box"}}},
                         headers=flow.h("admin"))
    assert {s["key"]: s["status"] for s in r.json["steps"]} == {
        "inspect": "started", "restock": "started", "dispose": "skipped", "approve": "skipped", "refund": "started"}


def test_a_duplicate_complaint_closes_at_triage(flow):
    """The demo complaint flow: a duplicate is closed by CS at triage; nothing reaches the warehouse or a driver."""
    wo = flow.create("complaint", title="Same complaint again")
    flow.finish(wo["id"], "triage", "cs.agent1", outcome="duplicate")
    detail = flow.detail(wo["id"])
    assert detail["status"] == "resolved"
    assert [s["status"] for s in detail["steps"]] == ["completed", "skipped", "skipped", "skipped"]
    accepted = flow.create("complaint", title="A new complaint")
    flow.finish(accepted["id"], "triage", "cs.agent1")
    assert _states(flow, accepted["id"])["warehouse_check"] == "active"


def test_the_route_lists_each_instance_of_a_for_each_step(flow):
    cs = flow.demo.dept("CS")
    flow.template({"key": "per_store", "name": "Per store", "steps": [
        {"key": "visit", "title": "Visit", "for_each": "stores", "assignees": {"departments": [cs]}},
        {"key": "report", "title": "Report", "after": ["visit"], "assignees": {"departments": [cs]}}]})
    wo = flow.create("per_store", data={"stores": ["North", "South"]})
    north = next(t for t in flow.open_tasks(wo["id"], "visit") if t["instance_label"] == "North")
    assert flow.act(north["id"], "complete", "cs.agent1").status_code == 200
    steps = flow.detail(wo["id"])["steps"]
    assert [(s["key"], s["instance"], s["status"]) for s in steps] == [
        ("visit", "North", "completed"), ("visit", "South", "active"), ("report", None, "pending")]
