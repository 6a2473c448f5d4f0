"""Deactivating someone hands their work back (docs/design.md §13), on both databases: claimed pool tasks return to
the pool, offers they alone held go to whoever stands in for them, their own `each` tasks are cancelled or handed
on, and the answer says how many moved. Nothing is left waiting on someone who is not there."""
from sqlalchemy import select

from app.extensions import db
from app.notify.models import Notification
from app.workorders.models import Task, TaskCandidate


def _deactivate(flow, login):
    r = flow.client.patch(f"/api/v1/users/{flow.demo.uid(login)}", json={"active": False}, headers=flow.h("admin"))
    assert r.status_code == 200, r.json
    assert r.json["active"] is False
    return r.json["handed_back"]


def _task(task_id):
    db.session.expire_all()
    return db.session.get(Task, task_id)


def _offered_to(task_id):
    return set(db.session.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == task_id, TaskCandidate.is_open.is_(True))))


def _events(flow, wo_id):
    return [e for e in flow.detail(wo_id)["timeline"] if e["kind"] == "handed_back"]


def test_a_claimed_pool_task_goes_back_to_the_pool_of_those_still_there(flow):
    wo = flow.create("stock_check", login="mgr.wh1")
    task = wo["tasks"][0]
    assert flow.act(task["id"], "claim", "staff.wh1").status_code == 200
    assert _deactivate(flow, "staff.wh1") == 1
    task_row = _task(task["id"])
    assert (task_row.status, task_row.assignee_id, task_row.claimed_at) == ("open", None, None)
    offered = _offered_to(task["id"])
    assert flow.demo.uid("staff.wh1") not in offered and flow.demo.uid("staff.wh1b") in offered
    (event,) = _events(flow, wo["id"])
    assert event["details"]["from_user"] == flow.demo.uid("staff.wh1") and event["details"]["reason"] == "deactivated"
    assert event["people"][str(flow.demo.uid("staff.wh1"))]["name"] == flow.demo.user("staff.wh1").name
    assert event["actor"]["id"] == flow.demo.uid("admin")
    told = [n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "task.offered"))
            if (n.data or {}).get("task_id") == task["id"]]
    assert told.count(flow.demo.uid("staff.wh1b")) == 2  # offered when it opened, and again now
    # The colleague can claim it now; the one who left cannot sign in at all.
    assert flow.act(task["id"], "claim", "staff.wh1b").status_code == 200


def test_an_offer_they_alone_held_goes_to_their_manager_and_one_of_many_just_loses_them(flow):
    wh1, wh1b = flow.demo.uid("staff.wh1"), flow.demo.uid("staff.wh1b")
    flow.template({"key": "solo", "name": "Solo", "steps": [
        {"key": "count", "title": "Count", "assignees": {"users": [wh1]}},
        {"key": "pair", "title": "Pair", "assignees": {"users": [wh1, wh1b]}}]})
    wo = flow.create("solo")
    solo, pair = (next(t for t in wo["tasks"] if t["step"] == s) for s in ("count", "pair"))
    assert _deactivate(flow, "staff.wh1") == 1  # the pair's offer did not move: the colleague still has it
    assert _offered_to(solo["id"]) == {flow.demo.uid("mgr.wh1")}
    assert _offered_to(pair["id"]) == {wh1b}
    (event,) = _events(flow, wo["id"])
    assert event["details"]["to_user"] == flow.demo.uid("mgr.wh1")


def test_joint_work_is_never_left_with_nobody(flow):
    wo = flow.create("store_inspection", login="gm.zhang")
    task = wo["tasks"][0]
    hu, xu = flow.demo.uid("merchant.hu"), flow.demo.uid("merchant.xu")
    assert {hu, xu} <= _offered_to(task["id"])
    assert _deactivate(flow, "merchant.xu") == 0
    assert _deactivate(flow, "merchant.hu") == 1
    # Nobody of the merchants is left: it reaches merchant.hu's manager, up the reporting line.
    assert _offered_to(task["id"]) == {flow.demo.uid("gm.zhang")}


def test_their_own_each_task_is_cancelled_or_handed_on(flow):
    wo = flow.create("safety_briefing", login="mgr.wh1")
    mine = next(t for t in wo["tasks"] if t["assignee"]["login"] == "staff.wh1b")
    assert _deactivate(flow, "staff.wh1b") == 1
    assert _task(mine["id"]).status == "cancelled"  # the others still confirm their own; nobody does theirs
    others = [t for t in wo["tasks"] if t["id"] != mine["id"]]
    for t in others:
        flow.act(t["id"], "complete", t["assignee"]["login"])
    assert flow.detail(wo["id"])["status"] == "resolved"

    wh2 = flow.demo.uid("staff.wh2")
    flow.template({"key": "own", "name": "Own", "steps": [{"key": "sign", "title": "Sign", "mode": "each", "assignees": {"users": [wh2]}}]})
    wo = flow.create("own")
    (task,) = wo["tasks"]
    assert _deactivate(flow, "staff.wh2") == 1
    handed = _task(task["id"])
    assert (handed.status, handed.assignee_id) == ("open", flow.demo.uid("mgr.wh2"))  # the only one: their manager does it


def test_someone_off_duty_for_too_long_has_what_they_hold_handed_back(flow):
    from datetime import timedelta

    from app.common.clock import utcnow
    from app.workorders.handback import hand_back_absent

    held = flow.create("stock_check", login="mgr.wh1")["tasks"][0]
    shared = flow.create("stock_check", login="mgr.wh1")["tasks"][0]
    assert flow.act(held["id"], "claim", "staff.wh1").status_code == 200
    r = flow.client.patch("/api/v1/me", json={"on_duty": False}, headers=flow.h("staff.wh1"))
    assert r.status_code == 200, r.json
    hour = timedelta(minutes=60)
    assert hand_back_absent(now=utcnow() + timedelta(minutes=30), after=hour) == 0  # a short break changes nothing
    assert _task(held["id"]).assignee_id == flow.demo.uid("staff.wh1")
    assert hand_back_absent(now=utcnow() + timedelta(minutes=61), after=hour) == 1
    task = _task(held["id"])
    assert (task.status, task.assignee_id) == ("open", None)
    assert flow.demo.uid("staff.wh1") in _offered_to(shared["id"])  # an offer others share stays theirs too
    (event,) = [e for e in flow.detail(task.work_order_id)["timeline"] if e["kind"] == "handed_back"]
    assert event["details"]["reason"] == "off_duty" and event["actor"] is None
    assert hand_back_absent(now=utcnow() + timedelta(minutes=62), after=hour) == 0  # once
    # Back on duty, the clock starts again from the next time they go off.
    flow.client.patch("/api/v1/me", json={"on_duty": True}, headers=flow.h("staff.wh1"))
    db.session.expire_all()
    assert flow.demo.user("staff.wh1").off_duty_since is None


def test_work_is_never_handed_back_to_the_person_who_left(flow):
    """Someone with no delegate, no manager and no department, who also opened the work order: nobody can take over,
    so it stays where a lead can see it — it is not handed back to them and counted as moved."""
    r = flow.client.post("/api/v1/users", json={"login": "solo", "name": "Solo", "password": "solo-person-password-3",
                                                "roles": ["lead"]}, headers=flow.h("admin"))
    assert r.status_code == 201, r.json
    solo = r.json["id"]
    flow.template({"key": "own_solo", "name": "Own", "steps": [{"key": "sign", "title": "Sign", "mode": "each",
                                                                 "assignees": {"users": [solo]}}]})
    login = flow.client.post("/api/v1/auth/login", json={"login": "solo", "password": "solo-person-password-3"})
    wo = flow.client.post("/api/v1/work-orders", json={"template": "own_solo", "title": "x"},
                          headers={"Authorization": f"Bearer {login.json['token']}"})
    assert wo.status_code == 201, wo.json
    (task,) = wo.json["tasks"]
    assert _deactivate(flow, "solo") == 0
    assert _task(task["id"]).assignee_id == solo and _events(flow, wo.json["id"]) == []
