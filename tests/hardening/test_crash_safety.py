"""Data safety when a process dies mid-way (PostgreSQL): no half-written work order, no duplicate, no lost notification.

The server runs under gunicorn in a subprocess with tests/hardening/crash_hooks.py as its configuration: a worker
SIGKILLs itself at a chosen point of a completion (inside the transaction, or just after the commit). A second test
kills the whole server while many completions are in flight, and a third kills a recall fan-out inside a batch.
After each crash the database is checked against the engine's rules, then the work is retried and checked again.
"""
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from tests.conftest import BACKENDS
from tests.hardening import live
from tests.hardening import world as worlds
from tests.hardening.live import ROOT, V1, Server, check_invariants, complete, open_work_orders

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="crash safety is checked on PostgreSQL")


@pytest.fixture(scope="module")
def crash_db():
    """A database of its own: the server subprocess writes to it while the test reads it."""
    with live.seeded_database("baton_crash") as (app, url):
        yield app, url


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
