"""Claims through the HTTP API under gunicorn on PostgreSQL, against a one-UPDATE baseline served the same way.

    .venv/bin/python bench/bench_claims.py [--clients 32] [--per-client 40] [--group-size 8]
        [--contended-rounds 40] [--workers 4] [--threads 2] [--baseline-seconds 8]

Creates its own database `baton_bench_claims_*` (dropped at the end), the schema, one lead and one
staff member per client, groups of --group-size staff and one pool template per group (SLA and
reminder, so timers are armed as in real use). Then, with --clients concurrent HTTP clients (asyncio +
aiohttp, one keep-alive connection each, like one phone each):

  baseline   POST /bump/<random row> on bench/baseline_app.py: one `UPDATE ... RETURNING`, nothing else
  create     POST /api/v1/work-orders               (each client's lead opens work orders for its group)
  claim      POST /api/v1/tasks/{id}/claim          (each task claimed once, by its own client: no contention)
  complete   POST /api/v1/tasks/{id}/complete       (resolves the work order)
  contended  the --group-size members of a group claim the same task at once, --contended-rounds times
  baseline   again, so that a drift of the shared machine shows

Prints one figure per line: rates, p50/p95 latencies, the 409 share of the contended phase and the
ratio claims/s : baseline req/s (target >= 0.5). Exit status 1 only when a correctness check fails
(a claim that should win did not, or a contended task had other than one winner); timing never fails it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import figure, note, percentile  # noqa: E402

import aiohttp  # noqa: E402

BASELINE_ROWS = 10_000
TARGET_RATIO = 0.5
PASSWORD = "bench-password-1"


# --------------------------------------------------------------------------
# Set-up: people, groups and one pool template per group, through the models and services
# --------------------------------------------------------------------------


def setup(app, clients: int, group_size: int) -> dict:
    from app.org.passwords import hash_password
    from app.common.clock import utcnow
    from app.extensions import db
    from app.flows import service as flows
    from app.flows.schemas import TemplateSchema
    from app.org.models import Department, Group, GroupMember, User, UserRole

    with app.app_context():
        password_hash = hash_password(PASSWORD)  # one Argon2 hash shared by everyone: sign-in is not measured
        dept = Department(code="BENCH", name="Bench floor", kind="operations")
        db.session.add(dept)
        db.session.flush()
        boss = User(login="bench.boss", name="Bench boss", password_hash=password_hash, department_id=dept.id)
        db.session.add(boss)
        db.session.flush()
        leads, staff = [], []
        for i in range(clients):
            lead = User(login=f"bench.lead{i}", name=f"Lead {i}", password_hash=password_hash, department_id=dept.id, manager_id=boss.id)
            db.session.add(lead)
            db.session.flush()
            db.session.add(UserRole(user_id=lead.id, role="lead"))
            leads.append(lead.id)
        for i in range(clients):
            member = User(login=f"bench.staff{i}", name=f"Staff {i}", password_hash=password_hash, department_id=dept.id,
                          manager_id=leads[i])
            db.session.add(member)
            db.session.flush()
            db.session.add(UserRole(user_id=member.id, role="staff"))
            staff.append(member.id)
        groups = []
        for g in range(0, clients, group_size):
            group = Group(name=f"bench-team-{g // group_size}")
            db.session.add(group)
            db.session.flush()
            db.session.add_all(GroupMember(group_id=group.id, user_id=u) for u in staff[g:g + group_size])
            groups.append(group.id)
        dept.head_id = boss.id
        db.session.commit()
        for n, group_id in enumerate(groups):
            body = {"key": f"bench-pool-{n}", "name": f"Bench pool {n}", "priority": "P3", "owner_department_id": dept.id,
                    "steps": [{"key": "handle", "title": "Handle it", "mode": "pool", "assignees": {"groups": [group_id]},
                               "sla": "PT1H", "remind_before": "PT10M", "outcomes": ["done", "not_needed"]}]}
            flows.create_template(body=TemplateSchema().load(body), created_by=None, now=utcnow())
        return {"leads": leads, "staff": staff, "groups": groups}


def create_baseline_table(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_counters (id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0)")
        conn.execute("INSERT INTO bench_counters (id) SELECT generate_series(1, %s)", (BASELINE_ROWS,))
        conn.execute("VACUUM ANALYZE bench_counters")


# --------------------------------------------------------------------------
# The load: one coroutine and one keep-alive connection per client
# --------------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.latencies: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        self.errors: list[str] = []

    def add(self, kind: str, status: int, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=False, enable_cleanup_closed=True),
                                 timeout=aiohttp.ClientTimeout(total=60))


async def call(http: aiohttp.ClientSession, rec: Recorder | None, kind: str, method: str, url: str, token: str | None,
               body: dict | None = None) -> tuple[int, dict | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    async with http.request(method, url, json=body, headers=headers) as response:
        data = await response.read()
        status = response.status
    elapsed = time.perf_counter() - started
    if rec is not None:
        rec.add(kind, status, elapsed)
    if response.content_type == "application/json":
        import json

        return status, json.loads(data)
    return status, None


async def run_phase(n_clients: int, work) -> float:
    """Run `work(i, http)` for every client at once; answer the wall time of the phase."""
    sessions = [session() for _ in range(n_clients)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(work(i, sessions[i]) for i in range(n_clients)))
        return time.perf_counter() - started
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


async def baseline_phase(base: str, clients: int, seconds: float, token: str, meter: Meter | None = None):
    rec = Recorder()
    stop_at = time.perf_counter() + seconds

    async def work(i, http):
        rng = random.Random(i)
        while time.perf_counter() < stop_at:
            await call(http, rec, "baseline", "POST", f"{base}/bump/{rng.randint(1, BASELINE_ROWS)}", token, {})

    if meter:
        meter.start()
    wall = await run_phase(clients, work)
    return wall, rec, meter.stop() if meter else None


# --------------------------------------------------------------------------


def summarise(rec: Recorder, kind: str, wall: float, label: str | None = None, cpu: dict | None = None, server: str = "app") -> float:
    label = label or kind
    lat = rec.latencies.get(kind, [])
    ok = rec.statuses.get(kind, {}).get(200, 0) + rec.statuses.get(kind, {}).get(201, 0)
    rate = ok / wall if wall else 0.0
    figure(f"{label}_per_s", rate)
    figure(f"{label}_p50_ms", percentile(lat, 50) * 1000)
    figure(f"{label}_p95_ms", percentile(lat, 95) * 1000)
    if cpu and ok:
        # CPU per successful request: the gunicorn workers, all of PostgreSQL, and this load generator.
        figure(f"{label}_cpu_ms_per_req_server", cpu[server] / ok * 1000)
        figure(f"{label}_cpu_ms_per_req_postgres", cpu["postgres"] / ok * 1000)
        figure(f"{label}_cpu_ms_per_req_client", cpu["client"] / ok * 1000)
    return rate


class Meter:
    def __init__(self, cpu: "benchlib.CpuMeter"):
        self.cpu, self.last = cpu, None

    def start(self):
        self.last = self.cpu.snapshot()

    def stop(self) -> dict:
        return benchlib.CpuMeter.delta(self.last, self.cpu.snapshot())


async def main_async(args, base_app: str, base_line: str, tokens: dict, people: dict, meter: Meter) -> int:
    clients, group_size = args.clients, args.group_size
    failures = 0
    lead_tok = [tokens[u] for u in people["leads"]]
    staff_tok = [tokens[u] for u in people["staff"]]
    group_of = [i // group_size for i in range(clients)]
    some_token = staff_tok[0]

    # Sign-in through HTTP once, to show that the minted tokens are what sign-in gives.
    async with session() as http:
        status, body = await call(http, None, "login", "POST", f"{base_app}/api/v1/auth/login", None,
                                  {"login": "bench.staff0", "password": PASSWORD})
        if status != 200 or "token" not in (body or {}):
            print(f"sign-in failed: {status} {body}", file=sys.stderr)
            return 1
        status, _ = await call(http, None, "inbox", "GET", f"{base_app}/api/v1/tasks/inbox", body["token"])
        if status != 200:
            print(f"inbox with the signed-in token failed: {status}", file=sys.stderr)
            return 1

    # Warm-up of both servers (every worker imports, connects and fills its caches); not counted.
    await baseline_phase(base_line, clients, 1.5, some_token)

    async def warm_app(i, http):
        for _ in range(2):
            _, wo = await call(http, None, "w", "POST", f"{base_app}/api/v1/work-orders", lead_tok[i],
                               {"template": f"bench-pool-{group_of[i]}", "title": "warm-up"})
            task_id = wo["tasks"][0]["id"]
            await call(http, None, "w", "POST", f"{base_app}/api/v1/tasks/{task_id}/claim", staff_tok[i], {})
            await call(http, None, "w", "POST", f"{base_app}/api/v1/tasks/{task_id}/complete", staff_tok[i], {"outcome": "done"})
            await call(http, None, "w", "GET", f"{base_app}/api/v1/tasks/inbox", staff_tok[i])

    await run_phase(clients, warm_app)

    base_wall, base_rec, cpu = await baseline_phase(base_line, clients, args.baseline_seconds, some_token, meter)
    baseline_before = summarise(base_rec, "baseline", base_wall, "baseline_before", cpu, "baseline")

    # create
    rec = Recorder()
    own: list[list[int]] = [[] for _ in range(clients)]
    contended: dict[int, list[int]] = {}

    async def create(i, http):
        for n in range(args.per_client + args.contended_rounds_share[i]):
            status, wo = await call(http, rec, "create", "POST", f"{base_app}/api/v1/work-orders", lead_tok[i],
                                    {"template": f"bench-pool-{group_of[i]}", "title": f"Bench order {i}-{n}"})
            if status != 201:
                rec.errors.append(f"create {status} {wo}")
                continue
            task_id = wo["tasks"][0]["id"]
            (own[i] if n < args.per_client else contended.setdefault(group_of[i], [])).append(task_id)

    meter.start()
    wall = await run_phase(clients, create)
    cpu = meter.stop()
    summarise(rec, "create", wall, cpu=cpu)

    # claim, uncontended: every claim must win
    async def claim(i, http):
        for task_id in own[i]:
            status, body = await call(http, rec, "claim", "POST", f"{base_app}/api/v1/tasks/{task_id}/claim", staff_tok[i], {})
            if status != 200:
                rec.errors.append(f"claim {task_id}: {status} {body}")

    meter.start()
    wall = await run_phase(clients, claim)
    cpu = meter.stop()
    claims_per_s = summarise(rec, "claim", wall, cpu=cpu)

    async def complete(i, http):
        for task_id in own[i]:
            status, body = await call(http, rec, "complete", "POST", f"{base_app}/api/v1/tasks/{task_id}/complete", staff_tok[i],
                                      {"outcome": "done", "note": "bench"})
            if status != 200:
                rec.errors.append(f"complete {task_id}: {status} {body}")

    meter.start()
    wall = await run_phase(clients, complete)
    cpu = meter.stop()
    summarise(rec, "complete", wall, cpu=cpu)

    # contended: the members of a group claim the same task at the same moment
    barriers = {g: asyncio.Barrier(sum(1 for x in group_of if x == g)) for g in set(group_of)}
    winners: dict[int, list[int]] = {}

    async def race(i, http):
        g = group_of[i]
        for task_id in contended.get(g, []):
            await barriers[g].wait()
            status, body = await call(http, rec, "contended_claim", "POST", f"{base_app}/api/v1/tasks/{task_id}/claim", staff_tok[i], {})
            if status == 200:
                winners.setdefault(task_id, []).append(people["staff"][i])
            elif status != 409 or ((body or {}).get("error") or {}).get("code") != "task_taken":
                rec.errors.append(f"contended claim {task_id}: {status} {body}")

    wall = await run_phase(clients, race)
    statuses = rec.statuses.get("contended_claim", {})
    attempts = sum(statuses.values())
    contended_tasks = sum(len(v) for v in contended.values())
    figure("contended_tasks", contended_tasks)
    figure("contended_attempts", attempts)
    figure("contended_attempts_per_s", attempts / wall if wall else 0.0)
    figure("contended_claim_p50_ms", percentile(rec.latencies.get("contended_claim", []), 50) * 1000)
    figure("contended_claim_p95_ms", percentile(rec.latencies.get("contended_claim", []), 95) * 1000)
    figure("contended_409_share", statuses.get(409, 0) / attempts if attempts else 0.0)
    figure("contended_409_share_expected", (group_size - 1) / group_size)
    bad = [t for ts in contended.values() for t in ts if len(winners.get(t, [])) != 1]
    figure("contended_tasks_without_exactly_one_winner", len(bad))

    base_wall, base_rec, cpu = await baseline_phase(base_line, clients, args.baseline_seconds, some_token, meter)
    baseline_after = summarise(base_rec, "baseline", base_wall, "baseline_after", cpu, "baseline")
    baseline = (baseline_before + baseline_after) / 2
    figure("baseline_per_s_mean", baseline)
    ratio = claims_per_s / baseline if baseline else 0.0
    figure("ratio_claims_to_baseline", ratio)
    figure("ratio_target", TARGET_RATIO)
    figure("target_met", "yes" if ratio >= TARGET_RATIO else "no")

    if rec.errors or bad:
        failures = 1
        for line in rec.errors[:20]:
            print("ERROR", line, file=sys.stderr)
        if bad:
            print(f"ERROR tasks without exactly one winner: {bad[:20]}", file=sys.stderr)
    args.winners = winners
    args.contended = contended
    args.own = own
    return failures


def check_database(app, args) -> int:
    """The database must agree with what the clients saw."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.workorders.models import Task

    with app.app_context():
        own_ids = [t for ts in args.own for t in ts]
        completed = db.session.scalar(select(func.count()).select_from(Task).where(Task.id.in_(own_ids), Task.status == "completed"))
        cont_ids = [t for ts in args.contended.values() for t in ts]
        rows = db.session.execute(select(Task.id, Task.status, Task.assignee_id).where(Task.id.in_(cont_ids))).all()
        agree = sum(1 for tid, status, assignee in rows if status == "claimed" and [assignee] == args.winners.get(tid))
    figure("db_completed_matches", f"{completed}/{len(own_ids)}")
    figure("db_contended_winner_matches", f"{agree}/{len(cont_ids)}")
    return 0 if completed == len(own_ids) and agree == len(cont_ids) else 1


def statement_counts(app, tokens: dict, people: dict) -> None:
    """SQL statements one create, claim and complete send (the app in-process, same code and database)."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    client = app.test_client()
    lead, member = people["leads"][0], people["staff"][0]
    headers = lambda u: {"Authorization": f"Bearer {tokens[u]}"}  # noqa: E731
    event.listen(engine, "before_cursor_execute", count)
    try:
        seen.clear()
        wo = client.post("/api/v1/work-orders", json={"template": "bench-pool-0", "title": "count"}, headers=headers(lead)).get_json()
        figure("sql_statements_per_create", len(seen))
        task_id = wo["tasks"][0]["id"]
        seen.clear()
        client.post(f"/api/v1/tasks/{task_id}/claim", json={}, headers=headers(member))
        figure("sql_statements_per_claim", len(seen))
        seen.clear()
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": "done"}, headers=headers(member))
        figure("sql_statements_per_complete", len(seen))
        figure("sql_statements_per_baseline_request", 1)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=40, help="uncontended work orders per client")
    parser.add_argument("--group-size", type=int, default=8, help="candidates per pool task (and racers per contended task)")
    parser.add_argument("--contended-rounds", type=int, default=40, help="contended tasks per group")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    args = parser.parse_args()
    if args.clients % args.group_size:
        parser.error("--clients must be a multiple of --group-size")
    # Each group's contended tasks are opened by its members' leads, spread evenly.
    args.contended_rounds_share = [args.contended_rounds // args.group_size + (1 if (i % args.group_size) < args.contended_rounds % args.group_size else 0)
                                   for i in range(args.clients)]

    note(f"bench_claims on {benchlib.machine()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    note(f"gunicorn -k {args.worker_class} -w {args.workers} --threads {args.threads}; {args.clients} clients (aiohttp, keep-alive); "
         f"{args.group_size} candidates per task")
    secret = benchlib.new_secret()
    with benchlib.bench_database("claims") as url:
        app = benchlib.make_app(url, secret)
        benchlib.create_schema(app)
        people = setup(app, args.clients, args.group_size)
        create_baseline_table(url)
        with app.app_context():
            tokens = {u: benchlib.token_for(secret, u) for u in people["leads"] + people["staff"]}
        env = benchlib.app_environment(url, secret)
        env["BASELINE_DATABASE_URL"] = url
        server_opts = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
        with benchlib.Gunicorn("app.wsgi:app", env, **server_opts, log_path="/tmp/bench_claims_app.log") as app_srv, \
                benchlib.Gunicorn("baseline_app:app", env, **server_opts, pythonpath=os.path.join(benchlib.ROOT, "bench"),
                                  log_path="/tmp/bench_claims_baseline.log") as base_srv:
            app_srv.wait_ready("/healthz")
            base_srv.wait_ready("/healthz")
            meter = Meter(benchlib.CpuMeter({"app": app_srv.proc.pid, "baseline": base_srv.proc.pid}, url.rsplit("/", 1)[1]))
            failures = asyncio.run(main_async(args, app_srv.base, base_srv.base, tokens, people, meter))
        failures |= check_database(app, args)
        statement_counts(app, tokens, people)
        benchlib.close_app(app)
    return failures


if __name__ == "__main__":
    sys.exit(main())
