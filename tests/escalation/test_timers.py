"""Durable timers with an injected clock: reminders, escalation levels up the line, reassignment, staleness."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app import create_app
from app.workorders.models import Timer
from app.escalation.sweep import fire_due_timers
from app.extensions import db
from app.notify.messages import render
from app.notify.models import Notification
from app.org.models import User
from app.workorders.models import Task, TimelineEvent
from tests.conftest import FAST_HASH, assert_error
from tests.workorders.conftest import Flow


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)


def _notified(kind, user_id):
    return db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == kind, Notification.user_id == user_id))


def _due(task_id):
    db.session.expire_all()
    return db.session.get(Task, task_id).due_at


def test_timers_are_stored_when_a_task_with_an_sla_starts(flow):
    wo = flow.create("complaint")
    task_id = wo["tasks"][0]["id"]
    timers = db.session.scalars(select(Timer).where(Timer.task_id == task_id).order_by(Timer.fire_at)).all()
    due = _due(task_id)
    assert [(t.kind, t.level) for t in timers] == [("remind", 0), ("escalate", 1), ("escalate", 2), ("escalate", 3)]
    assert timers[0].fire_at == due - timedelta(minutes=10)
    assert [t.fire_at for t in timers[1:]] == [due, due + timedelta(minutes=30), due + timedelta(minutes=60)]


def test_reminder_then_each_level_climbs_the_reporting_line(flow):
    demo = flow.demo
    agents = [demo.uid("cs.agent1"), demo.uid("cs.agent2")]
    flow.template({"key": "callback", "name": "Call back", "steps": [
        {"key": "call", "title": "Call the customer", "assignees": {"users": agents}, "sla": "PT30M", "remind_before": "PT10M"}]})
    wo = flow.create("callback")
    task_id = wo["tasks"][0]["id"]
    due = _due(task_id)
    agent1, lead, gm = demo.uid("cs.agent1"), demo.uid("lead.cs"), demo.uid("gm.zhang")

    assert fire_due_timers(now=due - timedelta(minutes=11))["fired"] == 0
    assert fire_due_timers(now=due - timedelta(minutes=9))["fired"] == 1
    assert _notified("task.reminder", agent1) == 1
    assert fire_due_timers(now=due - timedelta(minutes=9))["fired"] == 0  # a second sweep finds nothing

    assert fire_due_timers(now=due + timedelta(seconds=1))["fired"] == 1
    assert _notified("task.escalated", lead) == 1 and _notified("task.escalated", gm) == 0
    fire_due_timers(now=due + timedelta(minutes=30, seconds=1))
    assert _notified("task.escalated", gm) == 1
    # Level 3 is past the top of the chain: it stays with the top (the GM), notified once more.
    fire_due_timers(now=due + timedelta(minutes=61))
    assert _notified("task.escalated", gm) == 2
    db.session.expire_all()
    assert db.session.get(Task, task_id).escalation_level == 3
    levels = [e.details["level"] for e in db.session.scalars(
        select(TimelineEvent).where(TimelineEvent.kind == "escalated").order_by(TimelineEvent.id))]
    assert levels == [1, 2, 3]
    detail = flow.detail(wo["id"])
    assert detail["escalation_level"] == 3


def test_claimed_task_escalates_to_the_assignees_manager_and_reassigns(flow):
    demo = flow.demo
    wo = flow.create("complaint")
    flow.finish(wo["id"], "triage", "cs.agent1", outcome="accepted")
    flow.finish(wo["id"], "warehouse_check", "staff.wh1", outcome="stock_ok", data={"findings": "ok"})
    (task,) = flow.open_tasks(wo["id"], "driver_visit")
    flow.act(task["id"], "claim", "driver.li")
    due = _due(task["id"])
    fire_due_timers(now=due + timedelta(seconds=1))
    assert _notified("task.escalated", demo.uid("mgr.dlv")) == 1
    # The driver visit reassigns at level 2 (interval PT1H) to the manager reached: mgr.ops.
    fire_due_timers(now=due + timedelta(hours=1, seconds=1))
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    assert row.assignee_id == demo.uid("mgr.ops")
    escalated = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalated").order_by(TimelineEvent.id)).all()
    assert escalated[-1].details["reassigned_to"] == demo.uid("mgr.ops")
    assert escalated[-1].details["reassigned_from"] == demo.uid("driver.li")


def test_an_unclaimed_offer_escalates_up_the_line_of_those_who_do_the_work(flow):
    """A warehouse pick offered to two warehouses' staff and their leads (who also pick): level 1 reaches the
    warehouse leads, level 2 the operations manager above them — not the general manager, which counting from the
    leads (who are offered the task too) would reach."""
    demo = flow.demo
    wh1, wh2 = demo.dept("WH-SH-01"), demo.dept("WH-BJ-01")
    flow.template({"key": "pick", "name": "Pick", "steps": [
        {"key": "pick", "title": "拣货 Pick", "mode": "pool", "assignees": {"departments": [wh1, wh2]}, "sla": "PT1H",
         "escalation": {"interval": "PT1H", "max_level": 3, "reassign_at_level": 2}}]})
    wo = flow.create("pick", title="拣货 SO-1001")
    (task,) = flow.open_tasks(wo["id"], "pick")
    due = _due(task["id"])
    fire_due_timers(now=due + timedelta(seconds=1))
    first = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalated", TimelineEvent.task_id == task["id"])).one()
    assert sorted(first.details["notified"]) == sorted([demo.uid("mgr.wh1"), demo.uid("mgr.wh2")])
    fire_due_timers(now=due + timedelta(hours=1, seconds=1))
    db.session.expire_all()
    assert db.session.get(Task, task["id"]).assignee_id == demo.uid("mgr.ops")
    second = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalated", TimelineEvent.task_id == task["id"])
                                .order_by(TimelineEvent.id.desc())).first()
    assert second.details["notified"] == [demo.uid("mgr.ops")] and second.details["reassigned_to"] == demo.uid("mgr.ops")


def test_escalation_skips_a_manager_who_is_away_to_their_delegate(flow):
    demo = flow.demo
    flow.client.patch("/api/v1/me", json={"on_duty": False, "delegate_id": demo.uid("mgr.qa")}, headers=flow.h("lead.cs"))
    wo = flow.create("complaint", login="admin")
    due = _due(wo["tasks"][0]["id"])
    fire_due_timers(now=due + timedelta(seconds=1))
    assert _notified("task.escalated", demo.uid("lead.cs")) == 0
    assert _notified("task.escalated", demo.uid("mgr.qa")) == 1


def test_completing_makes_timers_stale(flow):
    wo = flow.create("complaint")
    task_id = wo["tasks"][0]["id"]
    due = _due(task_id)
    flow.finish(wo["id"], "triage", "cs.agent1", outcome="accepted")
    fire_due_timers(now=due + timedelta(hours=5))
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.task_id == task_id, Timer.status == "stale")) == 4
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.task_id == task_id, Timer.status == "fired")) == 0
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.kind.in_(["escalated", "reminded"]), TimelineEvent.task_id == task_id)) == 0


def test_manual_escalation_raises_priority_and_escalates_now(flow):
    demo = flow.demo
    wo = flow.create("complaint", priority="P3")
    assert_error(flow.client.post(f"/api/v1/work-orders/{wo['id']}/escalate", json={"reason": "VIP"}, headers=flow.h("cs.agent1")), 403)
    r = flow.client.post(f"/api/v1/work-orders/{wo['id']}/escalate", json={"reason": "VIP customer"}, headers=flow.h("lead.cs"))
    assert r.status_code == 200, r.json
    assert r.json["priority"] == "P2" and r.json["escalation_level"] == 1
    assert _notified("task.escalated", demo.uid("lead.cs")) == 1
    assert flow.open_tasks(wo["id"])[0]["priority"] == "P2"
    flow.client.post(f"/api/v1/work-orders/{wo['id']}/cancel", json={"reason": "x"}, headers=flow.h("lead.cs"))
    assert_error(flow.client.post(f"/api/v1/work-orders/{wo['id']}/escalate", json={"reason": "x"}, headers=flow.h("lead.cs")), 409)


def test_concurrent_sweeps_escalate_each_timer_exactly_once(app, flow):
    orders = [flow.create("complaint", title=f"sweep {i}") for i in range(30)]
    latest_due = max(_due(o["tasks"][0]["id"]) for o in orders)
    now = latest_due + timedelta(minutes=1)
    expected = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= now))
    assert expected == 60  # a reminder and level 1 for each
    db.session.rollback()  # end this thread's read transaction before the sweepers start
    sweeper = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"], **FAST_HASH})
    barrier = threading.Barrier(4)

    def sweep(_):
        with sweeper.app_context():
            barrier.wait(timeout=30)
            result = fire_due_timers(now=now, batch_size=7)
            db.session.remove()
            return result

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(sweep, range(4)))
    with sweeper.app_context():
        db.engine.dispose()
    assert sum(r["fired"] for r in results) == 60
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "escalated")) == 30
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "reminded")) == 30
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= now)) == 0


def _locked_work_order(app, work_order_id):
    """A second connection holding the work order's row lock, as a handler mid-transaction does."""
    engine = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"], **FAST_HASH})
    with engine.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    connection.exec_driver_sql("SELECT id FROM work_orders WHERE id = %s FOR UPDATE", (work_order_id,))
    return engine, connection, transaction


def test_sweep_leaves_a_locked_work_orders_timers_pending_and_fires_them_later(app, flow):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks held by another transaction are a PostgreSQL matter; SQLite has one writer")
    held, free = flow.create("complaint", title="held"), flow.create("complaint", title="free")
    now = max(_due(o["tasks"][0]["id"]) for o in (held, free)) + timedelta(minutes=1)
    db.session.rollback()
    other, connection, transaction = _locked_work_order(app, held["id"])
    try:
        result = fire_due_timers(now=now, batch_size=1, busy_retries=2)
    finally:
        transaction.rollback()
        connection.close()
        with other.app_context():
            db.engine.dispose()
    assert result == {"fired": 2, "stale": 0, "busy": 2, "more": False}
    pending = select(func.count()).select_from(Timer).join(Task, Task.id == Timer.task_id).where(
        Timer.status == "pending", Timer.fire_at <= now, Task.work_order_id == held["id"])
    assert db.session.scalar(pending) == 2
    assert fire_due_timers(now=now) == {"fired": 2, "stale": 0, "busy": 0, "more": False}
    assert db.session.scalar(pending) == 0


def test_sweep_waits_briefly_for_a_work_order_that_is_released(app, flow):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks held by another transaction are a PostgreSQL matter; SQLite has one writer")
    wo = flow.create("complaint")
    now = _due(wo["tasks"][0]["id"]) + timedelta(minutes=1)
    db.session.rollback()
    other, connection, transaction = _locked_work_order(app, wo["id"])
    release = threading.Timer(0.05, transaction.rollback)
    release.start()
    try:
        result = fire_due_timers(now=now, busy_retries=12)  # backs off up to about 40 s in all
    finally:
        release.join()
        connection.close()
        with other.app_context():
            db.engine.dispose()
    assert result == {"fired": 2, "stale": 0, "busy": 0, "more": False}


def test_sweep_notifications_read_as_the_messages_say_in_each_language(flow):
    demo = flow.demo
    lead = db.session.get(User, demo.uid("lead.cs"))
    lead.locale = "en"
    db.session.commit()
    agent = db.session.get(User, demo.uid("cs.agent1"))
    wo = flow.create("complaint", title="Damaged milk")
    task_id = wo["tasks"][0]["id"]
    due = _due(task_id)
    fire_due_timers(now=due - timedelta(minutes=9))
    fire_due_timers(now=due + timedelta(seconds=1))
    number = flow.detail(wo["id"])["number"]
    reminder = db.session.scalars(select(Notification).where(Notification.kind == "task.reminder",
                                                             Notification.user_id == agent.id)).one()
    zone = ZoneInfo((agent.quiet_hours or {}).get("timezone") or "Asia/Shanghai")  # the reader's zone, never UTC
    assert (reminder.title, reminder.body) == render("task.reminder", agent.locale,
                                                     {"number": number, "step": "客服分诊 CS triage", "due": due}, zone=zone,
                                                     now=due - timedelta(minutes=9))
    assert due.astimezone(zone).strftime("%H:%M") in reminder.body and "UTC" not in reminder.body
    assert reminder.url == f"/#/task/{task_id}" and reminder.tag == f"task-{task_id}" and reminder.data == {"task_id": task_id}
    escalated = db.session.scalars(select(Notification).where(Notification.kind == "task.escalated",
                                                              Notification.user_id == lead.id)).one()
    assert escalated.urgent and escalated.priority == "P1"
    assert (escalated.title, escalated.body) == ("Overdue work escalated to you (level 1)", f"{number} · 客服分诊 CS triage: Damaged milk")
    assert escalated.data == {"task_id": task_id, "level": 1} and escalated.read_at is None
    timer = db.session.scalars(select(Timer).where(Timer.task_id == task_id, Timer.level == 1)).one()
    assert timer.status == "fired" and timer.fired_at == due + timedelta(seconds=1)
    notified = timer.result["notified"]
    assert lead.id in notified and timer.result == {"level": 1, "step": "triage", "notified": notified, "reason": "overdue"}
    assert db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "task.escalated")) == len(notified)


def test_a_sweep_starts_no_batch_after_its_deadline_and_the_next_one_goes_on(flow):
    orders = [flow.create("complaint", title=f"deadline {i}") for i in range(3)]
    now = max(_due(o["tasks"][0]["id"]) for o in orders) + timedelta(minutes=1)
    db.session.rollback()
    past = time.monotonic() - 1
    assert fire_due_timers(now=now, batch_size=2, deadline=past) == {"fired": 2, "stale": 0, "busy": 0, "more": True}
    assert fire_due_timers(now=now, batch_size=2, max_batches=1) == {"fired": 2, "stale": 0, "busy": 0, "more": True}
    assert fire_due_timers(now=now, batch_size=2, deadline=time.monotonic() + 60) == {"fired": 2, "stale": 0, "busy": 0, "more": False}
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired")) == 6
