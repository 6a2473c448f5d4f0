"""What the flow designer needs of the API: a check of a draft that writes nothing, and deactivation."""
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
