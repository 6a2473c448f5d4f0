"""Hardening: overlong durations in stored templates, for_each caps and large activations, paged tasks,
attachment ids in forms, LIKE wildcards in searches, and who may read a colleague's task."""
import io
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import create_app
from app.auth.service import issue_token
from app.workorders.models import Timer
from app.extensions import db
from app.flows.models import FlowTemplate
from app.notify.models import Notification
from app.workorders import engine
from app.workorders.models import Task, TaskCandidate, TimelineEvent, WorkOrder
from tests.conftest import FAST_HASH, assert_error, statements

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _stored_template(key: str, steps: list[dict], form: list | None = None) -> None:
    """A template row written directly, as one saved before today's validation rules."""
    db.session.add(FlowTemplate(key=key, version=1, name=key, description="", priority="P3", classification={},
                                form=form or [], steps=steps))
    db.session.commit()


def _step(key, users, after=(), **extra):
    return {"key": key, "title": key.title(), "after": list(after), "mode": "pool", "assignees": {"users": users},
            "outcomes": ["done"], **extra}


# --- 1. Durations that would jam work orders ---------------------------------------------------------------

HUGE = {"sla": "P2900000D", "remind_before": "P2800000D", "escalation": {"interval": "P1500000D", "max_level": 50}}


@pytest.mark.parametrize("huge_step", ["first", "second"])
def test_a_stored_template_with_overlong_durations_still_runs_to_resolved(flow, huge_step):
    wh1 = flow.demo.uid("staff.wh1")
    _stored_template("legacy", [
        _step("first", [wh1], **(HUGE if huge_step == "first" else {"sla": "PT1H"})),
        _step("second", [wh1], after=["first"], **(HUGE if huge_step == "second" else {"sla": "PT1H"})),
    ])
    now = datetime.now(timezone.utc)
    a_year_on = now + timedelta(days=366, minutes=5)
    wo = flow.create("legacy", login="admin")
    for step in ("first", "second"):
        (task,) = flow.open_tasks(wo["id"], step)
        assert datetime.fromisoformat(task["due_at"]) <= a_year_on
        assert flow.act(task["id"], "claim", "staff.wh1").status_code == 200
        done = flow.act(task["id"], "complete", "staff.wh1")
        assert done.status_code == 200, done.json
    assert flow.detail(wo["id"])["status"] == "resolved"
    levels = db.session.scalars(select(Timer.level).where(Timer.kind == "escalate")).all()
    assert levels and max(levels) <= 10  # max_level 50 in the stored row arms the schema's maximum, 10
    latest = db.session.scalar(select(func.max(Timer.fire_at)))
    assert latest <= a_year_on + timedelta(days=366 * 9)


def test_timer_plan_never_overflows_at_the_end_of_the_calendar():
    from app.flows.timing import timer_plan

    end = datetime(9999, 12, 1, tzinfo=timezone.utc)
    plan = timer_plan(step=HUGE, due_at=end, now=end - timedelta(days=400))
    assert [level for _, level, _ in plan] == list(range(0, 11))
    assert plan[0][2] == end - timedelta(days=366)  # the reminder's lead is cut to the maximum too
    assert plan[-1][2] == datetime.max.replace(tzinfo=timezone.utc)
    # A reminder longer than the time left is not armed (it would be due at once), and nothing underflows.
    assert [level for _, level, _ in timer_plan(step=HUGE, due_at=end, now=end - timedelta(days=1))] == list(range(1, 11))


# --- 2. for_each: capped, fast, and paged --------------------------------------------------------------------

def _for_each_template(flow, key="fe", form=None, **step):
    wh1, wh2 = flow.demo.dept("WH-SH-01"), flow.demo.dept("WH-BJ-01")
    flow.template({"key": key, "name": key, "form": form or [], "steps": [
        {"key": "hold", "title": "Hold", "mode": "pool", "for_each": "items", "sla": "PT4H", "remind_before": "PT1H",
         "assignees": {"departments": [wh1, wh2]}, **step}]})
    return wh1, wh2


@pytest.mark.parametrize("form", [None, [{"name": "items", "type": "list"}]], ids=["undeclared", "declared"])
def test_for_each_items_are_capped_whether_or_not_the_form_declares_the_key(flow, form):
    _for_each_template(flow, form=form)
    response = flow.client.post("/api/v1/work-orders", headers=flow.h("admin"),
                                json={"template": "fe", "title": "x", "data": {"items": list(range(1001))}})
    err = assert_error(response, 422)
    assert "at most 1000 items" in err["details"]["data.items"][0]
    assert _count(WorkOrder) == 0 and _count(Task) == 0


def test_a_list_a_completion_hands_to_a_later_for_each_step_is_capped_too(flow):
    wh1 = flow.demo.uid("staff.wh1")
    flow.template({"key": "later", "name": "Later", "steps": [
        {"key": "collect", "title": "Collect", "mode": "pool", "assignees": {"users": [wh1]}},
        {"key": "visit", "title": "Visit", "after": ["collect"], "mode": "pool", "for_each": "stores", "assignees": {"users": [wh1]}},
    ]})
    wo = flow.create("later", login="admin")
    (task,) = wo["tasks"]
    err = assert_error(flow.act(task["id"], "complete", "staff.wh1", data={"stores": ["s"] * 1001}), 422)
    assert "at most 1000 items" in err["details"]["data.stores"][0]
    assert flow.act(task["id"], "complete", "staff.wh1", data={"stores": ["a", "b", "c"]}).status_code == 200
    assert len(flow.open_tasks(wo["id"], "visit")) == 3


def test_a_thousand_items_open_in_a_few_statements_and_the_answers_page_the_tasks(flow):
    wh1, wh2 = _for_each_template(flow)
    items = [{"label": f"bin {i}", "assignees": {"departments": [wh1 if i % 2 else wh2]}} if i % 3 else f"plain {i}"
             for i in range(1000)]
    headers = flow.h("admin")
    with statements() as sent:
        created = flow.client.post("/api/v1/work-orders", headers=headers, json={"template": "fe", "title": "big", "data": {"items": items}})
    assert created.status_code == 201, created.json
    assert len(sent) < 60, len(sent)  # one ORM object per row took over 10,000
    body = created.json
    assert len(body["tasks"]) == 100 and body["tasks_total"] == 1000
    assert [t["instance"] for t in body["tasks"]] == list(range(100))

    detail = flow.detail(body["id"])
    assert len(detail["tasks"]) == 100 and detail["tasks_total"] == 1000
    seen = []
    for page in (1, 2, 3):
        listed = flow.client.get(f"/api/v1/work-orders/{body['id']}/tasks?page={page}&per_page=400", headers=headers)
        assert listed.status_code == 200
        assert {k: listed.json[k] for k in ("total", "page", "per_page")} == {"total": 1000, "page": page, "per_page": 400}
        seen += [t["id"] for t in listed.json["items"]]
    assert len(seen) == len(set(seen)) == 1000 and seen == sorted(seen)

    # Every item got its own handlers, as the row-by-row engine gave them.
    staff_wh1, staff_wh2 = flow.demo.uid("staff.wh1"), flow.demo.uid("staff.wh2")
    by_instance = {t.instance: t.id for t in db.session.scalars(select(Task))}
    candidates = {}
    for task_id, user_id in db.session.execute(select(TaskCandidate.task_id, TaskCandidate.user_id)):
        candidates.setdefault(task_id, set()).add(user_id)
    assert staff_wh1 in candidates[by_instance[1]] and staff_wh2 not in candidates[by_instance[1]]
    assert staff_wh2 in candidates[by_instance[2]] and staff_wh1 not in candidates[by_instance[2]]
    assert {staff_wh1, staff_wh2} <= candidates[by_instance[0]]
    assert _count(Timer, Timer.kind == "remind") == 1000 and _count(Timer, Timer.kind == "escalate") == 3000
    assert _count(TimelineEvent, TimelineEvent.kind == "activated") == 1000
    # One notification per handler for the whole step, not one per item.
    handlers = {u for users in candidates.values() for u in users}
    assert _count(Notification, Notification.kind == "task.offered") == len(handlers)
    box = flow.inbox("staff.wh1")
    (group,) = box["groups"]  # hundreds of offers of one step: one group, not hundreds of cards
    assert group["count"] == box["totals"]["pool"] > 500 and box["pool"] == []


def test_a_single_task_offer_still_names_its_task(flow):
    wo = flow.create("stock_check", login="mgr.wh1")
    (task,) = wo["tasks"]
    urls = set(db.session.scalars(select(Notification.url).where(Notification.kind == "task.offered")))
    assert urls == {f"/#/task/{task['id']}"}
    number = db.session.scalar(select(WorkOrder.number))
    assert all(number in body for body in db.session.scalars(select(Notification.body)))


def test_a_slow_creation_does_not_hold_up_another_one(app, backend, demo, monkeypatch):
    """A creation busy opening 1,000 tasks (and made slower still) lets a simple one through at once (PostgreSQL)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: every write waits for the one before it, by design")
    secret = app.config["SECRET_KEY"]
    admin = {"Authorization": f"Bearer {issue_token(user=demo.user('admin'), secret_key=secret)}"}
    lead = {"Authorization": f"Bearer {issue_token(user=demo.user('lead.cs'), secret_key=secret)}"}
    wh1, wh2 = demo.dept("WH-SH-01"), demo.dept("WH-BJ-01")
    r = app.test_client().post("/api/v1/templates", headers=admin, json={"key": "fe", "name": "FE", "steps": [
        {"key": "hold", "title": "Hold", "mode": "pool", "for_each": "items", "sla": "PT4H", "assignees": {"departments": [wh1, wh2]}}]})
    assert r.status_code == 201, r.json
    db.session.rollback()
    racing = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": secret, **FAST_HASH})
    slow_for, written, finished = 2.0, threading.Event(), {}
    activate = engine.activate_step

    def slow_activation(**kwargs):
        tasks = activate(**kwargs)
        if kwargs["work_order"].title == "slow":
            written.set()  # its tasks, candidates, timers and events are written, uncommitted
            time.sleep(slow_for)
        return tasks

    monkeypatch.setattr(engine, "activate_step", slow_activation)

    def create(headers, body):
        with racing.app_context():
            response = racing.test_client().post("/api/v1/work-orders", headers=headers, json=body)
            finished[body["title"]] = (time.monotonic(), response.status_code, response.get_json().get("number"))
            db.session.remove()

    slow = threading.Thread(target=create, args=(admin, {"template": "fe", "title": "slow", "data": {"items": list(range(1000))}}))
    slow.start()
    try:
        assert written.wait(60)
        started = time.monotonic()
        create(lead, {"template": "complaint", "title": "quick"})
        waited = finished["quick"][0] - started
    finally:
        slow.join(60)
        with racing.app_context():
            db.engine.dispose()
    assert finished["quick"][1] == finished["slow"][1] == 201
    assert waited < slow_for / 2, f"the simple creation waited {waited:.2f} s for the slow one"
    assert finished["quick"][0] < finished["slow"][0]
    # Numbers stay unique and gapless: the quick one committed first and took the next; the slow one the one after.
    numbers = sorted(int(finished[t][2].rsplit("-", 1)[1]) for t in ("quick", "slow"))
    assert numbers[1] == numbers[0] + 1 and finished["quick"][2] < finished["slow"][2]


# --- 3. Attachment ids in forms ----------------------------------------------------------------------------

def _upload(flow, wo_id, login="admin") -> int:
    response = flow.client.post(f"/api/v1/work-orders/{wo_id}/attachments", headers=flow.h(login),
                                data={"file": (io.BytesIO(PNG), "photo.png")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_an_attachment_field_takes_only_an_attachment_of_the_same_work_order(flow):
    wh1 = flow.demo.uid("staff.wh1")
    flow.template({"key": "photo", "name": "Photo", "steps": [
        {"key": "shoot", "title": "Shoot", "mode": "pool", "assignees": {"users": [wh1]},
         "form": [{"name": "photo", "type": "attachment", "required": True}]}]})
    mine, other = flow.create("photo", login="admin"), flow.create("photo", login="admin")
    theirs = _upload(flow, other["id"])
    (task,) = mine["tasks"]
    for wrong in (theirs, 999_999):
        err = assert_error(flow.act(task["id"], "complete", "staff.wh1", data={"photo": wrong}), 422)
        assert err["details"] == {"data.photo": ["must be an attachment uploaded to this work order"]}
    assert flow.open_tasks(mine["id"])[0]["status"] == "open"
    own = _upload(flow, mine["id"], login="staff.wh1")
    done = flow.act(task["id"], "complete", "staff.wh1", data={"photo": own})
    assert done.status_code == 200 and done.json["data"] == {"photo": own}


def test_a_work_order_being_created_has_no_attachment_to_name_yet(flow):
    flow.template({"key": "withphoto", "name": "With photo", "form": [{"name": "photo", "type": "attachment"}],
                   "steps": [{"key": "a", "title": "A", "assignees": {"users": [flow.demo.uid("staff.wh1")]}}]})
    other = flow.create("withphoto", login="admin")
    theirs = _upload(flow, other["id"])
    err = assert_error(flow.client.post("/api/v1/work-orders", headers=flow.h("admin"),
                                        json={"template": "withphoto", "title": "x", "data": {"photo": theirs}}), 422)
    assert "data.photo" in err["details"]


# --- 4. LIKE wildcards ----------------------------------------------------------------------------------------

def test_search_takes_wildcards_and_the_escape_character_literally(flow):
    for title in ("50% off", "a_b", "back\\slash", "plain"):
        flow.create("complaint", title=title)

    def titles(q):
        response = flow.client.get("/api/v1/work-orders", query_string={"q": q}, headers=flow.h("lead.cs"))
        assert response.status_code == 200, response.json
        return sorted(w["title"] for w in response.json["items"])

    assert titles("%") == ["50% off"]
    assert titles("_") == ["a_b"]
    assert titles("\\") == ["back\\slash"]
    assert titles("0%") == ["50% off"]
    assert titles("%_") == [] and titles("a%b") == []
    assert titles("plain") == ["plain"]


def test_user_search_takes_wildcards_literally(flow):
    def logins(q):
        response = flow.client.get("/api/v1/users", query_string={"q": q, "per_page": 500}, headers=flow.h("admin"))
        assert response.status_code == 200, response.json
        return [u["login"] for u in response.json["items"]]

    assert logins("%") == [] and logins("_") == [] and logins("\\") == []
    assert logins("staff.wh1b") == ["staff.wh1b"]


# --- 5. Colleagues' tasks ------------------------------------------------------------------------------------

def test_staff_see_their_own_tasks_of_a_shared_work_order_and_nothing_else(flow):
    wo = flow.create("safety_briefing", login="admin")
    mine_by = {t["assignee_id"]: t for t in wo["tasks"]}
    me, colleague = flow.demo.uid("staff.wh1"), flow.demo.uid("staff.wh1b")
    mine, theirs = mine_by[me], mine_by[colleague]
    assert flow.act(theirs["id"], "complete", "staff.wh1b").status_code == 200

    # By id: their task does not exist for me; mine does. A lead of a department taking part sees both.
    assert_error(flow.client.get(f"/api/v1/tasks/{theirs['id']}", headers=flow.h("staff.wh1")), 404)
    assert_error(flow.act(theirs["id"], "claim", "staff.wh1"), 404)
    assert flow.client.get(f"/api/v1/tasks/{mine['id']}", headers=flow.h("staff.wh1")).status_code == 200
    assert flow.client.get(f"/api/v1/tasks/{theirs['id']}", headers=flow.h("mgr.wh1")).status_code == 200
    assert_error(flow.client.get(f"/api/v1/tasks/{theirs['id']}", headers=flow.h("lead.cs")), 404)

    # The work order: mine only, and no event of a colleague's task (what they filled in stays theirs).
    detail = flow.detail(wo["id"], login="staff.wh1")
    assert [t["id"] for t in detail["tasks"]] == [mine["id"]] and detail["tasks_total"] == 1
    assert {e["task_id"] for e in detail["timeline"]} <= {None, mine["id"]}
    assert "created" in [e["kind"] for e in detail["timeline"]]
    listed = flow.client.get(f"/api/v1/work-orders/{wo['id']}/tasks", headers=flow.h("staff.wh1")).json
    assert [t["id"] for t in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert [t["id"] for t in flow.inbox("staff.wh1")["mine"]] == [mine["id"]]

    # Who oversees the work order sees every task and event.
    lead_view = flow.detail(wo["id"], login="mgr.wh1")
    assert lead_view["tasks_total"] == len(wo["tasks"]) == 6
    assert theirs["id"] in {e["task_id"] for e in lead_view["timeline"]}
    assert_error(flow.client.get(f"/api/v1/work-orders/{wo['id']}/tasks", headers=flow.h("lead.cs")), 404)


def test_a_step_nobody_can_take_still_opens_its_task(flow):
    """No handler, no owning department, no creator: the task opens with no candidates, as before (a lead hands it on)."""
    from app.common.clock import utcnow
    from app.workorders.service import create_work_order

    gone = flow.demo.uid("driver.chen")
    flow.template({"key": "orphan", "name": "Orphan", "steps": [{"key": "a", "title": "A", "assignees": {"users": [gone]}}]})
    assert flow.client.patch(f"/api/v1/users/{gone}", json={"active": False}, headers=flow.h("admin")).status_code == 200
    wo = create_work_order(body={"template": "orphan", "title": "x"}, created_by=None, department_id=None, now=utcnow(), tz="UTC")
    (task,) = db.session.scalars(select(Task).where(Task.work_order_id == wo.id)).all()
    assert task.status == "open" and _count(TaskCandidate, TaskCandidate.task_id == task.id) == 0
