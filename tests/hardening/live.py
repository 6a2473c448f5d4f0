"""A real server for the hardening tests: a PostgreSQL database of their own, gunicorn in a subprocess, and the
engine's rules checked on the data it leaves behind (crash safety, database outages)."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASH, PG_ADMIN_URL
from tests.hardening import world as worlds

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
V1 = "/api/v1"
SECRET_KEY = "crash-secret-key-that-is-long-enough-123456"
TEMPLATE = {"key": "crash_pick", "name": "Crash: pick then check", "priority": "P3", "steps": [
    {"key": "pick", "title": "Pick", "mode": "pool", "assignees": {"departments": ["WH-SH-01"]}, "sla": "PT1H", "outcomes": ["done"]},
    {"key": "check", "title": "Check", "after": ["pick"], "mode": "pool", "assignees": {"departments": ["WH-SH-01"]},
     "sla": "PT1H", "outcomes": ["ok"]},
]}



@contextmanager
def seeded_database(prefix: str):
    """A database of its own with the demo organisation and the crash_pick template: the server subprocess writes to
    it while the test reads it. Yields (app, url); dropped at the end."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, **FAST_HASH})
    try:
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
    finally:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


class Server:
    """gunicorn on 127.0.0.1 in its own process group, so that it can be killed whole.

    `config` is the gunicorn configuration file: the crash hooks by default, or Baton's own (app/gunicorn_conf.py).
    """

    def __init__(self, url: str, tmp_path: Path, workers: int = 1, *, config: str = "tests/hardening/crash_hooks.py",
                 threads: int = 1, env: dict | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
               "BATON_ENV": "development", "BATON_PUSH_PROVIDER": "log", "BATON_INSTANCE_DIR": str(tmp_path),
               "LOG_LEVEL": "WARNING", **(env or {})}
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / config), "--workers", str(workers), "--threads", str(threads),
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
        raise AssertionError("gunicorn did not start: " + self.log_path.read_text()[-2000:])

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
