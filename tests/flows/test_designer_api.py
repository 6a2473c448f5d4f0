"""What the flow designer needs of the API: a check of a draft that writes nothing, and deactivation."""
import copy
from datetime import datetime

from app.notify.messages import render
from tests.conftest import assert_error
from tests.workorders.conftest import Flow

import pytest


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)


def _draft(flow, **step):
    body = flow.client.get("/api/v1/templates/complaint", headers=flow.h("admin")).json
    draft = {k: body[k] for k in ("key", "name", "description", "priority", "classification", "owner_department_id", "form", "steps")}
    draft["steps"][0] = {**draft["steps"][0], **step}
    return draft


def test_validate_accepts_a_sound_draft_and_writes_nothing(flow):
    before = flow.client.get("/api/v1/templates/complaint", headers=flow.h("admin")).json
    response = flow.client.post("/api/v1/templates/validate", json=_draft(flow, title="Triage, edited"), headers=flow.h("admin"))
    assert response.status_code == 200, response.json
    assert response.json == {"valid": True}
    after = flow.client.get("/api/v1/templates/complaint", headers=flow.h("admin")).json
    assert (after["version"], after["steps"]) == (before["version"], before["steps"])


def test_validate_names_the_same_paths_as_publishing(flow):
    draft = _draft(flow, sla="soon")
    draft["steps"][2]["after"] = ["nowhere"]
    checked = assert_error(flow.client.post("/api/v1/templates/validate", json=draft, headers=flow.h("admin")), 422)
    assert "steps.0.sla" in checked["details"], checked
    draft["steps"][0]["sla"] = "PT30M"
    checked = assert_error(flow.client.post("/api/v1/templates/validate", json=draft, headers=flow.h("admin")), 422, "invalid_template")
    published = assert_error(flow.client.put("/api/v1/templates/complaint", json=draft, headers=flow.h("admin")), 422, "invalid_template")
    assert checked["details"] == published["details"] == {"steps.2.after": ["unknown step 'nowhere'"]}


def test_validate_is_for_admins(flow):
    assert_error(flow.client.post("/api/v1/templates/validate", json=_draft(flow), headers=flow.h("lead.cs")), 403)


def test_deactivate_hides_the_template_and_refuses_new_work(flow):
    response = flow.client.patch("/api/v1/templates/investigation", json={"active": False}, headers=flow.h("admin"))
    assert response.status_code == 200, response.json
    assert response.json["active"] is False
    listed = flow.client.get("/api/v1/templates", headers=flow.h("admin")).json["items"]
    assert "investigation" not in [t["key"] for t in listed]
    everything = flow.client.get("/api/v1/templates?include_inactive=true", headers=flow.h("admin")).json["items"]
    assert [t["active"] for t in everything if t["key"] == "investigation"] == [False]
    refused = flow.client.post("/api/v1/work-orders", json={"template": "investigation", "title": "x"}, headers=flow.h("lead.cs"))
    assert 400 <= refused.status_code < 500, refused.json
    response = flow.client.patch("/api/v1/templates/investigation", json={"active": True}, headers=flow.h("admin"))
    assert response.json["active"] is True
    flow.create("investigation")


def test_a_new_version_keeps_a_deactivated_template_inactive(flow):
    flow.create("investigation")  # a work order on v1: the edit makes v2
    flow.client.patch("/api/v1/templates/investigation", json={"active": False}, headers=flow.h("admin"))
    body = flow.client.get("/api/v1/templates/investigation", headers=flow.h("admin")).json
    draft = {k: body[k] for k in ("name", "form", "steps")}
    edited = flow.client.put("/api/v1/templates/investigation", json=draft, headers=flow.h("admin")).json
    assert (edited["version"], edited["active"]) == (2, False)


def test_deactivation_errors_name_their_path(flow):
    err = assert_error(flow.client.patch("/api/v1/templates/investigation", json={"active": "no"}, headers=flow.h("admin")), 422)
    assert "active" in err["details"]
    err = assert_error(flow.client.patch("/api/v1/templates/investigation", json={}, headers=flow.h("admin")), 422)
    assert "active" in err["details"]
    assert_error(flow.client.patch("/api/v1/templates/nothing", json={"active": False}, headers=flow.h("admin")), 404)
    assert_error(flow.client.patch("/api/v1/templates/investigation", json={"active": False}, headers=flow.h("lead.cs")), 403)


def test_a_system_flow_cannot_be_deactivated(flow):
    err = assert_error(flow.client.patch("/api/v1/templates/quarantine", json={"active": False}, headers=flow.h("admin")), 409,
                       "system_template")
    assert err["details"] == {"active": ["a system flow stays active"]}


# ---------------------------------------------------------------- Simulate: the dry run of a draft


def test_the_dry_run_tries_a_draft_that_is_not_published(flow):
    draft = _draft(flow)
    draft["steps"][1]["when"] = {"outcome": {"step": "triage", "in": ["duplicate"]}}  # the branch now runs on a duplicate
    answer = flow.client.post("/api/v1/templates/complaint/dry-run", json={"template": draft, "outcomes": {"triage": "duplicate"}},
                              headers=flow.h("admin"))
    assert answer.status_code == 200, answer.json
    steps = {s["key"]: s for s in answer.json["steps"]}
    assert steps["warehouse_check"]["status"] == "started"
    assert answer.json["version"] is None
    # Every candidate is named.
    names = {p["id"]: p["name"] for p in answer.json["people"]}
    assert steps["triage"]["candidates"] and all(names.get(c) for c in steps["triage"]["candidates"])
    # The published version still routes a duplicate away from the warehouse.
    stored = flow.client.post("/api/v1/templates/complaint/dry-run", json={"outcomes": {"triage": "duplicate"}}, headers=flow.h("admin")).json
    assert {s["key"]: s["status"] for s in stored["steps"]}["warehouse_check"] == "skipped"
    assert stored["version"] >= 1


def test_the_dry_run_of_a_draft_checks_it_as_publishing_does(flow):
    draft = _draft(flow, sla="PT2H", remind_before="PT3H")
    err = assert_error(flow.client.post("/api/v1/templates/complaint/dry-run", json={"template": draft}, headers=flow.h("admin")), 422)
    assert any(path.startswith("template.steps.0") for path in err["details"]), err
    draft = _draft(flow)
    draft["steps"][1]["when"] = {"outcome": {"step": "triage", "in": ["nope"]}}
    err = assert_error(flow.client.post("/api/v1/templates/complaint/dry-run", json={"template": draft}, headers=flow.h("admin")), 422,
                       "invalid_template")
    assert "template.steps.1.when.outcome.in" in err["details"], err
    err = assert_error(flow.client.post("/api/v1/templates/investigation/dry-run", json={"template": _draft(flow)}, headers=flow.h("admin")), 422)
    assert "template.key" in err["details"]
    err = assert_error(flow.client.post("/api/v1/templates/complaint/dry-run", json={"template": _draft(flow), "version": 1},
                                        headers=flow.h("admin")), 422)
    assert "version" in err["details"]


def test_the_dry_run_of_a_new_template_needs_no_stored_one(flow):
    draft = {"key": "brand_new", "name": "Brand new", "steps": [
        {"key": "one", "title": "One", "assignees": {"roles": [{"role": "lead"}]}, "sla": "PT1H"},
        {"key": "two", "title": "Two", "after": ["one"], "assignees": {"roles": [{"role": "admin"}]}}]}
    answer = flow.client.post("/api/v1/templates/brand_new/dry-run", json={"template": draft, "start_at": "2026-03-02T09:00:00+08:00"},
                              headers=flow.h("admin"))
    assert answer.status_code == 200, answer.json
    one, two = answer.json["steps"]
    assert (one["status"], two["status"]) == ("started", "started")
    assert datetime.fromisoformat(one["due_at"]) == datetime.fromisoformat("2026-03-02T10:00:00+08:00") and two["started_at"] == one["due_at"]
    assert one["due_explained"]
    assert_error(flow.client.get("/api/v1/templates/brand_new", headers=flow.h("admin")), 404)


# ---------------------------------------------------------------- versions: publish says what stays, diff says what changed


def test_publishing_says_how_many_running_work_orders_stay_on_the_old_version(flow):
    first, second = flow.create("investigation"), flow.create("investigation")
    flow.client.post(f"/api/v1/work-orders/{second['id']}/cancel", json={"reason": "not running"}, headers=flow.h("lead.cs"))
    body = flow.client.get("/api/v1/templates/investigation", headers=flow.h("admin")).json
    draft = {k: body[k] for k in ("name", "form", "steps")}
    edited = flow.client.put("/api/v1/templates/investigation", json={**draft, "name": "Investigation v2"}, headers=flow.h("admin")).json
    assert (edited["version"], edited["left_running"]) == (body["version"] + 1, 1)
    again = flow.client.put("/api/v1/templates/investigation", json={**draft, "name": "Investigation v2b"}, headers=flow.h("admin")).json
    assert (again["version"], again["left_running"]) == (edited["version"], 0)  # nothing runs on v2: edited in place
    assert "left_running" not in flow.client.get("/api/v1/templates/investigation", headers=flow.h("admin")).json
    assert first


def test_the_diff_names_steps_added_removed_and_changed_field_by_field(flow):
    flow.create("investigation")
    body = flow.client.get("/api/v1/templates/investigation", headers=flow.h("admin")).json
    draft = copy.deepcopy({k: body[k] for k in ("name", "description", "priority", "classification", "owner_department_id", "form", "steps")})
    steps = draft["steps"]
    steps[0] = {**steps[0], "sla": "PT45M", "title": "Intake (edited)"}
    removed = next(s for s in steps if s["key"] == "delivery")
    steps.remove(removed)
    for s in steps:
        s["after"] = [k for k in s["after"] if k != "delivery"]
    steps.insert(2, {"key": "legal", "title": "Legal review", "after": ["intake"], "assignees": {"roles": [{"role": "lead"}]}})
    conclude = next(s for s in steps if s["key"] == "conclude")
    conclude["after"] = [*conclude["after"], "legal"]
    edited = flow.client.put("/api/v1/templates/investigation", json={**draft, "priority": "P1"}, headers=flow.h("admin")).json
    v = edited["version"]
    answer = flow.client.get(f"/api/v1/templates/investigation/diff?from={v - 1}&to={v}", headers=flow.h("lead.cs"))
    assert answer.status_code == 200, answer.json
    diff = answer.json
    assert (diff["from"], diff["to"], diff["same"]) == (v - 1, v, False)
    assert diff["settings"] == [{"field": "priority", "from": body["priority"], "to": "P1"}]
    assert diff["steps"]["added"] == [{"key": "legal", "title": "Legal review"}]
    assert diff["steps"]["removed"] == [{"key": "delivery", "title": removed["title"]}]
    changed = {c["key"]: {f["field"]: (f["from"], f["to"]) for f in c["fields"]} for c in diff["steps"]["changed"]}
    assert changed["intake"] == {"title": (body["steps"][0]["title"], "Intake (edited)"), "sla": (body["steps"][0]["sla"], "PT45M")}
    assert changed["conclude"] == {"after": (["warehouse", "delivery"], ["warehouse", "legal"])}
    assert set(changed) == {"intake", "conclude"}
    # The defaults: the current version against the one before it; a version compared with itself is the same.
    assert flow.client.get("/api/v1/templates/investigation/diff", headers=flow.h("admin")).json == diff
    assert flow.client.get(f"/api/v1/templates/investigation/diff?from={v}&to={v}", headers=flow.h("admin")).json["same"] is True
    assert_error(flow.client.get("/api/v1/templates/investigation/diff?from=99", headers=flow.h("admin")), 404)
    assert_error(flow.client.get("/api/v1/templates/investigation/diff?from=0", headers=flow.h("admin")), 422)


# ---------------------------------------------------------------- who an assignee selection is today


def test_the_count_of_an_assignee_selection(flow, demo):
    cs = flow.client.get("/api/v1/departments", headers=flow.h("admin")).json
    cs_id = next(d["id"] for d in cs["items"] if d["code"] == "CS")
    answer = flow.client.post("/api/v1/assignees/count", json={"departments": [cs_id]}, headers=flow.h("lead.cs"))
    assert answer.status_code == 200, answer.json
    count = answer.json
    assert count["named"] == len(count["people"]) >= 2
    assert 0 <= count["on_duty"] <= count["named"] and count["handlers"] >= 1
    assert all(p["name"] for p in count["people"])
    nobody = flow.client.post("/api/v1/assignees/count", json={"users": []}, headers=flow.h("admin")).json
    assert nobody == {"named": 0, "on_duty": 0, "handlers": 0, "people": []}
    assert_error(flow.client.post("/api/v1/assignees/count", json={"users": ["x"]}, headers=flow.h("admin")), 422)
    assert_error(flow.client.post("/api/v1/assignees/count", json={"departments": [cs_id]}, headers=flow.h("staff.wh1")), 403)


# ---------------------------------------------------------------- words per language


def test_titles_outcomes_and_labels_per_language_are_kept_and_shown_to_handlers(flow):
    draft = _draft(flow)
    draft["steps"][0] = {**draft["steps"][0], "titles": {"zh-CN": "客服分诊", "en": "CS triage"},
                         "outcome_labels": {"accepted": {"zh-CN": "受理", "en": "Accepted"}}}
    draft["form"][0] = {**draft["form"][0], "labels": {"en": "Customer phone"}}
    saved = flow.client.put("/api/v1/templates/complaint", json=draft, headers=flow.h("admin"))
    assert saved.status_code == 200, saved.json
    stored = {k: saved.json[k] for k in ("form", "steps")}
    assert stored["steps"][0]["titles"] == {"zh-CN": "客服分诊", "en": "CS triage"}
    assert stored["form"][0]["labels"] == {"en": "Customer phone"}
    assert "titles" not in stored["steps"][1] and "labels" not in stored["form"][1]  # absent unless given
    # Published again as read, the template is the same.
    again = flow.client.put("/api/v1/templates/complaint", json={**draft, **stored}, headers=flow.h("admin")).json
    assert {k: again[k] for k in ("form", "steps")} == stored
    task = flow.create("complaint")["tasks"][0]
    shown = flow.client.get(f"/api/v1/tasks/{task['id']}", headers=flow.h("admin")).json
    assert shown["step_titles"] == {"zh-CN": "客服分诊", "en": "CS triage"}
    assert shown["outcome_labels"] == {"accepted": {"zh-CN": "受理", "en": "Accepted"}}


def test_handlers_are_told_the_step_in_their_language(flow):
    draft = _draft(flow, titles={"zh-CN": "客服分诊", "en": "CS triage"})
    draft["steps"][0]["title"] = "Triage (plain)"
    assert flow.client.put("/api/v1/templates/complaint", json=draft, headers=flow.h("admin")).status_code == 200
    for login, locale in (("cs.agent1", "zh-CN"), ("cs.agent2", "en")):
        assert flow.client.patch("/api/v1/me", json={"locale": locale}, headers=flow.h(login)).status_code == 200
    task = flow.create("complaint")["tasks"][0]
    for login, said in (("cs.agent1", "客服分诊"), ("cs.agent2", "CS triage")):
        items = flow.client.get("/api/v1/notifications", headers=flow.h(login)).json["items"]
        offer = next(n for n in items if n["kind"] == "task.offered" and n["data"].get("task_id") == task["id"])
        assert said in offer["body"] and "Triage (plain)" not in offer["body"], offer
    # Without titles per language, the plain title is said to everyone.
    assert "Triage (plain)" in render("task.offered", "en", {"number": "W-1", "step": "Triage (plain)", "title": "x"})[1]
    assert "客服分诊" in render("task.offered", "zh-CN", {"number": "W-1", "step": "Triage (plain)", "title": "x",
                                                         "step_titles": {"zh-CN": "客服分诊"}})[1]
    assert "Triage (plain)" in render("task.offered", "en", {"number": "W-1", "step": "Triage (plain)", "title": "x",
                                                             "step_titles": {"zh-CN": "客服分诊"}})[1]


def test_words_per_language_are_checked(flow):
    draft = _draft(flow, titles={"fr": "Tri"}, outcome_labels={"nope": {"en": "No"}})
    err = assert_error(flow.client.post("/api/v1/templates/validate", json=draft, headers=flow.h("admin")), 422)
    assert any(p.startswith("steps.0.titles") for p in err["details"]), err
    draft = _draft(flow, outcome_labels={"nope": {"en": "No"}})
    err = assert_error(flow.client.post("/api/v1/templates/validate", json=draft, headers=flow.h("admin")), 422)
    assert err["details"] == {"steps.0.outcome_labels": ["no such outcome: nope"]}, err
