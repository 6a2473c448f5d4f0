"""Real races with real threads: one winner per pool task, unique numbers, joins never missed."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.auth.service import issue_token
from app.extensions import db
from app.org import service as org
from app.workorders.models import Task, TaskStatus, TimelineEvent, WorkOrder
from tests.conftest import numbered_without_gaps, racing_app

# 16 phones at once on 40 tasks: enough to catch a broken arbiter every time (an arbiter that does not check the
# row is still open lets several win in nearly every round); the 10,000-claim run is `bench/bench_claims.py`.
THREADS = 16
ROUNDS = 40


@pytest.fixture
def race_app(app):
    """A second app on the same database with a connection pool big enough for every thread."""
    with racing_app(app, THREADS + 5) as racing:
        yield racing


def _people(n):
    admin = org.create_user(login="race.admin", password="baton-demo", name="Race admin", roles=["admin", "lead"])
    users = [org.create_user(login=f"racer{i:02d}", password="baton-demo", name=f"Racer {i}", roles=["staff"]) for i in range(n)]
    group = org.create_group(name="racers", members=[u.id for u in users])
    return admin, users, group


# SQLite's BEGIN IMMEDIATE serialises every transaction, so only PostgreSQL races for real.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_exactly_one_claim_wins_per_pool_task(app, race_app, client):
    admin, users, group = _people(THREADS)
    secret = app.config["SECRET_KEY"]
    admin_h = {"Authorization": f"Bearer {issue_token(user=admin, secret_key=secret)}"}
    tokens = [f"Bearer {issue_token(user=u, secret_key=secret)}" for u in users]
    r = client.post("/api/v1/templates", headers=admin_h, json={
        "key": "race", "name": "Race", "steps": [{"key": "grab", "title": "Grab", "mode": "pool", "assignees": {"groups": [group.id]}}]})
    assert r.status_code == 201, r.json
    task_ids = []
    for i in range(ROUNDS):
        r = client.post("/api/v1/work-orders", headers=admin_h, json={"template": "race", "title": f"race {i}"})
        task_ids.append(r.json["tasks"][0]["id"])

    db.session.rollback()  # no read transaction of this thread may hold SQLite's write lock during the race
    barrier = threading.Barrier(THREADS)
    results = [[None] * THREADS for _ in range(ROUNDS)]

    def racer(k):
        with race_app.app_context():
            c = race_app.test_client()
            headers = {"Authorization": tokens[k]}
            for round_no, task_id in enumerate(task_ids):
                barrier.wait(timeout=120)
                response = c.post(f"/api/v1/tasks/{task_id}/claim", headers=headers, json={})
                body = response.get_json()
                results[round_no][k] = (response.status_code, body.get("assignee_id") if response.status_code == 200 else body["error"]["code"])
            db.session.remove()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(racer, range(THREADS)))

    for round_no, task_id in enumerate(task_ids):
        statuses = [r[0] for r in results[round_no]]
        assert statuses.count(200) == 1, (round_no, statuses)
        assert statuses.count(409) == THREADS - 1, (round_no, statuses)
        assert {r[1] for r in results[round_no] if r[0] == 409} == {"task_taken"}
        winner = next(r[1] for r in results[round_no] if r[0] == 200)
        db.session.expire_all()
        row = db.session.get(Task, task_id)
        assert row.status == TaskStatus.CLAIMED and row.assignee_id == winner
    claimed_events = db.session.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "claimed"))
    assert claimed_events == ROUNDS


def test_work_order_numbers_never_repeat_under_concurrent_creation(app, race_app, client, demo):
    secret = app.config["SECRET_KEY"]
    lead = demo.user("lead.cs")
    headers = {"Authorization": f"Bearer {issue_token(user=lead, secret_key=secret)}"}
    db.session.rollback()
    barrier = threading.Barrier(20)

    def create(i):
        with race_app.app_context():
            c = race_app.test_client()
            barrier.wait(timeout=60)
            numbers = []
            for j in range(5):
                r = c.post("/api/v1/work-orders", headers=headers, json={"template": "complaint", "title": f"c{i}-{j}"})
                assert r.status_code == 201, r.get_json()
                numbers.append(r.get_json()["number"])
            db.session.remove()
            return numbers

    with ThreadPoolExecutor(20) as pool:
        numbers = [n for chunk in pool.map(create, range(20)) for n in chunk]
    assert len(numbers) == 100 and len(set(numbers)) == 100
    assert db.session.scalar(select(func.count()).select_from(WorkOrder)) == 100
    assert numbered_without_gaps(numbers)


def test_parallel_branches_finishing_at_once_still_join(app, race_app, client, demo):
    """Two handlers complete the two branches of a diamond at the same moment, 20 times: the join always starts."""
    secret = app.config["SECRET_KEY"]
    tokens = {login: {"Authorization": f"Bearer {issue_token(user=demo.user(login), secret_key=secret)}"}
              for login in ("lead.cs", "cs.agent1", "admin", "staff.wh1", "driver.li")}
    h = tokens.__getitem__
    pairs = []
    for i in range(20):
        wo = client.post("/api/v1/work-orders", headers=h("lead.cs"), json={"template": "investigation", "title": f"d{i}"}).get_json()
        intake = wo["tasks"][0]["id"]
        assert client.post(f"/api/v1/tasks/{intake}/complete", headers=h("cs.agent1"), json={}).status_code == 200
        tasks = {t["step"]: t["id"] for t in client.get(f"/api/v1/work-orders/{wo['id']}", headers=h("admin")).get_json()["tasks"]
                 if t["status"] == "open"}
        pairs.append((wo["id"], tasks["warehouse"], tasks["delivery"]))

    db.session.rollback()

    def finish(args):
        task_id, login, body, barrier = args
        with race_app.app_context():
            c = race_app.test_client()
            barrier.wait(timeout=60)
            status = c.post(f"/api/v1/tasks/{task_id}/complete", headers=h(login), json=body).status_code
            db.session.remove()
            return status

    for wo_id, warehouse, delivery in pairs:
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(finish, [(warehouse, "staff.wh1", {"data": {"root_cause": "none"}}, barrier),
                                              (delivery, "driver.li", {}, barrier)]))
        assert statuses == [200, 200]
        open_steps = [t["step"] for t in client.get(f"/api/v1/work-orders/{wo_id}", headers=h("admin")).get_json()["tasks"]
                      if t["status"] == "open"]
        assert open_steps == ["conclude"], (wo_id, open_steps)
