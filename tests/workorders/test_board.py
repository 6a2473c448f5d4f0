"""A lead's team board (docs/design.md §16), on both databases: the team's people with who is on duty, the open
work each holds (overdue among it, and per template against a dispatched step's capacity), and the offers waiting
for someone with room; a lead sees only the departments they lead."""
from datetime import datetime, timedelta

from sqlalchemy import update

from app.common.clock import utcnow
from app.extensions import db
from app.workorders.models import Task
from tests.conftest import assert_error


def _board(flow, login="lead.cs", **query):
    r = flow.client.get("/api/v1/team", query_string=query, headers=flow.h(login))
    assert r.status_code == 200, r.json
    return r.json


def _person(board, uid):
    return next(p for p in board["people"] if p["id"] == uid)


def test_the_board_shows_each_persons_load_and_what_waits(flow):
    demo = flow.demo
    cs = demo.dept("CS")
    flow.template({"key": "callback", "name": "回电 Callback", "steps": [
        {"key": "call", "title": "回电 Call back", "assignees": {"users": [demo.uid("cs.agent1"), demo.uid("cs.agent2")]},
         "sla": "PT4H", "dispatch": "least_loaded", "capacity": 1}]})
    created = [flow.create("callback", title=f"回电 {n}")["id"] for n in range(3)]
    board = _board(flow)
    agent1, agent2 = _person(board, demo.uid("cs.agent1")), _person(board, demo.uid("cs.agent2"))
    assert agent1["open"] == agent2["open"] == 1  # one each: the capacity is 1
    assert agent1["by_template"] == [{"template": "callback", "name": "回电 Callback", "open": 1, "capacity": 1}]
    assert agent1["department"]["id"] == cs and agent1["on_duty"] is True
    assert board["waiting"] == [{"template": "callback", "name": "回电 Callback", "step": "call", "step_title": "回电 Call back",
                                 "count": 1, "capacity": 1}]
    assert board["open"] >= 2 and board["on_duty"] >= 2 and board["truncated"] is False
    # Overdue work is counted as such.
    db.session.execute(update(Task).where(Task.work_order_id.in_(created), Task.assignee_id == demo.uid("cs.agent1"))
                       .values(due_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert _person(_board(flow), demo.uid("cs.agent1"))["overdue"] == 1
    # Someone off duty is shown as such.
    flow.client.patch("/api/v1/me", json={"on_duty": False}, headers=flow.h("cs.agent2"))
    assert _person(_board(flow), demo.uid("cs.agent2"))["on_duty"] is False


def test_a_lead_sees_only_the_departments_they_lead(flow):
    demo = flow.demo
    people = {p["id"] for p in _board(flow)["people"]}
    assert demo.uid("cs.agent1") in people and demo.uid("staff.wh1") not in people
    assert_error(flow.client.get("/api/v1/team", query_string={"department_id": demo.dept("WH-SH-01")}, headers=flow.h("lead.cs")),
                 403, "not_your_department")
    assert_error(flow.client.get("/api/v1/team", headers=flow.h("cs.agent1")), 403)
    assert_error(flow.client.get("/api/v1/team", query_string={"department_id": "x"}, headers=flow.h("lead.cs")), 422)
    wh = _board(flow, login="admin", department_id=demo.dept("WH-SH-01"))
    assert {p["id"] for p in wh["people"]} >= {demo.uid("staff.wh1"), demo.uid("mgr.wh1")}
    # The operations manager leads the warehouses below operations.
    ops = {p["id"] for p in _board(flow, login="mgr.ops")["people"]}
    assert {demo.uid("staff.wh1"), demo.uid("staff.wh2")} <= ops


def _plan(flow, uid, starts, ends, login="admin", **holder):
    body = {"user_id": uid, **holder} if not holder else holder
    r = flow.client.post("/api/v1/shifts", json={**body, "starts_at": starts.isoformat(), "ends_at": ends.isoformat()},
                         headers=flow.h(login))
    assert r.status_code == 201, r.json
    return r.json


def _at(value):
    """An answered time as an aware datetime (both databases answer UTC with its offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_the_board_says_why_each_person_is_on_or_off_duty_and_their_next_shift(flow):
    demo = flow.demo
    now = utcnow().replace(microsecond=0)
    hour = timedelta(hours=1)
    agent1, agent2, lead = demo.uid("cs.agent1"), demo.uid("cs.agent2"), demo.uid("lead.cs")
    # agent1 works now, and on after it back to back (one stretch), then again tomorrow.
    _plan(flow, agent1, now - 2 * hour, now + hour)
    _plan(flow, agent1, now + hour, now + 3 * hour, login="lead.cs")
    _plan(flow, agent1, now + 20 * hour, now + 28 * hour)
    # agent2 works tonight, through a group of theirs.
    group = flow.client.post("/api/v1/groups", json={"name": "CS night", "members": [agent2]}, headers=flow.h("admin")).json
    _plan(flow, None, now + 8 * hour, now + 16 * hour, group_id=group["id"])

    board = _board(flow)
    one, two, me = _person(board, agent1), _person(board, agent2), _person(board, lead)
    assert one["on_duty"] is True and one["duty_reason"] == "shift" and one["switch"] is True
    assert _at(one["shift"]["starts_at"]) == now - 2 * hour and _at(one["shift"]["ends_at"]) == now + 3 * hour
    assert _at(one["next_shift"]["starts_at"]) == now + 20 * hour and _at(one["next_shift"]["ends_at"]) == now + 28 * hour
    assert two["on_duty"] is False and two["duty_reason"] == "off_shift" and two["shift"] is None
    assert _at(two["next_shift"]["starts_at"]) == now + 8 * hour
    # Someone without shifts follows their switch.
    assert me["on_duty"] is True and me["duty_reason"] == "switch" and me["shift"] is None and me["next_shift"] is None
    # A switch turned off takes someone off during their shift, and the board says so.
    flow.client.patch("/api/v1/me", json={"on_duty": False}, headers=flow.h("cs.agent1"))
    one = _person(_board(flow), agent1)
    assert one["on_duty"] is False and one["duty_reason"] == "switched_off" and one["switch"] is False
    assert _at(one["shift"]["ends_at"]) == now + 3 * hour
    flow.client.patch("/api/v1/me", json={"on_duty": True}, headers=flow.h("cs.agent1"))
