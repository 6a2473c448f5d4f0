"""The engine through the API: serial, diamond, for_each, each mode's completion rule, return, transfer, cancel."""
from datetime import timedelta

from app.common.clock import utcnow
from tests.conftest import assert_error


def test_serial_chain_moves_step_by_step_to_resolved(flow):
    wo = flow.create("complaint", title="Damaged milk", order_no="SO-1", customer_ref="C-1")
    assert wo["number"].startswith("WO-") and wo["status"] == "open"
    assert [t["step"] for t in wo["tasks"]] == ["triage"]
    assert flow.demo.uid("cs.agent1") in wo["tasks"][0]["candidates"]

    flow.finish(wo["id"], "triage", "cs.agent1", outcome="accepted")
    assert flow.detail(wo["id"])["status"] == "in_progress"
    # The warehouse step is offered to both warehouses; the CS agent is no longer involved.
    assert [t["step"] for t in flow.inbox("staff.wh2")["pool"]] == ["warehouse_check"]
    assert flow.inbox("cs.agent1")["pool"] == []

    flow.finish(wo["id"], "warehouse_check", "staff.wh2", outcome="stock_damaged", data={"findings": "crushed"})
    flow.finish(wo["id"], "driver_visit", "driver.li")
    flow.finish(wo["id"], "close", "cs.agent2", outcome="resolved")
    detail = flow.detail(wo["id"])
    assert detail["status"] == "resolved" and detail["resolved_at"]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "created" and kinds[-1] == "resolved"
    assert kinds.count("completed") == 4 and kinds.count("step_completed") == 4
    assert detail["data"]["findings"] == "crushed"


def test_diamond_joins_only_when_both_branches_are_done(flow):
    wo = flow.create("investigation")
    flow.finish(wo["id"], "intake", "cs.agent1")
    assert sorted(t["step"] for t in flow.open_tasks(wo["id"])) == ["delivery", "warehouse"]
    flow.finish(wo["id"], "delivery", "driver.wang")
    assert [t["step"] for t in flow.open_tasks(wo["id"])] == ["warehouse"]
    flow.finish(wo["id"], "warehouse", "staff.wh1", data={"root_cause": "picking"})
    assert [t["step"] for t in flow.open_tasks(wo["id"])] == ["conclude"]
    flow.finish(wo["id"], "conclude", "cs.agent2", outcome="resolved")
    assert flow.detail(wo["id"])["status"] == "resolved"


def test_completion_form_and_outcome_are_validated(flow):
    wo = flow.create("investigation")
    flow.finish(wo["id"], "intake", "cs.agent1")
    (task,) = flow.open_tasks(wo["id"], "warehouse")
    err = assert_error(flow.act(task["id"], "complete", "staff.wh1", data={"root_cause": "aliens"}), 422)
    assert "data.root_cause" in err["details"]
    assert_error(flow.act(task["id"], "complete", "staff.wh1", data={}), 422)
    assert_error(flow.act(task["id"], "complete", "staff.wh1", outcome="nope", data={"root_cause": "none"}), 422)
    assert flow.open_tasks(wo["id"], "warehouse")[0]["status"] == "open"


def test_joint_any_candidate_completes_for_all(flow):
    wo = flow.create("store_inspection", login="admin")
    (task,) = wo["tasks"]
    assert task["mode"] == "joint"
    assert any(t["id"] == task["id"] for t in flow.inbox("merchant.xu")["mine"])
    assert_error(flow.act(task["id"], "claim", "merchant.hu"), 409, "not_claimable")
    assert flow.act(task["id"], "complete", "merchant.xu", data={"shelf_ok": True}).status_code == 200
    assert_error(flow.act(task["id"], "complete", "merchant.hu", data={"shelf_ok": True}), 409, "task_completed")
    assert flow.inbox("merchant.hu")["mine"] == []
    assert flow.detail(wo["id"])["status"] == "resolved"


def test_each_step_completes_when_everyone_has(flow):
    wo = flow.create("safety_briefing", login="admin")
    staff = {flow.demo.uid(l): l for l in ("staff.wh1", "staff.wh1b", "staff.wh2", "staff.wh2b", "mgr.wh1", "mgr.wh2")}
    assert {t["assignee_id"] for t in wo["tasks"]} == set(staff)
    for i, task in enumerate(sorted(wo["tasks"], key=lambda t: t["id"])):
        other = next(l for u, l in staff.items() if u != task["assignee_id"] and l.startswith("staff."))
        assert_error(flow.act(task["id"], "complete", other), 404)  # a colleague's own task is not theirs to see
        assert flow.act(task["id"], "complete", staff[task["assignee_id"]]).status_code == 200
        expected = "resolved" if i == len(staff) - 1 else "in_progress"
        assert flow.detail(wo["id"])["status"] == expected


def test_for_each_instantiates_one_task_per_item_with_its_own_assignees(flow):
    wh1, wh2 = flow.demo.dept("WH-SH-01"), flow.demo.dept("WH-BJ-01")
    flow.template({
        "key": "hold_stock", "name": "Hold stock", "form": [{"name": "warehouses", "type": "list", "required": True}],
        "steps": [
            {"key": "hold", "title": "Hold stock", "mode": "pool", "for_each": "warehouses"},
            {"key": "report", "title": "Report", "after": ["hold"], "assignees": {"users": [flow.demo.uid("quality.qa")]}},
        ],
    })
    wo = flow.create("hold_stock", login="admin", data={"warehouses": [
        {"label": "WH-SH-01", "assignees": {"departments": [wh1]}},
        {"label": "WH-BJ-01", "assignees": {"departments": [wh2]}},
    ]})
    by_label = {t["instance_label"]: t for t in wo["tasks"]}
    assert set(by_label) == {"WH-SH-01", "WH-BJ-01"}
    assert flow.demo.uid("staff.wh1") in by_label["WH-SH-01"]["candidates"]
    assert flow.demo.uid("staff.wh1") not in by_label["WH-BJ-01"]["candidates"]
    assert_error(flow.act(by_label["WH-BJ-01"]["id"], "claim", "staff.wh1"), 404)  # another warehouse's task: not theirs to see
    assert_error(flow.act(by_label["WH-BJ-01"]["id"], "claim", "admin"), 403, "not_a_candidate")  # who oversees it sees it
    flow.act(by_label["WH-SH-01"]["id"], "complete", "staff.wh1")
    assert [t["step"] for t in flow.open_tasks(wo["id"])] == ["hold"]
    flow.act(by_label["WH-BJ-01"]["id"], "complete", "staff.wh2")
    assert [t["step"] for t in flow.open_tasks(wo["id"])] == ["report"]


def test_for_each_needs_a_list_at_creation(flow):
    flow.template({"key": "fe", "name": "FE", "steps": [{"key": "s", "title": "S", "for_each": "items"}]})
    err = assert_error(flow.client.post("/api/v1/work-orders", json={"template": "fe", "title": "x", "data": {"items": "no"}},
                                        headers=flow.h("admin")), 422)
    assert "data.items" in err["details"]


def test_return_reopens_previous_step_with_its_last_handler_and_counts(flow):
    wo = flow.create("complaint")
    flow.finish(wo["id"], "triage", "cs.agent2", outcome="accepted")
    (task,) = flow.open_tasks(wo["id"], "warehouse_check")
    flow.act(task["id"], "claim", "staff.wh1")
    assert_error(flow.act(task["id"], "return", "staff.wh1"), 422)  # reason required
    response = flow.act(task["id"], "return", "staff.wh1", reason="need the order photo")
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    (reopened,) = flow.open_tasks(wo["id"])
    assert reopened["step"] == "triage" and reopened["candidates"] == [flow.demo.uid("cs.agent2")]
    detail = flow.detail(wo["id"])
    assert detail["return_count"] == 1
    returned = [e for e in detail["timeline"] if e["kind"] == "returned"]
    assert returned[0]["details"]["reason"] == "need the order photo"
    # Once re-done, the warehouse step is offered again, as a new activation.
    flow.finish(wo["id"], "triage", "cs.agent2", outcome="accepted")
    (again,) = flow.open_tasks(wo["id"], "warehouse_check")
    assert again["id"] != task["id"] and again["status"] == "open"


def test_first_step_and_steps_without_allow_return_cannot_return(flow):
    wo = flow.create("complaint")
    (triage,) = wo["tasks"]
    assert_error(flow.act(triage["id"], "return", "cs.agent1", reason="x"), 409, "return_not_allowed")


def test_transfer_by_holder_and_by_lead(flow):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    flow.act(task["id"], "claim", "cs.agent1")
    moved = flow.act(task["id"], "transfer", "cs.agent1", to_user=flow.demo.uid("cs.agent2"), reason="end of shift")
    assert moved.status_code == 200 and moved.json["assignee_id"] == flow.demo.uid("cs.agent2")
    assert_error(flow.act(task["id"], "complete", "cs.agent1"), 409, "task_taken")
    assert_error(flow.act(task["id"], "transfer", "staff.wh1", to_user=flow.demo.uid("staff.wh1")), 404)
    back = flow.act(task["id"], "transfer", "lead.cs", to_user=flow.demo.uid("cs.agent1"))
    assert back.status_code == 200 and back.json["assignee_id"] == flow.demo.uid("cs.agent1")
    kinds = [e for e in flow.detail(wo["id"])["timeline"] if e["kind"] == "transferred"]
    assert [k["details"]["to_user"] for k in kinds] == [flow.demo.uid("cs.agent2"), flow.demo.uid("cs.agent1")]
    # The people the details name by id come named beside them.
    agent2 = flow.demo.user("cs.agent2")
    assert kinds[0]["people"][str(agent2.id)] == {"id": agent2.id, "login": "cs.agent2", "name": agent2.name}
    assert set(kinds[0]["people"]) == {str(flow.demo.uid("cs.agent1")), str(agent2.id)}


def test_transfer_names_the_person_by_login_as_people_type_it(flow):
    """The app's transfer dialog takes a login or an id; the API takes either (a login used to fail with 422)."""
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    flow.act(task["id"], "claim", "cs.agent1")
    moved = flow.act(task["id"], "transfer", "cs.agent1", to_user="CS.Agent2", reason="end of shift")
    assert moved.status_code == 200, moved.json
    assert moved.json["assignee_id"] == flow.demo.uid("cs.agent2")
    err = assert_error(flow.act(task["id"], "transfer", "cs.agent2", to_user="nobody.here"), 422)
    assert err["details"] == {"to_user": ["does not exist or is inactive"]}
    for bad in (True, 0, 2**40, "", "x" * 65, ["cs.agent1"]):
        err = assert_error(flow.act(task["id"], "transfer", "cs.agent2", to_user=bad), 422)
        assert list(err["details"]) == ["to_user"], (bad, err)


def test_cancel_cancels_open_tasks_and_keeps_history(flow):
    wo = flow.create("investigation")
    flow.finish(wo["id"], "intake", "cs.agent1")
    assert_error(flow.client.post(f"/api/v1/work-orders/{wo['id']}/cancel", json={"reason": "dup"}, headers=flow.h("staff.wh1")), 403)
    response = flow.client.post(f"/api/v1/work-orders/{wo['id']}/cancel", json={"reason": "duplicate"}, headers=flow.h("lead.cs"))
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    statuses = sorted(t["status"] for t in flow.detail(wo["id"])["tasks"])
    assert statuses == ["cancelled", "cancelled", "completed"]
    assert flow.inbox("staff.wh1")["pool"] == []
    assert_error(flow.client.post(f"/api/v1/work-orders/{wo['id']}/cancel", json={"reason": "again"}, headers=flow.h("lead.cs")), 409)


def test_release_puts_a_pool_task_back(flow):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    flow.act(task["id"], "claim", "cs.agent1")
    assert flow.inbox("cs.agent2")["pool"] == []
    assert_error(flow.act(task["id"], "release", "cs.agent2"), 403)
    assert flow.act(task["id"], "release", "cs.agent1").json["status"] == "open"
    assert [t["id"] for t in flow.inbox("cs.agent2")["pool"]] == [task["id"]]


def test_claim_rules(flow):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    assert_error(flow.act(task["id"], "claim", "staff.wh1"), 404)  # not involved: the work order is private
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200  # a retried claim by the winner is fine
    assert_error(flow.act(task["id"], "claim", "cs.agent2"), 409, "task_taken")
    assert_error(flow.act(task["id"], "complete", "cs.agent2"), 409, "task_taken")
    flow.act(task["id"], "complete", "cs.agent1", outcome="accepted")
    assert_error(flow.act(task["id"], "complete", "cs.agent1", outcome="accepted"), 409, "task_completed")


def test_candidates_added_and_removed_mid_step(flow):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    wh1 = flow.demo.uid("staff.wh1")
    assert_error(flow.client.post(f"/api/v1/tasks/{task['id']}/candidates", json={"add": [wh1]}, headers=flow.h("cs.agent1")), 403)
    r = flow.client.post(f"/api/v1/tasks/{task['id']}/candidates", json={"add": [wh1], "remove": [flow.demo.uid("cs.agent2")]},
                         headers=flow.h("lead.cs"))
    assert r.status_code == 200, r.json
    assert wh1 in r.json["candidates"] and flow.demo.uid("cs.agent2") not in r.json["candidates"]
    assert [t["id"] for t in flow.inbox("staff.wh1")["pool"]] == [task["id"]]
    assert flow.inbox("cs.agent2")["pool"] == []
    kinds = [e["kind"] for e in flow.detail(wo["id"])["timeline"]]
    assert "handlers_changed" in kinds


def test_each_mode_candidates_add_a_task_and_remove_cancels_it(flow):
    wo = flow.create("safety_briefing", login="admin")
    driver = flow.demo.uid("driver.li")
    wh1 = flow.demo.uid("staff.wh1")
    task = wo["tasks"][0]
    r = flow.client.post(f"/api/v1/tasks/{task['id']}/candidates", json={"add": [driver], "remove": [wh1]}, headers=flow.h("admin"))
    assert r.status_code == 200, r.json
    live = {t["assignee_id"] for t in flow.open_tasks(wo["id"])}
    assert driver in live and wh1 not in live


def test_off_duty_candidate_is_replaced_by_delegate(flow):
    agent1, agent2 = flow.demo.uid("cs.agent1"), flow.demo.uid("cs.agent2")
    r = flow.client.patch("/api/v1/me", json={"on_duty": False, "delegate_id": agent2}, headers=flow.h("cs.agent1"))
    assert r.status_code == 200
    wo = flow.create("complaint")
    candidates = wo["tasks"][0]["candidates"]
    assert agent1 not in candidates and agent2 in candidates
    activated = [e for e in flow.detail(wo["id"])["timeline"] if e["kind"] == "activated"][0]
    assert activated["details"]["substituted"] == {str(agent1): agent2}


def test_nobody_available_falls_back_up_the_line(flow):
    for login in ("cs.agent1", "cs.agent2", "lead.cs"):
        flow.client.patch("/api/v1/me", json={"on_duty": False}, headers=flow.h(login))
    wo = flow.create("complaint", login="admin")
    # Everyone in CS is away: their manager's manager (the GM) gets the task instead of nobody.
    assert wo["tasks"][0]["candidates"] == [flow.demo.uid("gm.zhang")]


def test_offline_time_is_used_when_plausible_and_flagged_when_not(flow, app):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    # Before the task was offered is implausible; between offer and receipt is fine; far in the future is not.
    before_offer = (utcnow() - timedelta(hours=1)).isoformat()
    r = flow.act(task["id"], "claim", "cs.agent1", occurred_at=before_offer)
    assert r.status_code == 200 and r.json["device_time_untrusted"] is True
    flow.act(task["id"], "release", "cs.agent1")
    r = flow.act(task["id"], "claim", "cs.agent1", occurred_at=task["created_at"])
    assert r.status_code == 200
    future = (utcnow() + timedelta(days=3)).isoformat()
    r = flow.act(task["id"], "complete", "cs.agent1", outcome="accepted", occurred_at=future)
    assert r.status_code == 200 and r.json["device_time_untrusted"] is True
    from app.extensions import db
    from app.workorders.models import Task

    row = db.session.get(Task, task["id"])
    db.session.refresh(row)
    assert row.completed_effective_at == row.completed_at  # receipt time used
    assert row.claimed_effective_at.isoformat() == task["created_at"]  # the plausible device time
    assert_error(flow.act(task["id"], "claim", "cs.agent1", occurred_at="yesterday"), 422)


def test_visibility(flow):
    wo = flow.create("complaint")
    assert_error(flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("staff.wh1")), 404)
    assert flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("cs.agent1")).status_code == 200
    assert flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("gm.zhang")).status_code == 200  # lead above CS
    assert_error(flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("mgr.wh1")), 404)  # lead of another branch
    listing = flow.client.get("/api/v1/work-orders", headers=flow.h("staff.wh1")).json
    assert listing["total"] == 0
    flow.finish(wo["id"], "triage", "cs.agent1", outcome="accepted")
    # Now the warehouses take part: their staff (candidates) and their lead see it.
    assert flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("staff.wh1")).status_code == 200
    assert flow.client.get(f"/api/v1/work-orders/{wo['id']}", headers=flow.h("mgr.wh1")).status_code == 200
    assert_error(flow.client.post("/api/v1/work-orders", json={"template": "complaint", "title": "x"}, headers=flow.h("staff.wh1")), 403)


def test_list_filters(flow):
    a = flow.create("complaint", priority="P1", order_no="SO-9", batch_no="B-1", source="phone", tags=["damaged"],
                    problem=["After-sales", "Quality"])
    flow.create("investigation", priority="P3", order_no="SO-8")
    h = flow.h("lead.cs")
    get = lambda q: flow.client.get(f"/api/v1/work-orders?{q}", headers=h).json  # noqa: E731
    assert [w["id"] for w in get("priority=P1")["items"]] == [a["id"]]
    assert [w["id"] for w in get("order_no=SO-9")["items"]] == [a["id"]]
    assert [w["id"] for w in get("batch_no=B-1")["items"]] == [a["id"]]
    assert [w["id"] for w in get("source=phone")["items"]] == [a["id"]]
    assert [w["id"] for w in get("template=complaint")["items"]] == [a["id"]]
    assert [w["id"] for w in get("tag=damaged")["items"]] == [a["id"]]
    assert [w["id"] for w in get("problem=After-sales,Quality")["items"]] == [a["id"]]
    assert get("status=open")["total"] == 2
    assert_error(flow.client.get("/api/v1/work-orders?status=bogus", headers=h), 422)


def test_inbox_puts_overdue_and_urgent_first(flow, app):
    from app.extensions import db
    from app.workorders.models import Task

    low = flow.create("complaint", priority="P4")
    urgent = flow.create("complaint", priority="P1")
    late = flow.create("complaint", priority="P3")
    row = db.session.get(Task, late["tasks"][0]["id"])
    row.due_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    pool = flow.inbox("cs.agent1")["pool"]
    assert [t["work_order_id"] for t in pool] == [late["id"], urgent["id"], low["id"]]
    assert pool[0]["overdue"] is True and pool[1]["overdue"] is False
    assert {"step_title", "outcomes", "form", "work_order", "due_at", "assignee_id"} <= set(pool[0])


def test_comments_go_on_the_timeline(flow):
    wo = flow.create("complaint")
    r = flow.client.post(f"/api/v1/work-orders/{wo['id']}/comments", json={"body": "customer called again"}, headers=flow.h("cs.agent1"))
    assert r.status_code == 201
    assert_error(flow.client.post(f"/api/v1/work-orders/{wo['id']}/comments", json={"body": "x"}, headers=flow.h("staff.wh1")), 404)
    events = flow.detail(wo["id"])["timeline"]
    assert events[-1]["kind"] == "commented" and events[-1]["details"]["body"] == "customer called again"


def test_classification_trees_for_the_pickers(flow):
    from app.seed import seed_classifications

    seed_classifications()
    trees = flow.client.get("/api/v1/classifications", headers=flow.h("lead.cs")).json
    after_sales = next(n for n in trees["problem"] if n["name"] == "售后 After-sales")
    quality = next(n for n in after_sales["children"] if n["name"] == "商品质量 Quality")
    assert [c["name"] for c in quality["children"]] == ["临期 Near expiry", "破损 Damaged"]
    assert_error(flow.client.post("/api/v1/classifications", json={"tree": "problem", "path": ["x"]}, headers=flow.h("lead.cs")), 403)
    r = flow.client.post("/api/v1/classifications", json={"tree": "problem", "path": ["A", "B", "C"]}, headers=flow.h("admin"))
    assert r.status_code == 201 and any(n["name"] == "A" for n in r.json["problem"])
    assert_error(flow.client.post("/api/v1/classifications", json={"tree": "problem", "path": ["1", "2", "3", "4"]}, headers=flow.h("admin")), 422)


def test_detail_names_people(flow):
    wo = flow.create("complaint")
    (task,) = wo["tasks"]
    flow.act(task["id"], "claim", "cs.agent1")
    detail = flow.detail(wo["id"])
    (row,) = detail["tasks"]
    assert row["assignee"]["login"] == "cs.agent1"
    assert {p["login"] for p in row["candidate_people"]} >= {"cs.agent1", "cs.agent2"}
    claimed = next(e for e in detail["timeline"] if e["kind"] == "claimed")
    assert claimed["actor"]["login"] == "cs.agent1"


def test_removing_every_handler_of_an_each_step_is_refused(flow):
    wo = flow.create("safety_briefing", login="admin")
    everyone = [t["assignee_id"] for t in wo["tasks"]]
    r = flow.client.post(f"/api/v1/tasks/{wo['tasks'][0]['id']}/candidates", json={"remove": everyone}, headers=flow.h("admin"))
    assert_error(r, 409, "no_handlers_left")
    assert len(flow.open_tasks(wo["id"])) == len(everyone)


def test_a_handler_sees_the_case_and_what_the_steps_before_found(flow):
    """The driver's task carries the customer's phone, the order and the warehouse's findings (issue: a handler
    could not see the case)."""
    wo = flow.create("complaint", order_no="SO-CASE-1", customer_ref="C-9", data={"customer_phone": "13800000000"})
    flow.finish(wo["id"], "triage", "cs.agent1", note="customer is upset")
    flow.finish(wo["id"], "warehouse_check", "staff.wh1", outcome="stock_damaged", data={"findings": "box crushed"})
    (visit,) = flow.open_tasks(wo["id"], "driver_visit")
    driver = flow.client.get(f"/api/v1/tasks/{visit['id']}", headers=flow.h("driver.li"))
    assert driver.status_code == 200, driver.json
    case = driver.json["case"]
    assert case["refs"] == {"order_no": "SO-CASE-1", "customer_ref": "C-9"}
    assert {"name": "customer_phone", "label": "客户电话 Customer phone", "type": "text", "value": "13800000000"} in case["data"]
    assert [(e["step"], e["outcome"]) for e in case["earlier"]] == [("triage", "accepted"), ("warehouse_check", "stock_damaged")]
    check = case["earlier"][1]
    assert check["completed_by"]["login"] == "staff.wh1" and check["title"] == "仓库核查 Warehouse check"
    assert {"name": "findings", "label": "检查发现 Findings", "type": "textarea", "value": "box crushed"} in check["data"]
    assert case["earlier"][0]["note"] == "customer is upset"
    # Steps after this one, and other work orders, are not part of it; someone who may not see the task gets 404.
    assert flow.client.get(f"/api/v1/tasks/{visit['id']}", headers=flow.h("staff.wh2")).status_code == 404
