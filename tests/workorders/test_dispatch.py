"""Dispatch (docs/design.md §16): pool offers handed out by round robin or least load, under a capacity."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from app import create_app
from app.extensions import db
from app.flows import service as flows
from app.flows.schemas import TemplateSchema
from app.jobs import run_all_once
from app.notify.models import Notification
from app.org import service as org
from app.org.models import User
from app.workorders import bulk
from app.workorders.claims import claim_task, release_task
from app.workorders.completion import complete_task
from app.workorders.handout import hand_out_waiting
from app.workorders.models import DispatchPointer, Task, TaskStatus, TimelineEvent, WorkOrder
from app.workorders.service import create_work_order
from tests.conftest import FAST_HASH, racing_app, assert_error

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"


def _people(n, prefix="disp"):
    return [org.create_user(login=f"{prefix}{i:02d}", password="baton-demo", name=f"Person {i}", roles=["staff"]) for i in range(n)]


def _template(key, people, dispatch, capacity=None, **step):
    body = {"key": key, "name": key, "steps": [{
        "key": "handle", "title": "Handle", "mode": "pool", "assignees": {"users": [p.id for p in people]},
        "dispatch": dispatch, **({"capacity": capacity} if capacity else {}), **step}]}
    template = flows.create_template(body=TemplateSchema().load(body), created_by=None, now=T0)
    db.session.commit()
    return template


def _create(key, at=T0, **body):
    work_order = create_work_order(body={"template": key, "title": body.pop("title", key), **body}, created_by=None,
                                   department_id=None, now=at, tz=TZ)
    return db.session.scalars(select(Task).where(Task.work_order_id == work_order.id)).one()


def _holders(key):
    return dict(db.session.execute(select(Task.assignee_id, func.count()).where(
        Task.template_key == key, Task.status == TaskStatus.CLAIMED).group_by(Task.assignee_id)).all())


def _assigned_events(task_id=None):
    stmt = select(TimelineEvent).where(TimelineEvent.kind == "assigned")
    if task_id is not None:
        stmt = stmt.where(TimelineEvent.task_id == task_id)
    return db.session.scalars(stmt.order_by(TimelineEvent.id)).all()


# --- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step, path", [
    ({"dispatch": "fastest"}, "steps.0.dispatch"),
    ({"dispatch": "least_loaded", "capacity": 0}, "steps.0.capacity"),
    ({"dispatch": "least_loaded", "capacity": "5"}, "steps.0.capacity"),
    ({"dispatch": "round_robin", "capacity": 10_001}, "steps.0.capacity"),
    ({"capacity": 5}, "steps.0.capacity"),
    ({"dispatch": "claim", "capacity": 5}, "steps.0.capacity"),
    ({"mode": "each", "dispatch": "least_loaded"}, "steps.0.dispatch"),
    ({"mode": "joint", "dispatch": "round_robin"}, "steps.0.dispatch"),
])
def test_a_bad_dispatch_is_refused_at_its_exact_path(flow, step, path):
    body = {"key": "bad-dispatch", "name": "Bad", "steps": [
        {"key": "s", "title": "S", "mode": "pool", "assignees": {"users": [flow.demo.uid("staff.wh1")]}, **step}]}
    response = flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin"))
    error = assert_error(response, 422)
    assert path in error["details"], error


def test_a_dispatched_step_is_accepted_and_its_task_says_how_it_was_handed_out(flow):
    staff = flow.demo.uid("staff.wh1")
    flow.template({"key": "dispatched", "name": "Dispatched", "steps": [
        {"key": "s", "title": "S", "mode": "pool", "assignees": {"users": [staff]}, "dispatch": "least_loaded", "capacity": 3}]})
    created = flow.create("dispatched")
    (task,) = created["tasks"]
    assert (task["status"], task["assignee_id"], task["dispatch"], task["capacity"]) == ("claimed", staff, "least_loaded", 3)
    detail = flow.detail(created["id"])
    assert detail["status"] == "in_progress"
    (event,) = [e for e in detail["timeline"] if e["kind"] == "assigned"]
    assert event["details"]["to_user"] == staff and event["details"]["dispatch"] == "least_loaded"
    assert event["people"][str(staff)]["id"] == staff
    inbox = flow.inbox("staff.wh1")
    assert any(item["id"] == task["id"] and item["dispatch"] == "least_loaded" for item in inbox["mine"]), inbox


# --- round robin ----------------------------------------------------------------------------------------------------


def test_round_robin_gives_in_turn_and_keeps_its_turn_across_a_new_app(app):
    people = _people(3)
    ids = sorted(p.id for p in people)
    _template("rr", people, "round_robin")
    given = [_create("rr", title=f"rr {i}").assignee_id for i in range(4)]
    assert given == [ids[0], ids[1], ids[2], ids[0]]
    assert db.session.get(DispatchPointer, "rr").last_given == {"handle": ids[0]}
    db.session.remove()

    restarted = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
                            **FAST_HASH})
    with restarted.app_context():
        after = [_create("rr", title=f"after {i}").assignee_id for i in range(2)]
        db.session.remove()
        db.engine.dispose()
    assert after == [ids[1], ids[2]]


def test_round_robin_skips_who_is_off_duty_and_who_is_full(app):
    a, b, c = _people(3)
    _template("rr-cap", [a, b, c], "round_robin", capacity=1)
    org_user = db.session.get(User, b.id)
    org_user.on_duty = False
    db.session.commit()
    given = [_create("rr-cap", title=f"t{i}").assignee_id for i in range(3)]
    assert given == [a.id, c.id, None]  # b is away; then everyone on duty holds one: the third waits


# --- least loaded ---------------------------------------------------------------------------------------------------


def test_least_loaded_gives_to_the_fewest_open_tasks_and_of_equals_to_who_waited_longest(app):
    a, b, c = sorted(_people(3), key=lambda p: p.id)
    _template("ll", [a, b, c], "least_loaded")
    _template("other", [b], "least_loaded")
    other = _create("other", at=T0)  # b holds a task of another template: it counts in b's load
    assert other.assignee_id == b.id

    first = [_create("ll", at=T0 + timedelta(minutes=i), title=f"ll {i}").assignee_id for i in range(3)]
    # a and c hold nothing, b one task: a (of two who never had a turn, the first); then c, who holds nothing; then
    # all three hold one, and b, never given an "ll" task, has waited longest.
    assert first == [a.id, c.id, b.id]
    assert _holders("ll") == {a.id: 1, c.id: 1, b.id: 1}

    # a and c hold one task, b two (one of each template); a was given its task before c: a is next.
    fourth = _create("ll", at=T0 + timedelta(minutes=10), title="ll 3")
    assert fourth.assignee_id == a.id

    # c finishes its task: c now has the fewest.
    c_task = db.session.scalars(select(Task).where(Task.template_key == "ll", Task.assignee_id == c.id)).one()
    complete_task(user=db.session.get(User, c.id), task_id=c_task.id, outcome=None, note=None, data=None,
                  now=T0 + timedelta(minutes=11), max_skew=300)
    assert _create("ll", at=T0 + timedelta(minutes=12), title="ll 4").assignee_id == c.id


def test_capacity_holds_offers_in_the_pool_and_a_completion_frees_a_place_for_the_hand_out(app):
    a, b = _people(2)
    _template("cap", [a, b], "least_loaded", capacity=1)
    first, second, third = (_create("cap", at=T0 + timedelta(minutes=i), title=f"cap {i}") for i in range(3))
    assert {first.assignee_id, second.assignee_id} == {a.id, b.id}
    assert (third.status, third.assignee_id, third.dispatch) == (TaskStatus.OPEN, None, "least_loaded")
    assert db.session.get(WorkOrder, third.work_order_id).status == "open"
    # Nobody is told of an offer nobody has room for; the two holders were told theirs.
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "task.assigned")).all()
    assert sorted(told) == sorted([a.id, b.id])
    assert not db.session.scalars(select(Notification).where(Notification.kind == "task.offered")).all()

    # A candidate at capacity may not claim the waiting offer by hand.
    with pytest.raises(Exception) as refused:
        claim_task(user=db.session.get(User, a.id), task_id=third.id, now=T0 + timedelta(minutes=5), max_skew=300)
    assert getattr(refused.value, "code", None) == "over_capacity"
    db.session.rollback()
    assert hand_out_waiting(now=T0 + timedelta(minutes=5)) == 0

    holder = db.session.get(User, first.assignee_id)
    complete_task(user=holder, task_id=first.id, outcome=None, note=None, data=None, now=T0 + timedelta(minutes=6), max_skew=300)
    assert hand_out_waiting(now=T0 + timedelta(minutes=7)) == 1
    assert hand_out_waiting(now=T0 + timedelta(minutes=8)) == 0  # given once
    third = db.session.get(Task, third.id, populate_existing=True)
    assert (third.status, third.assignee_id) == (TaskStatus.CLAIMED, holder.id)
    (event,) = _assigned_events(third.id)
    assert event.actor_id is None and event.details["capacity"] == 1
    assert db.session.get(WorkOrder, third.work_order_id).status == "in_progress"


def test_a_released_task_goes_to_someone_else_and_its_releaser_may_still_claim_it(app):
    a, b = sorted(_people(2), key=lambda p: p.id)
    _template("rel", [a, b], "least_loaded", capacity=2)
    tasks = [_create("rel", at=T0 + timedelta(minutes=i), title=f"rel {i}") for i in range(3)]
    assert [t.assignee_id for t in tasks] == [a.id, b.id, a.id]
    release_task(user=db.session.get(User, a.id), task_id=tasks[0].id, now=T0 + timedelta(minutes=5))
    # a now holds 1 and b 1: least loaded would pick a (waited longer), but a just gave it back: b gets it.
    assert hand_out_waiting(now=T0 + timedelta(minutes=6)) == 1
    assert db.session.get(Task, tasks[0].id, populate_existing=True).assignee_id == b.id

    release_task(user=db.session.get(User, b.id), task_id=tasks[0].id, now=T0 + timedelta(minutes=7))
    release_task(user=db.session.get(User, a.id), task_id=tasks[2].id, now=T0 + timedelta(minutes=7))
    # tasks[0]: b gave it back and a has room: a. tasks[2]: a gave it back, b has room: b.
    assert hand_out_waiting(now=T0 + timedelta(minutes=8)) == 2
    assert db.session.get(Task, tasks[0].id, populate_existing=True).assignee_id == a.id
    assert db.session.get(Task, tasks[2].id, populate_existing=True).assignee_id == b.id

    # Only the releaser has room: the offer waits, and they may still take it back themselves.
    release_task(user=db.session.get(User, a.id), task_id=tasks[0].id, now=T0 + timedelta(minutes=9))
    complete_task(user=db.session.get(User, b.id), task_id=tasks[1].id, outcome=None, note=None, data=None,
                  now=T0 + timedelta(minutes=9), max_skew=300)  # b: 1 of 2, a: 0 of 2
    assert hand_out_waiting(now=T0 + timedelta(minutes=10)) == 1
    assert db.session.get(Task, tasks[0].id, populate_existing=True).assignee_id == b.id


def test_waiting_offers_go_out_by_urgency_then_first_come(app):
    (a,) = _people(1)
    _template("urgent", [a], "least_loaded", capacity=1, sla="PT8H")
    _create("urgent", at=T0, title="busy")
    late_p3 = _create("urgent", at=T0 + timedelta(minutes=1), title="p3 first", priority="P3")
    early_p3 = _create("urgent", at=T0 + timedelta(minutes=2), title="p3 second", priority="P3")
    p1 = _create("urgent", at=T0 + timedelta(minutes=3), title="p1", priority="P1")
    p2_due_sooner = _create("urgent", at=T0 + timedelta(minutes=4), title="p2", priority="P2")
    db.session.execute(text("UPDATE tasks SET due_at = :due WHERE id = :id"), {"due": T0 + timedelta(hours=1), "id": early_p3.id})
    db.session.commit()
    order = []
    for minute in range(10, 15):
        held = db.session.scalars(select(Task).where(Task.assignee_id == a.id, Task.status == TaskStatus.CLAIMED)).one()
        complete_task(user=db.session.get(User, a.id), task_id=held.id, outcome=None, note=None, data=None,
                      now=T0 + timedelta(minutes=minute), max_skew=300)
        if hand_out_waiting(now=T0 + timedelta(minutes=minute, seconds=30)):
            order.append(db.session.scalars(select(Task.id).where(Task.assignee_id == a.id, Task.status == TaskStatus.CLAIMED)).one())
    # P1, then P2, then the P3 due sooner though opened later, then the other P3.
    assert order == [p1.id, p2_due_sooner.id, early_p3.id, late_p3.id]


def test_a_new_offer_waits_behind_one_already_waiting(app):
    a, b = _people(2)
    _template("fifo", [a, b], "least_loaded", capacity=1)
    held = [_create("fifo", at=T0 + timedelta(minutes=i), title=f"held {i}") for i in range(2)]
    waiting = _create("fifo", at=T0 + timedelta(minutes=2), title="waiting")
    complete_task(user=db.session.get(User, held[0].assignee_id), task_id=held[0].id, outcome=None, note=None, data=None,
                  now=T0 + timedelta(minutes=3), max_skew=300)
    # Someone has room now, but the older offer comes first: the new one waits too, and the job gives the old one out.
    newer = _create("fifo", at=T0 + timedelta(minutes=4), title="newer")
    assert newer.assignee_id is None
    assert hand_out_waiting(now=T0 + timedelta(minutes=5)) == 1
    assert db.session.get(Task, waiting.id, populate_existing=True).assignee_id == held[0].assignee_id


def test_the_bulk_writer_hands_out_with_the_same_rule(app):
    people = sorted(_people(4), key=lambda p: p.id)
    template = _template("bulk-ll", people, "least_loaded", capacity=3)
    opened = bulk.create_work_orders(template=template, items=[{"title": f"recall {i}"} for i in range(14)], now=T0, tz=TZ,
                                     created_by_id=None, department_id=None, source="recall")
    db.session.commit()
    assert len(opened) == 14
    assert _holders("bulk-ll") == {p.id: 3 for p in people}
    waiting = db.session.scalars(select(Task).where(Task.template_key == "bulk-ll", Task.assignee_id.is_(None))).all()
    assert len(waiting) == 2 and all(t.status == TaskStatus.OPEN for t in waiting)
    assert len(_assigned_events()) == 12
    # One message per person for the batch, none for the offers that wait.
    told = db.session.execute(select(Notification.user_id, Notification.kind)).all()
    assert sorted(told) == sorted((p.id, "task.assigned") for p in people)
    started = db.session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.status == "in_progress"))
    assert started == 12


def test_the_worker_hands_out_what_waited(app):
    a, b = _people(2)
    _template("worker", [a, b], "round_robin", capacity=1)
    tasks = [_create("worker", at=T0 + timedelta(minutes=i), title=f"w {i}") for i in range(3)]
    complete_task(user=db.session.get(User, tasks[1].assignee_id), task_id=tasks[1].id, outcome=None, note=None, data=None,
                  now=T0 + timedelta(minutes=5), max_skew=300)
    summary = run_all_once(now=T0 + timedelta(minutes=6), config=app.config)
    assert summary["offers_handed_out"] == 1
    assert db.session.get(Task, tasks[2].id, populate_existing=True).assignee_id == tasks[1].assignee_id


def test_the_jobs_queue_hands_out_a_template(app, monkeypatch):
    from functions import andon as jobs_handler
    from functions import runtime

    a, b = _people(2)
    _template("queued", [a, b], "least_loaded", capacity=1)
    tasks = [_create("queued", at=T0 + timedelta(minutes=i), title=f"q {i}") for i in range(3)]
    complete_task(user=db.session.get(User, tasks[0].assignee_id), task_id=tasks[0].id, outcome=None, note=None, data=None,
                  now=T0 + timedelta(minutes=5), max_skew=300)
    monkeypatch.setattr(runtime, "_app", app)
    event = {"Records": [{"messageId": "m1", "body": '{"kind": "hand_out", "template_key": "queued"}'}]}
    assert jobs_handler.handler(event, None) == {"batchItemFailures": []}
    assert db.session.get(Task, tasks[2].id, populate_existing=True).assignee_id == tasks[0].assignee_id


# --- real threads on PostgreSQL -------------------------------------------------------------------------------------

THREADS = 8
WORK_ORDERS = 500
PEOPLE = 10
CAPACITY = 20


@pytest.fixture
def race_app(app):
    """A second app on the same database with a connection pool big enough for every thread."""
    with racing_app(app, THREADS + 4) as racing:
        yield racing


class Watch:
    """Reads everyone's open load of a template again and again on its own connection, and remembers the worst it saw."""

    def __init__(self, app, key, people):
        self.app, self.key, self.people = app, key, people
        self.most = 0
        self.widest = 0
        self.looks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self):
        with self.app.app_context():
            with db.engine.connect() as conn:
                while not self._stop.is_set():
                    loads = dict(conn.execute(text(
                        "SELECT assignee_id, count(*) FROM tasks WHERE template_key = :k AND status = 'claimed' GROUP BY assignee_id"),
                        {"k": self.key}).all())
                    conn.rollback()
                    counts = [loads.get(p, 0) for p in self.people]
                    self.most = max(self.most, max(counts))
                    if max(counts) < CAPACITY:  # everyone below the cap: the spread is least_loaded's alone
                        self.widest = max(self.widest, max(counts) - min(counts))
                    self.looks += 1
                    time.sleep(0.002)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_creations_never_give_anyone_past_capacity_and_releases_are_handed_out_once(app, race_app):
    people = _people(PEOPLE, prefix="load")
    ids = sorted(p.id for p in people)
    _template("load", people, "least_loaded", capacity=CAPACITY)
    db.session.remove()

    def create(k):
        with race_app.app_context():
            for i in range(k, WORK_ORDERS, THREADS):
                create_work_order(body={"template": "load", "title": f"load {i}"}, created_by=None, department_id=None,
                                  now=T0 + timedelta(seconds=i), tz=TZ)
            db.session.remove()

    with Watch(race_app, "load", ids) as watch:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(create, range(THREADS)))
    assert watch.looks > 10
    assert watch.most <= CAPACITY, watch.most
    assert watch.widest <= 1, watch.widest
    assert _holders("load") == {p: CAPACITY for p in ids}
    waiting = db.session.scalar(select(func.count()).select_from(Task).where(Task.template_key == "load", Task.assignee_id.is_(None)))
    assert waiting == WORK_ORDERS - PEOPLE * CAPACITY
    assert len(_assigned_events()) == PEOPLE * CAPACITY

    # Everyone gives back 5 of their tasks while four hand-out runs go at once: each waiting offer goes out once.
    released = {}
    for person in ids:
        for task_id in db.session.scalars(select(Task.id).where(Task.assignee_id == person).order_by(Task.id).limit(5)):
            released[task_id] = person
    db.session.remove()
    stop = threading.Event()

    def release(person):
        with race_app.app_context():
            for task_id in [t for t, p in released.items() if p == person]:
                release_task(user=db.session.get(User, person), task_id=task_id, now=T0 + timedelta(hours=1))
            db.session.remove()

    def hand_out(_):
        with race_app.app_context():
            given = 0
            while not stop.is_set():
                given += hand_out_waiting(now=T0 + timedelta(hours=1, minutes=1))
            db.session.remove()
            return given

    with Watch(race_app, "load", ids) as watch:
        with ThreadPoolExecutor(4) as runners, ThreadPoolExecutor(4) as releasers:
            runs = [runners.submit(hand_out, k) for k in range(4)]
            list(releasers.map(release, ids))
            time.sleep(0.5)
            stop.set()
            given = sum(r.result() for r in runs)
    given += hand_out_waiting(now=T0 + timedelta(hours=1, minutes=2))
    assert watch.most <= CAPACITY, watch.most
    assert given == len(released)
    assert _holders("load") == {p: CAPACITY for p in ids}
    events = _assigned_events()
    assert len(events) == PEOPLE * CAPACITY + len(released)
    per_task = {}
    for event in events:
        per_task.setdefault(event.task_id, []).append(event.details["to_user"])
    assert all(len(to) == 1 for task_id, to in per_task.items() if task_id not in released)
    for task_id, person in released.items():
        again = per_task[task_id][1:]
        assert len(again) <= 1 and person not in again, (task_id, person, per_task[task_id])
