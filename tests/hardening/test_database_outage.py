"""The database goes away under load (PostgreSQL, through a real gunicorn with Baton's configuration).

Phones read their inbox and work orders and complete tasks with an Idempotency-Key, as the app does, while
1. the server side of every pooled connection is killed again and again (a restart: `pg_terminate_backend`), and
2. the database becomes unreachable (a failover: a TCP proxy in front of PostgreSQL is stopped), then comes back.
Every answer is 2xx, an ordinary 4xx, or 503 in the error format with Retry-After: never a 500, never a dropped
connection. Afterwards the phones retry what failed with the same keys: every task is completed exactly once.
"""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from app.extensions import db
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.hardening import live
from tests.hardening.live import V1, Server, check_invariants, complete, open_work_orders

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="outages are simulated on PostgreSQL")


class TcpProxy:
    """A TCP proxy to PostgreSQL that the test can cut and restore, on the same port: a failover as the app sees it."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.listener = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        with self.lock:
            self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        with self.lock:
            listener, self.listener = self.listener, None
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone does not
            except OSError:
                pass
            listener.close()
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:  # stopped while this one was being connected: cut it too
                    client.close()
                    upstream.close()
                    return
                self.sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture(scope="module")
def outage_db():
    with live.seeded_database("baton_outage") as (app, url):
        yield app, url


def _kill_backends(name: str) -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        return len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall())


def test_a_restart_and_a_failover_under_load_answer_2xx_or_503_and_lose_nothing(outage_db, tmp_path):
    app, url = outage_db
    name = url.rsplit("/", 1)[1]
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert proxied != url
    server = Server(proxied, tmp_path, workers=2, threads=4, config="app/gunicorn_conf.py",
                    env={"BATON_DB_RETRY_AFTER_SECONDS": "2", "BATON_DB_CONNECT_TIMEOUT_SECONDS": "2"})
    answers: list[tuple[str, str, int, dict]] = []  # (phase, what, status, details)
    phase = {"now": "restarts"}
    try:
        tasks = open_work_orders(server, 40)
        staff, lead = server.login("staff.wh1"), server.login("lead.cs")
        keys = {task_id: f"outage-{task_id}" for task_id in tasks}
        to_complete = list(tasks[:20])  # the rest are sent during the failover
        done: set[int] = set()
        lock = threading.Lock()
        stop = threading.Event()
        killing = threading.Event()
        killed = []

        def note(what: str, response) -> None:
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            error = response.json().get("error", {}) if is_json else {}
            answers.append((phase["now"], what, response.status_code,
                            {"code": error.get("code"), "retry_after": response.headers.get("Retry-After"),
                             "json": bool(error) or response.status_code < 400}))

        def phone(number: int) -> None:
            turn = 0
            while not stop.is_set():
                turn += 1
                if turn % 6 == 0:
                    with lock:
                        task_id = to_complete.pop(0) if to_complete else None
                    if task_id is None:
                        continue
                    r = complete(server, staff, task_id, keys[task_id], timeout=30)
                    note("complete", r)
                    with lock:
                        # 409: already applied (its answer lost, or kept pending by a store the outage cut off).
                        if r.status_code in (200, 409):
                            done.add(task_id)
                        else:
                            to_complete.append(task_id)  # the phone keeps it in its outbox and retries with the same key
                elif turn % 2:
                    note("inbox", requests.get(f"{server.base}{V1}/tasks/inbox", headers=staff, timeout=30))
                else:
                    note("work order", requests.get(f"{server.base}{V1}/work-orders/{tasks[number]}", headers=lead, timeout=30))

        def killer() -> None:
            while killing.is_set():  # a restart every second: every connection, busy or idle, dies at once
                killed.append(_kill_backends(name))
                time.sleep(1)

        with ThreadPoolExecutor(8) as pool:
            phones = [pool.submit(phone, n) for n in range(6)]
            try:
                # 1. Restarts: the server side of every connection dies, again and again.
                killing.set()
                threading.Thread(target=killer, daemon=True).start()
                time.sleep(4)
                killing.clear()
                # 2. A failover: the database cannot be reached at all for a while.
                phase["now"] = "failover"
                proxy.stop()
                with lock:
                    to_complete.extend(tasks[20:])
                time.sleep(1)
                health = requests.get(f"{server.base}/healthz", timeout=30)
                assert health.status_code == 503 and health.headers["Retry-After"] == "2", health.text
                assert health.json()["database"] == "unavailable" and "database" in health.json()["down"]
                time.sleep(2)
                # 3. The database is back: the same workers serve again without a restart.
                phase["now"] = "back"
                proxy.start()
                deadline = time.monotonic() + 20
                while requests.get(f"{server.base}/healthz", timeout=30).status_code != 200:
                    assert time.monotonic() < deadline, "the app did not recover once the database was back"
                    time.sleep(0.2)
                time.sleep(2)
            finally:
                # Whatever failed above, the phones stop (else leaving this block would wait for them for ever).
                killing.clear()
                stop.set()
            for future in phones:
                future.result()  # a phone that met a dropped connection or a timeout fails the test here

        # The phones send what is still in their outboxes, with the same keys.
        def flush_outbox(task_id: int) -> None:
            for _ in range(50):
                r = complete(server, staff, task_id, keys[task_id])
                note("complete (outbox)", r)
                if r.status_code == 200 or r.status_code == 409:
                    return  # done, or already applied (in progress or its answer lost): counted below
                time.sleep(0.2)
            raise AssertionError(f"task {task_id} could not be completed: {r.status_code} {r.text}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(flush_outbox, [t for t in tasks if t not in done]))

        server_errors = [a for a in answers if a[2] >= 500 and a[2] != 503]
        assert not server_errors, server_errors[:10]
        unavailable = [a for a in answers if a[2] == 503]
        assert all(a[3]["code"] in ("database_unavailable", "database_busy") and a[3]["retry_after"] == "2"
                   for a in unavailable), unavailable[:5]
        assert all(a[3]["json"] for a in answers), [a for a in answers if not a[3]["json"]][:5]
        assert sum(killed) > 0
        by_phase = {p: [a[2] for a in answers if a[0] == p] for p in ("restarts", "failover", "back")}
        assert 503 in by_phase["failover"], by_phase["failover"]
        assert any(a[0] == "failover" and a[1] == "complete" and a[2] == 503 for a in answers)
        assert any(s < 300 for s in by_phase["restarts"]) and any(s < 300 for s in by_phase["back"]), by_phase
        log = server.log_path.read_text()
        assert "running it again" in log  # requests that met a dead connection were run again, not failed
        assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
    finally:
        server.kill()
        proxy.stop()

    with app.app_context():
        db.engine.dispose()  # the test's own pooled connections were killed too
    final = check_invariants(app)  # nothing half-written, no duplicate completion, every notification once
    assert final["completed"] == len(tasks)
