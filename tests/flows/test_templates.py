"""Flow templates: validation that says exactly what is wrong, and versions."""
import pytest

from tests.conftest import assert_error
from tests.workorders.conftest import Flow


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)


def _step(key, after=(), **extra):
    return {"key": key, "title": key.title(), "after": list(after), "assignees": {"users": [1]}, **extra}


def _post(flow, steps, key="t1", **extra):
    return flow.client.post("/api/v1/templates", json={"key": key, "name": "T", "steps": steps, **extra}, headers=flow.h("admin"))


def test_cycle_is_rejected_naming_the_cycle(flow):
    err = assert_error(_post(flow, [_step("a", ["c"]), _step("b", ["a"]), _step("c", ["b"])]), 422, "invalid_template")
    assert "cycle" in err["details"]["steps"][0]
    assert all(k in err["details"]["steps"][0] for k in ("a", "b", "c"))


def test_dangling_reference_and_duplicate_key_name_their_step(flow):
    err = assert_error(_post(flow, [_step("a"), _step("b", ["zzz"]), _step("a")]), 422, "invalid_template")
    assert err["details"]["steps.1.after"] == ["unknown step 'zzz'"]
    assert "duplicate step key 'a'" in err["details"]["steps.2.key"][0]


def test_unknown_mode_bad_duration_and_empty_assignees(flow):
    err = assert_error(_post(flow, [_step("a", mode="relay", sla="30 minutes"), {"key": "b", "title": "B", "assignees": {}}]), 422)
    # every problem is named by its path, whichever check found it (docs/design.md §9)
    assert {"steps.0.mode", "steps.0.sla", "steps.1.assignees"} <= set(err["details"]), err


def test_assignees_must_exist(flow):
    err = assert_error(_post(flow, [{"key": "a", "title": "A", "assignees": {"users": [99999], "groups": [42]}}]), 422)
    assert err["details"]["steps.0.assignees.users"] == ["user 99999 does not exist or is inactive"]
    assert err["details"]["steps.0.assignees.groups"] == ["group 42 does not exist or is inactive"]


def test_reminder_must_be_shorter_than_sla(flow):
    err = assert_error(_post(flow, [_step("a", sla="PT10M", remind_before="PT20M")]), 422)
    assert "steps.0.remind_before" in err["details"]


@pytest.mark.parametrize("value,ok", [("PT30M", True), ("PT2S", True), ("P1DT4H", True), ("P1W", True), ("PT0S", False),
                                      ("P1M", False), ("PT", False), ("", False), ("30", False)])
def test_durations(value, ok):
    from app.flows.graph import parse_duration

    if ok:
        assert parse_duration(value).total_seconds() > 0
    else:
        with pytest.raises(ValueError):
            parse_duration(value)


def test_staff_cannot_create_templates_and_everyone_signed_in_can_read(flow):
    assert_error(flow.client.post("/api/v1/templates", json={"key": "x", "name": "x", "steps": [_step("a")]}, headers=flow.h("staff.wh1")), 403)
    listing = flow.client.get("/api/v1/templates", headers=flow.h("staff.wh1")).json
    assert {"complaint", "investigation", "store_inspection", "safety_briefing", "stock_check"} <= {t["key"] for t in listing["items"]}
    assert_error(flow.client.get("/api/v1/templates/nope", headers=flow.h("staff.wh1")), 404)


def test_duplicate_key_conflicts(flow):
    assert _post(flow, [_step("a")]).status_code == 201
    assert_error(_post(flow, [_step("a")]), 409, "template_exists")


def test_edit_without_work_orders_keeps_version_edit_with_work_orders_makes_a_new_one(flow):
    wh1 = flow.demo.uid("staff.wh1")
    body = {"key": "v", "name": "V1", "steps": [{"key": "a", "title": "A", "assignees": {"users": [wh1]}}]}
    assert flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin")).json["version"] == 1
    edited = flow.client.put("/api/v1/templates/v", json={**body, "name": "V1 edited"}, headers=flow.h("admin")).json
    assert edited["version"] == 1 and edited["name"] == "V1 edited"

    wo = flow.create("v", login="admin")
    assert wo["template_version"] == 1
    two_steps = {**body, "name": "V2", "steps": body["steps"] + [{"key": "b", "title": "B", "after": ["a"], "assignees": {"users": [wh1]}}]}
    v2 = flow.client.put("/api/v1/templates/v", json=two_steps, headers=flow.h("admin")).json
    assert v2["version"] == 2
    # The running work order keeps version 1: one step, so completing it resolves the work order.
    flow.finish(wo["id"], "a", "staff.wh1")
    assert flow.detail(wo["id"])["status"] == "resolved"
    assert flow.client.get("/api/v1/templates/v?version=1", headers=flow.h("admin")).json["name"] == "V1 edited"
    new = flow.create("v", login="admin")
    assert new["template_version"] == 2


def test_flags_and_boolean_form_values_must_be_json_booleans(flow):
    err = assert_error(_post(flow, [_step("a", allow_return="yes", form=[{"name": "ok", "type": "boolean", "required": "true"}])]), 422)
    assert {"steps.0.allow_return", "steps.0.form.0.required"} <= set(err["details"]), err
    form = [{"name": "sealed", "type": "boolean", "required": True}]
    assert _post(flow, [_step("a")], key="boolform", form=form).status_code == 201
    bad = flow.client.post("/api/v1/work-orders", json={"template": "boolform", "title": "x", "data": {"sealed": "yes"}},
                           headers=flow.h("lead.cs"))
    assert "sealed" in str(assert_error(bad, 422)["details"])
    assert flow.create("boolform", data={"sealed": False})["data"] == {"sealed": False}


@pytest.mark.parametrize("field,value,path", [
    ("sla", "P2900000D", "steps.0.sla"),
    ("sla", "P99999999999999D", "steps.0.sla"),  # beyond what a timedelta holds: still "too long", never a 500
    ("escalation", {"interval": "P1500000D"}, "steps.0.escalation.interval"),
    ("escalation", {"interval": "PT" + "9" * 30 + "S"}, "steps.0.escalation.interval"),
])
def test_overlong_durations_are_refused_on_create_and_edit_naming_the_maximum(flow, field, value, path):
    step = _step("a", **({"sla": "PT1H", field: value} if field != "sla" else {field: value}))
    err = assert_error(_post(flow, [step], key="long"), 422, "invalid_template")
    assert "366 days" in err["details"][path][0] and "P366D" in err["details"][path][0], err
    assert _post(flow, [_step("a", sla="PT1H")], key="long").status_code == 201
    body = {"key": "long", "name": "T", "steps": [step]}
    err = assert_error(flow.client.put("/api/v1/templates/long", json=body, headers=flow.h("admin")), 422, "invalid_template")
    assert "366 days" in err["details"][path][0]
    assert flow.client.get("/api/v1/templates/long", headers=flow.h("admin")).json["steps"][0]["sla"] == "PT1H"


def test_the_longest_durations_allowed_are_a_year_and_a_reminder_shorter_than_the_sla(flow):
    step = _step("a", sla="P366D", remind_before="P365DT23H", escalation={"interval": "P52W", "max_level": 10})
    assert _post(flow, [step], key="year").status_code == 201
    err = assert_error(_post(flow, [_step("a", sla="P366D", remind_before="P2900000D")], key="year2"), 422)
    assert "steps.0.remind_before" in err["details"]  # a reminder is never longer than its SLA


def test_durations_beyond_the_maximum_are_measured_exactly_and_used_clamped():
    from datetime import timedelta

    from app.flows.graph import MAX_DURATION, measure_duration, parse_duration

    assert MAX_DURATION == timedelta(days=366)
    assert measure_duration("P2900000D") == timedelta(days=2_900_000)
    assert measure_duration("P99999999999999D") == timedelta.max
    assert parse_duration("P2900000D") == parse_duration("P99999999999999D") == MAX_DURATION
    assert parse_duration("PT30M") == timedelta(minutes=30)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_attachment_cannot_be_required_when_a_work_order_is_opened(client, auth, demo):
    admin = auth.headers("admin")
    step = {"key": "a", "title": "A", "assignees": {"users": [demo.uid("staff.wh1")]},
            "form": [{"name": "photo", "label": "Photo", "type": "attachment", "required": True}]}
    body = {"key": "needs_photo", "name": "Needs a photo", "steps": [step],
            "form": [{"name": "photo", "label": "Photo", "type": "attachment", "required": True}]}
    err = assert_error(client.post("/api/v1/templates", json=body, headers=admin), 422, "invalid_template")
    assert list(err["details"]) == ["form.0.required"], err
    body["form"][0]["required"] = False  # optional there, and required in a step's form: fine
    assert client.post("/api/v1/templates", json=body, headers=admin).status_code == 201
