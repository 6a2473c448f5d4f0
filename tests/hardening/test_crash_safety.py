"""Data safety when a process dies mid-way (PostgreSQL): no half-written work order, no duplicate, no lost notification.

The server runs under gunicorn in a subprocess with tests/hardening/crash_hooks.py as its configuration: a worker
SIGKILLs itself at a chosen point of a completion (inside the transaction, or just after the commit). A second test
kills the whole server while many completions are in flight, and a third kills a recall fan-out inside a batch.
After each crash the database is checked against the engine's rules, then the work is retried and checked again.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, FAST_HASH, PG_ADMIN_URL
from tests.hardening import world as worlds

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
V1 = "/api/v1"
TEMPLATE = {"key": "crash_pick", "name": "Crash: pick then check", "priority": "P3", "steps": [
    {"key": "pick", "title": "Pick", "mode": "pool", "assignees": {"departments": ["WH-SH-01"]}, "sla": "PT1H", "outcomes": ["done"]},
    {"key": "check", "title": "Check", "after": ["pick"], "mode": "pool", "assignees": {"departments": ["WH-SH-01"]},
     "sla": "PT1H", "outcomes": ["ok"]},
]}

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="crash safety is checked on PostgreSQL")


@pytest.fixture(scope="module")
def crash_db():
    """A database of its own: the server subprocess writes to it while the test reads it."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"baton_crash_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "crash-secret-key-that-is-long-enough-123456", **FAST_HASH})
    with app.app_context():
        db.create_all()
        client = app.test_client()
        worlds.seed(client)
        from app.org.models import Department

        wh1 = db.session.scalar(select(Department.id).where(Department.code == "WH-SH-01"))
        body = {**TEMPLATE, "steps": [{**s, "assignees": {"departments": [wh1]}} for s in TEMPLATE["steps"]]}
        admin_headers = {"Authorization": f"Bearer {worlds.login(client, 'admin')}"}
        assert client.post(f"{V1}/templates", json=body, headers=admin_headers).status_code == 201
        # A device of one candidate: the outbox rows written with each notification are checked too.
        staff_b = {"Authorization": f"Bearer {worlds.login(client, 'staff.wh1b')}"}
        subscription = {"endpoint": "https://push.example.com/send/crash", "keys": {
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg"}}
        assert client.post(f"{V1}/push/subscriptions", json=subscription, headers=staff_b).status_code == 201
        yield app, url
        db.session.remove()
        db.engine.dispose()
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


class Server:
    """gunicorn on 127.0.0.1 with the crash hooks, in its own process group so that it can be killed whole."""

    def __init__(self, url: str, tmp_path: Path, workers: int = 1):
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "crash-secret-key-that-is-long-enough-123456",
               "BATON_ENV": "development", "BATON_PUSH_PROVIDER": "log", "BATON_INSTANCE_DIR": str(tmp_path),
               "LOG_LEVEL": "WARNING"}
        self.log = open(tmp_path / f"gunicorn-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "tests/hardening/crash_hooks.py"), "--workers", str(workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "60", "app.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.kill()
        raise AssertionError("gunicorn did not start: " + (tmp_path / f"gunicorn-{self.port}.log").read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()

    def login(self, who: str) -> dict:
        r = requests.post(f"{self.base}{V1}/auth/login", json={"login": who, "password": "baton-demo"}, timeout=30)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def open_work_orders(server: Server, n: int) -> list[int]:
    """n work orders whose first task is offered to staff.wh1; answers the pick task ids."""
    lead = server.login("lead.cs")
    tasks = []
    for i in range(n):
        r = requests.post(f"{server.base}{V1}/work-orders", json={"template": "crash_pick", "title": f"crash {i}"}, headers=lead, timeout=30)
        assert r.status_code == 201, r.text
        tasks.append(r.json()["tasks"][0]["id"])
    return tasks


def complete(server: Server, headers: dict, task_id: int, key: str, crash: str | None = None, timeout: float = 30):
    extra = {"Idempotency-Key": key, **({"X-Baton-Crash": crash} if crash else {})}
    return requests.post(f"{server.base}{V1}/tasks/{task_id}/complete", json={"outcome": "done", "note": f"n{task_id}"},
                         headers={**headers, **extra}, timeout=timeout)


def check_invariants(app) -> dict:
    """The engine's rules hold for every crash_pick work order; answers counts for the test to reason about."""
    from app.notify.models import Notification, PushDelivery, PushSubscription
    from app.workorders.models import Task, TaskCandidate, TimelineEvent, WorkOrder, WorkOrderStep

    with app.app_context():
        db.session.remove()
        problems = []
        orders = db.session.scalars(select(WorkOrder).where(WorkOrder.template_key == "crash_pick")).all()
        counts = {"completed": 0, "open": 0}
        for wo in orders:
            steps = {s.key: s for s in db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == wo.id))}
            tasks = db.session.scalars(select(Task).where(Task.work_order_id == wo.id).order_by(Task.id)).all()
            picks = [t for t in tasks if t.step == "pick"]
            checks = [t for t in tasks if t.step == "check"]
            if len(picks) != 1:
                problems.append(f"{wo.id}: {len(picks)} pick tasks")
                continue
            pick = picks[0]
            completed_events = db.session.scalars(select(TimelineEvent).where(
                TimelineEvent.task_id == pick.id, TimelineEvent.kind == "completed")).all()
            if pick.status == "completed":
                counts["completed"] += 1
                if len(completed_events) != 1:
                    problems.append(f"task {pick.id} completed with {len(completed_events)} 'completed' events")
                if None in (pick.completed_at, pick.completed_by_id, pick.outcome):
                    problems.append(f"task {pick.id} completed without time, person or outcome")
                if steps["pick"].status != "completed":
                    problems.append(f"{wo.id}: pick task completed but its step is {steps['pick'].status}")
                if steps["check"].status != "active" or len(checks) != 1 or checks[0].status != "open":
                    problems.append(f"{wo.id}: after pick, check step {steps['check'].status} with {[c.status for c in checks]}")
                if wo.status != "in_progress" or wo.started_at is None:
                    problems.append(f"{wo.id}: status {wo.status} after its first step completed")
                if db.session.scalar(select(func.count()).select_from(TaskCandidate).where(
                        TaskCandidate.task_id == pick.id, TaskCandidate.is_open.is_(True))):
                    problems.append(f"task {pick.id} completed but still offered")
                # Every candidate of the new check task was told, once; each of their devices has one outbox row.
                candidates = set(db.session.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == checks[0].id)))
                offered = db.session.execute(select(Notification.user_id, Notification.id).where(
                    Notification.kind == "task.offered", Notification.url == f"/#/task/{checks[0].id}")).all()
                told = [u for u, _ in offered]
                if sorted(told) != sorted(candidates):
                    problems.append(f"task {checks[0].id}: candidates {sorted(candidates)} but notified {sorted(told)}")
                for user_id, note_id in offered:
                    devices = db.session.scalar(select(func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user_id))
                    rows = db.session.scalar(select(func.count()).select_from(PushDelivery).where(PushDelivery.notification_id == note_id))
                    if rows != devices:
                        problems.append(f"notification {note_id}: {rows} outbox rows for {devices} devices")
            else:
                counts["open"] += 1
                if pick.status != "open" or pick.assignee_id is not None or completed_events:
                    problems.append(f"task {pick.id}: {pick.status}, assignee {pick.assignee_id}, {len(completed_events)} events")
                if steps["pick"].status != "active" or steps["check"].status != "pending" or checks:
                    problems.append(f"{wo.id}: pick {steps['pick'].status}, check {steps['check'].status}, {len(checks)} check tasks")
                if wo.status != "open":
                    problems.append(f"{wo.id}: status {wo.status} with nothing done")
        duplicates = db.session.execute(
            select(Notification.user_id, Notification.kind, Notification.url, Notification.tag, func.count())
            .group_by(Notification.user_id, Notification.kind, Notification.url, Notification.tag).having(func.count() > 1)).all()
        problems += [f"duplicate notification {d}" for d in duplicates]
        db.session.remove()
    assert not problems, "\n".join(problems)
    return counts


def test_a_worker_killed_inside_a_completion_leaves_nothing_half_written(crash_db, tmp_path):
    app, url = crash_db
    server = Server(url, tmp_path)
    try:
        staff = server.login("staff.wh1")
        before_commit, after_commit = open_work_orders(server, 2)
        before = check_invariants(app)

        # Killed with every statement of the completion run but not committed: nothing of it may remain.
        with pytest.raises(requests.ConnectionError):
            complete(server, staff, before_commit, "crash-1", crash="before_commit")
        assert check_invariants(app) == before
        from app.common.idempotency import IdempotencyRecord

        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == "crash-1")) == 0
            db.session.remove()
        # The phone retries with the same key (gunicorn has started a new worker): it completes, once.
        retried = complete(server, staff, before_commit, "crash-1")
        assert retried.status_code == 200, retried.text
        after_retry = check_invariants(app)
        assert after_retry["completed"] == before["completed"] + 1

        # Killed just after the commit, before answering: the change is whole, and a retry never applies it twice.
        with pytest.raises(requests.ConnectionError):
            complete(server, staff, after_commit, "crash-2", crash="after_commit")
        after_crash = check_invariants(app)
        assert after_crash["completed"] == after_retry["completed"] + 1
        same_key = complete(server, staff, after_commit, "crash-2")
        # The first answer was never stored: the key stays "in progress" (409) rather than replaying or re-running.
        assert same_key.status_code in (200, 409), same_key.text
        new_key = complete(server, staff, after_commit, "crash-2-bis")
        assert new_key.status_code == 409 and new_key.json()["error"]["code"] == "task_completed", new_key.text
        assert check_invariants(app) == after_crash
    finally:
        server.kill()


def test_killing_the_server_during_many_completions_loses_or_doubles_nothing(crash_db, tmp_path):
    app, url = crash_db
    server = Server(url, tmp_path, workers=2)
    tasks = open_work_orders(server, 24)
    staff = server.login("staff.wh1")
    keys = {task_id: f"bulk-{task_id}" for task_id in tasks}
    answered = []

    def send(task_id):
        try:
            r = complete(server, staff, task_id, keys[task_id], timeout=60)
            answered.append(task_id)
            return r.status_code
        except requests.RequestException:
            return None

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, t) for t in tasks]
        deadline = time.monotonic() + 60
        while len(answered) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # mid-flight: some completions committed, some in a transaction, some not started
        statuses = [f.result() for f in futures]
    assert not [s for s in statuses if s is not None and s >= 500], statuses
    first = check_invariants(app)

    # The phones retry everything with the same keys against a restarted server.
    server = Server(url, tmp_path, workers=2)
    try:
        staff = server.login("staff.wh1")
        with ThreadPoolExecutor(8) as pool:
            retried = list(pool.map(lambda t: complete(server, staff, t, keys[t], timeout=60), tasks))
        for task_id, r in zip(tasks, retried):
            assert r.status_code in (200, 409), (task_id, r.status_code, r.text)
            if r.status_code == 409:
                assert r.json()["error"]["code"] in ("task_completed", "idempotency_in_progress"), r.text
        final = check_invariants(app)
        assert final["completed"] >= first["completed"]
        from app.workorders.models import Task

        with app.app_context():
            done = set(db.session.scalars(select(Task.id).where(Task.id.in_(tasks), Task.status == "completed")))
            db.session.remove()
        assert done == set(tasks)  # every completion landed exactly once (invariants count the events)
    finally:
        server.kill()


def test_a_recall_fan_out_killed_inside_a_batch_resumes_without_duplicates(crash_db):
    app, url = crash_db
    try:
        from app.quality.recall import run_recall_fanout  # noqa: F401
        from app.quality.models import AndonRecall, RecallJob
    except ImportError:
        pytest.skip("no recall fan-out in app/quality yet")
    orders, batch_size = 90, 20
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with app.app_context():
        client = app.test_client()
        admin = {"Authorization": f"Bearer {worlds.login(client, 'admin')}"}
        r = client.post(f"{V1}/products", json={"products": [{"sku": "SKU-CRASH", "name": "Crash yoghurt"}]}, headers=admin)
        assert r.status_code == 200, r.json
        r = client.post(f"{V1}/orders", headers=admin, json={"orders": [
            {"order_no": f"SO-CRASH-{n:04d}", "customer_ref": f"C-{n:04d}", "placed_at": (now - timedelta(days=3)).isoformat(),
             "lines": [{"sku": "SKU-CRASH", "qty": 1, "warehouse": "WH-SH-01", "driver": "driver.li",
                        "shipped_at": (now - timedelta(days=2)).isoformat(), "delivered_at": (now - timedelta(days=1)).isoformat()}]}
            for n in range(orders)]})
        assert r.status_code == 200, r.json
        quality = {"Authorization": f"Bearer {worlds.login(client, 'quality.qa')}"}
        pulled = client.post(f"{V1}/andon", json={"scope": "product", "sku": "SKU-CRASH", "action": "recall", "reason": "crash test"},
                             headers=quality)
        assert pulled.status_code == 201, pulled.json
        andon_id = pulled.json["id"]
        db.session.remove()

    def run(crash_in_batch=None):
        args = [sys.executable, "-m", "tests.hardening.recall_runner", url, str(andon_id), str(batch_size)]
        if crash_in_batch:
            args.append(str(crash_in_batch))
        return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)

    def state():
        from app.notify.models import Notification
        from app.workorders.models import WorkOrder

        with app.app_context():
            db.session.remove()
            links = db.session.execute(select(AndonRecall.order_id, AndonRecall.work_order_id).where(AndonRecall.andon_id == andon_id)).all()
            # This database holds one recall andon: every recall work order belongs to it.
            recall_wos = db.session.scalars(select(WorkOrder.id).where(WorkOrder.source == "recall")).all()
            job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon_id))
            # One offer per candidate per committed batch (bulk.py's `_announce`), tagged with the batch's first number.
            offers = db.session.execute(select(Notification.user_id, func.count()).where(
                Notification.kind == "task.offered", Notification.tag.like("bulk-recall-%")).group_by(Notification.user_id)).all()
            result = {"links": links, "work_orders": sorted(recall_wos), "job": (job.status, job.created, job.batches),
                      "offers": dict(offers)}
            db.session.remove()
        assert len({o for o, _ in result["links"]}) == len(result["links"]), "an order recalled twice"
        assert sorted(w for _, w in result["links"]) == result["work_orders"], "a recall work order without its link, or the reverse"
        assert result["offers"] and set(result["offers"].values()) == {result["job"][2]}, result["offers"]  # none lost, none twice
        return result

    killed = run(crash_in_batch=3)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr[-2000:])
    partial = state()
    # The committed batches, none of the one killed (how the job splits its batches is its own business).
    assert 0 < len(partial["links"]) < orders, len(partial["links"])
    assert partial["job"][0] == "pending" and partial["job"][1] == len(partial["links"]), partial["job"]
    check_invariants(app)  # nothing about the crash_pick work orders changed, and no duplicate notification anywhere

    done = run()
    assert done.returncode == 0, done.stderr[-2000:]
    final = state()
    assert len(final["links"]) == orders
    assert final["job"][:2] == ("done", orders) and final["job"][2] >= -(-orders // batch_size), final["job"]
    again = run()  # a third run (a redelivered message) finds nothing to do
    assert again.returncode == 0 and state() == final
    check_invariants(app)
