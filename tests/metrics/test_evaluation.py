"""POST/GET /work-orders/{id}/evaluation: who may evaluate, what, when; corrections on the timeline."""
import pytest

from tests.conftest import assert_error

TEMPLATE = {"key": "eval-one-step", "name": "One step", "steps": [
    {"key": "do", "title": "Do it", "mode": "pool", "assignees": {"roles": [{"role": "staff"}]}}]}


@pytest.fixture
def one_step(flow, demo):
    body = {**TEMPLATE, "steps": [{**TEMPLATE["steps"][0], "assignees": {"departments": [demo.dept("CS")]}}]}
    flow.template(body)
    return TEMPLATE["key"]


@pytest.fixture
def resolved(flow, one_step):
    wo = flow.create(one_step)
    flow.finish(wo["id"], "do", "cs.agent1")
    return wo["id"]


def _key(client, flow, scopes):
    response = client.post("/api/v1/api-keys", json={"name": "contact centre", "scopes": scopes}, headers=flow.h("admin"))
    assert response.status_code == 201, response.json
    return {"X-API-Key": response.json["key"]}


def _evaluate(client, wo_id, headers, **body):
    return client.post(f"/api/v1/work-orders/{wo_id}/evaluation", json=body, headers=headers)


def _evaluated_events(flow, wo_id):
    return [e for e in flow.detail(wo_id)["timeline"] if e["kind"] == "evaluated"]


def test_a_lead_records_and_corrects_an_evaluation_and_the_timeline_keeps_both(client, flow, resolved):
    lead = flow.h("lead.cs")
    first = _evaluate(client, resolved, lead, resolved=True, score=3, note="replaced the item")
    assert first.status_code == 201, first.json
    body = first.json
    assert (body["work_order_id"], body["resolved"], body["score"], body["note"], body["corrections"]) == (resolved, True, 3, "replaced the item", 0)
    assert body["scored_by_id"] == flow.demo.uid("lead.cs") and body["customer_answered_at"] and body["scored_at"]

    corrected = _evaluate(client, resolved, lead, score=4)
    assert corrected.status_code == 200, corrected.json
    assert (corrected.json["resolved"], corrected.json["score"], corrected.json["note"], corrected.json["corrections"]) == (True, 4, "replaced the item", 1)

    events = _evaluated_events(flow, resolved)
    assert [e["details"]["correction"] for e in events] == [False, True]
    assert events[0]["details"]["before"] is None
    assert events[0]["details"]["after"] == {"resolved": True, "score": 3, "note": "replaced the item"}
    assert events[1]["details"]["before"] == {"resolved": True, "score": 3, "note": "replaced the item"}
    assert events[1]["details"]["after"] == {"resolved": True, "score": 4, "note": "replaced the item"}
    assert events[1]["actor_id"] == flow.demo.uid("lead.cs")

    # The same answer again changes nothing and adds nothing to the timeline.
    again = _evaluate(client, resolved, lead, score=4)
    assert again.status_code == 200 and again.json["corrections"] == 1
    assert len(_evaluated_events(flow, resolved)) == 2

    shown = client.get(f"/api/v1/work-orders/{resolved}/evaluation", headers=lead)
    assert shown.status_code == 200 and shown.json["score"] == 4


def test_effort_inputs_are_taken_from_the_offline_truth_times(client, flow, resolved):
    from datetime import datetime, timezone

    from sqlalchemy import update

    from app.extensions import db
    from app.workorders.models import Task, WorkOrder

    opened = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
    db.session.execute(update(WorkOrder).where(WorkOrder.id == resolved).values(created_at=opened))
    db.session.execute(update(Task).where(Task.work_order_id == resolved).values(
        claimed_effective_at=datetime(2025, 5, 1, 8, 45, tzinfo=timezone.utc),
        completed_effective_at=datetime(2025, 5, 1, 10, 15, tzinfo=timezone.utc)))
    db.session.commit()
    response = _evaluate(client, resolved, flow.h("admin"), resolved=True, score=3)
    assert response.status_code == 201
    assert (response.json["wait_seconds"], response.json["handling_seconds"]) == (45 * 60, 90 * 60)


def test_an_integration_records_the_customers_answer_but_not_the_qa_score(client, flow, resolved):
    key = _key(client, flow, ["volumes:write"])
    response = _evaluate(client, resolved, key, resolved=False)
    assert response.status_code == 201, response.json
    assert (response.json["resolved"], response.json["score"], response.json["updated_by_key_id"]) == (False, None, response.json["updated_by_key_id"])
    assert response.json["updated_by_key_id"] is not None and response.json["updated_by_id"] is None
    assert_error(_evaluate(client, resolved, key, score=3), 403, "score_requires_person")
    (event,) = _evaluated_events(flow, resolved)
    assert (event["actor_id"], event["details"]["by"]) == (None, "api_key")

    # QA adds the score later; the customer's answer stays.
    scored = _evaluate(client, resolved, flow.h("lead.cs"), score=2)
    assert scored.status_code == 200 and (scored.json["resolved"], scored.json["score"]) == (False, 2)

    other = _key(client, flow, ["orders:write"])
    assert_error(_evaluate(client, resolved, other, resolved=True), 403, "insufficient_scope")


def test_an_integration_cannot_overwrite_the_qa_note(client, flow, resolved):
    lead = flow.h("lead.cs")
    assert _evaluate(client, resolved, lead, resolved=True, score=3, note="refund approved by QA").status_code == 201
    key = _key(client, flow, ["volumes:write"])
    assert_error(_evaluate(client, resolved, key, resolved=False, note="pwned"), 403, "note_requires_person")
    shown = client.get(f"/api/v1/work-orders/{resolved}/evaluation", headers=lead).json
    assert (shown["resolved"], shown["note"]) == (True, "refund approved by QA")


def test_an_integration_cannot_tell_which_work_orders_exist(client, flow, one_step):
    key = _key(client, flow, ["volumes:write"])
    running = flow.create(one_step)
    cancelled = flow.create(one_step)
    client.post(f"/api/v1/work-orders/{cancelled['id']}/cancel", json={"reason": "dup"}, headers=flow.h("lead.cs"))
    answers = [assert_error(_evaluate(client, wo_id, key, resolved=True), 404, "not_found")
               for wo_id in (running["id"], cancelled["id"], 999_999)]
    assert answers[0] == answers[1] == answers[2]


def test_only_resolved_work_orders_are_evaluated(client, flow, one_step):
    lead = flow.h("lead.cs")
    running = flow.create(one_step)
    assert_error(_evaluate(client, running["id"], lead, resolved=True, score=3), 409, "not_resolved")
    cancelled = flow.create(one_step)
    assert client.post(f"/api/v1/work-orders/{cancelled['id']}/cancel", json={"reason": "dup"}, headers=lead).status_code == 200
    error = assert_error(_evaluate(client, cancelled["id"], lead, resolved=True, score=3), 409, "not_resolved")
    assert error["details"] == {"status": "cancelled"}
    assert_error(_evaluate(client, 999_999, flow.h("admin"), resolved=True), 404)
    assert_error(client.get(f"/api/v1/work-orders/{running['id']}/evaluation", headers=lead), 404, "not_evaluated")


def test_who_may_evaluate(client, flow, resolved):
    # Staff may not; a lead of a department not taking part does not even see it; admins may.
    assert_error(_evaluate(client, resolved, flow.h("cs.agent1"), resolved=True, score=3), 403)
    assert_error(_evaluate(client, resolved, flow.h("mgr.dlv"), resolved=True, score=3), 404)
    assert _evaluate(client, resolved, flow.h("admin"), resolved=True, score=3).status_code == 201
    assert_error(client.post(f"/api/v1/work-orders/{resolved}/evaluation", json={"resolved": True}), 401)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"note": "only a note"}, "_schema"),
    ({"score": 5}, "score"),
    ({"score": 0}, "score"),
    ({"score": "3"}, "score"),
    ({"score": 2.5}, "score"),
    ({"resolved": "yes"}, "resolved"),
    ({"resolved": 1}, "resolved"),
    ({"resolved": None}, "resolved"),
    ({"resolved": True, "note": "x" * 2001}, "note"),
    ({"resolved": True, "colour": "red"}, "colour"),
])
def test_bad_input_is_422_naming_the_field(client, flow, resolved, body, field):
    error = assert_error(_evaluate(client, resolved, flow.h("lead.cs"), **body), 422)
    assert field in error["details"], error
