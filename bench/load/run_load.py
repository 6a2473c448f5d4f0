"""Load and soak runs: gunicorn (app.wsgi:app) on a fresh PostgreSQL database on 127.0.0.1, locust headless.

    python bench/load/run_load.py --seconds 180 --users 60 --workers 4          # make load
    python bench/load/run_load.py --seconds 600 --users 60 --workers 4 --soak   # make soak

Prints throughput, p50/p95/p99 per request kind, error counts and, with --soak, each worker's RSS over time
(first, last, max and slope). Everything binds to 127.0.0.1; the database is dropped at the end unless --keep-db.
"""
import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PASSWORD = "load-test-password"
PG_ADMIN_URL = os.environ.get("BATON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database() -> tuple[str, str]:
    import psycopg

    name = f"baton_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def seed(database_url: str, *, staff: int, leads: int, quality: int) -> dict:
    """The demo organisation plus a load warehouse of `staff` people, leads and quality, a pool template and an andon."""
    from app import create_app
    from app.extensions import db
    from app.org import service as org
    from app.org.models import Department
    from app.seed import seed_classifications, seed_organisation, seed_templates
    from sqlalchemy import select

    # Cheap hashes for the seeded people only: the server keeps the production defaults.
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 8192,
                      "SECRET_KEY": secrets.token_urlsafe(48)})
    with app.app_context():
        db.create_all()
        seed_organisation()
        seed_classifications()
        seed_templates()
        ops = db.session.scalar(select(Department.id).where(Department.code == "OPS"))
        wh = org.create_department(code="LOAD-WH", name="Load warehouse", kind="warehouse", parent_id=ops)
        people = {"password": PASSWORD, "staff": [], "leads": [], "quality": []}
        for kind, count, roles, dept in (("leads", leads, ["lead"], wh.id), ("staff", staff, ["staff"], wh.id),
                                         ("quality", quality, ["quality"], None)):
            for n in range(count):
                login = f"load.{kind}.{n:03d}"
                org.create_user(login=login, password=PASSWORD, name=f"Load {kind} {n}", department_id=dept,
                                manager_id=None, roles=roles, permissions=[], locale="en")
                people[kind].append(login)
        db.session.commit()
        client = app.test_client()
        admin = {"Authorization": "Bearer " + client.post("/api/v1/auth/login", json={"login": "admin", "password": "baton-demo"}).json["token"]}
        template = {"key": "load_pick", "name": "Load: pick and check", "priority": "P3", "steps": [
            {"key": "pick", "title": "Pick", "mode": "pool", "assignees": {"departments": [wh.id]}, "sla": "PT1H", "outcomes": ["done"]},
            {"key": "check", "title": "Check", "after": ["pick"], "mode": "pool", "assignees": {"departments": [wh.id]}, "sla": "PT1H",
             "outcomes": ["ok", "problem"]},
        ]}
        response = client.post("/api/v1/templates", json=template, headers=admin)
        assert response.status_code == 201, response.json
        people["template"] = "load_pick"
        people["andons"] = []
        if client.post("/api/v1/products", json={"products": [{"sku": "SKU-LOAD-1", "name": "Load milk"}]}, headers=admin).status_code == 200:
            quality_lead = {"Authorization": "Bearer " + client.post(
                "/api/v1/auth/login", json={"login": "quality.qa", "password": "baton-demo"}).json["token"]}
            pulled = client.post("/api/v1/andon", json={"scope": "product", "sku": "SKU-LOAD-1", "action": "pause",
                                                        "reason": "load test"}, headers=quality_lead)
            if pulled.status_code == 201:
                people["andons"].append(pulled.json["id"])
        people["metrics"] = any(rule.rule == "/api/v1/metrics/summary" for rule in app.url_map.iter_rules())
        db.session.remove()
        db.engine.dispose()
    return people


def wait_healthy(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not become healthy")


class RssSampler(threading.Thread):
    """Every `interval` seconds, the RSS of each gunicorn worker (children of the master)."""

    def __init__(self, master_pid: int, interval: float):
        super().__init__(daemon=True)
        self.master_pid, self.interval = master_pid, interval
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self.stop = threading.Event()
        self.started = time.monotonic()

    def run(self):
        import psutil

        master = psutil.Process(self.master_pid)
        while not self.stop.is_set():
            t = time.monotonic() - self.started
            for child in master.children():
                try:
                    self.samples.setdefault(child.pid, []).append((t, child.memory_info().rss / 2**20))
                except psutil.NoSuchProcess:
                    pass
            self.stop.wait(self.interval)


def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 60


def report_rss(sampler: RssSampler, warmup: float) -> dict:
    print("\nWorker memory (RSS, MiB):")
    print(f"  {'pid':>8} {'first':>8} {'last':>8} {'max':>8} {'slope/min':>10} {'slope/min after warm-up':>24}")
    summary = {}
    for pid, points in sorted(sampler.samples.items()):
        settled = [p for p in points if p[0] >= warmup] or points
        whole, late = slope_mb_per_min(points), slope_mb_per_min(settled)
        first, last, peak = points[0][1], points[-1][1], max(m for _, m in points)
        summary[pid] = {"first": first, "last": last, "max": peak, "slope_mb_per_min": whole, "slope_after_warmup": late,
                        "samples": len(points)}
        print(f"  {pid:>8} {first:8.1f} {last:8.1f} {peak:8.1f} {whole:10.3f} {late:24.3f}")
    late_slopes = [s["slope_after_warmup"] for s in summary.values()]
    if late_slopes:
        worst = max(late_slopes)
        # 0.5 MiB/min would be 720 MiB a day: a leak worth a look. Below that is allocator noise and caches filling.
        verdict = "GROWS" if worst > 0.5 else "flat"
        print(f"  verdict: {verdict} (worst slope after warm-up {worst:.3f} MiB/min; threshold 0.5)")
    return summary


def read_stats(prefix: str) -> list[dict]:
    with open(prefix + "_stats.csv") as f:
        return list(csv.DictReader(f))


def report(stats: list[dict], seconds: float, failures_csv: str, conflicts: dict) -> dict:
    print(f"\n{'request':<32} {'count':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}  (ms)")
    aggregated = {}
    for row in stats:
        line = (f"{row['Name'][:32]:<32} {int(row['Request Count']):>7} {int(row['Failure Count']):>5} "
                f"{float(row['Requests/s']):>7.1f} {row['50%']:>6} {row['95%']:>6} {row['99%']:>6} {float(row['Max Response Time']):>7.0f}")
        print(line)
        if row["Name"] == "Aggregated":
            aggregated = row
    if os.path.exists(failures_csv):
        with open(failures_csv) as f:
            failures = list(csv.DictReader(f))
        if failures:
            print("\nFailures:")
            for row in failures:
                print(f"  {row['Occurrences']:>6} x {row['Method']} {row['Name']}: {row['Error'][:160]}")
    if conflicts:
        print("\nExpected conflicts (answered 409 by design, not failures):")
        for name, count in sorted(conflicts.items()):
            print(f"  {count:>6} x {name}")
    result = {
        "requests": int(aggregated.get("Request Count", 0)),
        "failures": int(aggregated.get("Failure Count", 0)),
        "throughput_rps": float(aggregated.get("Requests/s", 0)),
        "p50_ms": aggregated.get("50%"),
        "p95_ms": aggregated.get("95%"),
        "p99_ms": aggregated.get("99%"),
    }
    print(f"\nTOTAL: {result['requests']} requests in {seconds:.0f} s, {result['throughput_rps']:.1f} req/s, "
          f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, {result['failures']} failures")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--users", type=int, default=60, help="simulated phones")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--soak", action="store_true", help="sample worker RSS and report its trend")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--no-worker", action="store_true", help="do not run `flask worker` (timers, pushes) beside the server")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    staff = max(int(args.users * 0.8), 1)
    leads = max(args.users // 8, 2)
    quality = max(args.users // 20, 1)
    name, url = create_database()
    work = Path(tempfile.mkdtemp(prefix="baton-load-"))
    processes: list[subprocess.Popen] = []
    print(f"database {name}; logs and CSVs in {work}")
    try:
        people = seed(url, staff=staff, leads=leads, quality=quality)
        (work / "people.json").write_text(json.dumps(people))
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(48), "BATON_ENV": "development",
               "BATON_PUSH_PROVIDER": "log", "BATON_INSTANCE_DIR": str(work / "instance"), "LOG_LEVEL": "WARNING",
               "BATON_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000"}
        (work / "instance").mkdir()
        server_log = open(work / "gunicorn.log", "w")
        server = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(ROOT / "app/gunicorn_conf.py"),
                                   "--workers", str(args.workers), "--threads", str(args.threads),
                                   "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--access-logfile", "-",
                                   "--access-logformat", '%(s)s %(m)s %(U)s %(M)sms', "app.wsgi:app"],
                                  cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base)
        if not args.no_worker:
            worker_log = open(work / "worker.log", "w")
            processes.append(subprocess.Popen([str(BIN / "flask"), "--app", "app", "worker", "--interval", "2"], cwd=ROOT, env=env,
                                              stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True))
        sampler = None
        if args.soak:
            sampler = RssSampler(server.pid, args.sample_every)
            sampler.start()
        prefix = str(work / "locust")
        conflicts_path = work / "conflicts.json"
        started = time.monotonic()
        subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "bench/load/locustfile.py"), "--headless", "--host", base,
                        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.seconds}s",
                        "--csv", prefix, "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"],
                       cwd=ROOT, env={**os.environ, "BATON_LOAD_PEOPLE": str(work / "people.json"),
                                      "BATON_LOAD_CONFLICTS": str(conflicts_path)},
                       stdout=open(work / "locust.log", "w"), stderr=subprocess.STDOUT, check=False)
        elapsed = time.monotonic() - started
        print(f"\n{args.users} phones ({staff} staff, {leads} leads, {quality} quality) for {args.seconds} s "
              f"against {args.workers} gunicorn workers x {args.threads} threads on PostgreSQL")
        conflicts = json.loads(conflicts_path.read_text()) if conflicts_path.exists() else {}
        figures = report(read_stats(prefix), elapsed, prefix + "_failures.csv", conflicts)
        server_log.flush()
        errors_5xx = sum(1 for line in open(work / "gunicorn.log") if line[:1] == "5" and line[:3].isdigit())
        tracebacks = sum(1 for line in open(work / "gunicorn.log") if line.startswith("Traceback"))
        print(f"server: {errors_5xx} answers with status 5xx, {tracebacks} tracebacks in the log")
        figures.update(server_5xx=errors_5xx, server_tracebacks=tracebacks)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            figures["rss"] = report_rss(sampler, warmup=min(120.0, args.seconds / 4))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return 0 if errors_5xx == 0 else 1
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if not args.keep_db:
            drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
