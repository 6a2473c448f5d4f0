"""Create, claim and complete over HTTP under gunicorn: Baton beside its peer (django-viewflow 2) and two baselines.

    .venv/bin/python bench/bench_claims.py [--clients 32] [--per-client 20] [--runs 2] [--group-size 8]
        [--contended-rounds 40] [--workers 4] [--threads 2] [--baseline-seconds 8] [--no-peer] [--idempotency-keys]

Creates its own database `baton_bench_claims_*` (dropped at the end), the schema, one lead and one staff member per
client, groups of --group-size staff and one pool template per group (SLA and reminder, so timers are armed as in
real use). The peer, unless --no-peer, is bench/peer/: the same one-step flow (start -> one human task claimable by
a group's members -> end) in django-viewflow 2 on its own database `baton_bench_claims_peer_*` (dropped too), with
the same people, installed on first use into bench/peer/.venv from bench/peer/requirements.txt (if that fails, the
bench says so and goes on without it). All four servers run under gunicorn with the same settings. Then, with
--clients concurrent HTTP clients (asyncio + aiohttp, one keep-alive connection each, like one phone each):

  baselines  POST /bump/<random row>, one `UPDATE ... RETURNING`: bench/baseline_app.py (bare WSGI, psycopg in
             autocommit) and bench/baseline_flask.py (Flask + SQLAlchemy Core, pooled, in a transaction)
  create     Baton POST /api/v1/work-orders; Viewflow POST /api/start/ (each client's lead, for its group)
  claim      Baton POST /api/v1/tasks/{id}/claim; Viewflow POST /api/{process}/handle/{task}/assign/
             (each task claimed once, by its own client: no contention)
  complete   Baton POST /api/v1/tasks/{id}/complete; Viewflow POST /api/{process}/handle/{task}/execute/ (ends it)
  contended  Baton only: the --group-size members of a group claim the same task at once, --contended-rounds times
  baselines  again, so that a drift of the shared machine shows

Each of create, claim and complete runs Baton and Viewflow in alternating runs (A B A B for --runs 2), each run
--per-client operations per client. Prints one figure per line, per system and operation: requests/s, p50/p95, CPU
ms per operation of the gunicorn workers, of that system's database backends and of this client, and SQL statements
per operation, and how many database backends waited on a lock while creations ran (serialised numbering would
show there); then the ratios Baton : Viewflow (whole-life CPU, target <= 0.4; req/s per operation, target >= 2)
and claims/s : baseline req/s (same-stack target >= 0.5; bare WSGI too), each with its bound: the ratio Baton would
reach if its workers spent on every operation only what the same-stack baseline's workers spend on a whole request
(Flask + SQLAlchemy + psycopg + one UPDATE), its database's and the client's CPU as measured (on a saturated machine
req/s are cores / CPU per request; a target above its bound needs the database's work to shrink). Exit status 1
only when a correctness check fails (an operation that should succeed did not, a contended task had other than one
winner, or a database disagrees with what the clients saw); timing never fails it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import figure, note, percentile  # noqa: E402

import aiohttp  # noqa: E402

BASELINE_ROWS = 10_000
TARGET_CLAIMS_TO_BASELINE = 0.5
TARGET_LIFE_CPU_RATIO = 0.4
TARGET_RATE_RATIO = 2.0
PASSWORD = "bench-password-1"
OPERATIONS = ("create", "claim", "complete")
PEER_DIR = os.path.join(benchlib.ROOT, "bench", "peer")
PEER_VENV = os.path.join(PEER_DIR, ".venv")


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
# The peer: bench/peer/ in its own venv, its own database, its own people
# --------------------------------------------------------------------------


def install_peer() -> str | None:
    """Make bench/peer/.venv from bench/peer/requirements.txt unless it was made from the same file; answer why not."""
    requirements = os.path.join(PEER_DIR, "requirements.txt")
    with open(requirements, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(PEER_VENV, "requirements.sha256")
    with contextlib.suppress(OSError), open(stamp) as f:
        if f.read().strip() == digest:
            return None
    note("installing the peer (bench/peer/requirements.txt) into bench/peer/.venv")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", PEER_VENV], check=True, capture_output=True, timeout=300)
        subprocess.run([os.path.join(PEER_VENV, "bin", "python"), "-m", "pip", "install", "-q", "-r", requirements],
                       check=True, capture_output=True, timeout=900)
    except subprocess.CalledProcessError as error:
        return f"{' '.join(error.cmd[:4])} failed: {error.stderr.decode(errors='replace')[-500:]}"
    except (subprocess.TimeoutExpired, OSError) as error:
        return str(error)
    with open(stamp, "w") as f:
        f.write(digest)
    return None


def peer_environment(url: str, secret_key: str) -> dict:
    """The peer's environment: its database and key, and none of Baton's paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL", "VIRTUAL_ENV")}
    env.update({"PEER_DATABASE_URL": url, "PEER_SECRET_KEY": secret_key, "DJANGO_SETTINGS_MODULE": "peerflow.settings",
                "PYTHONPATH": PEER_DIR})
    return env


def peer_manage(env: dict, *args: str) -> str:
    """Run the peer's `manage.py` with its own Python; answer what it printed."""
    done = subprocess.run([os.path.join(PEER_VENV, "bin", "python"), "manage.py", *args], cwd=PEER_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"peer manage.py {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def check_peer_database(url: str, claimed: dict[int, int], processes: list[int]) -> int:
    """Every claimed task is done and owned by exactly the staff member who claimed it; every completed process ended."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, owner_id, status FROM viewflow_task WHERE id = ANY(%s)", (list(claimed),)).fetchall()
        owned = sum(1 for task_id, owner, status in rows if owner == claimed[task_id] and status == "DONE")
        finished = conn.execute("SELECT count(*) FROM viewflow_process WHERE id = ANY(%s) AND status = 'DONE' AND finished IS NOT NULL",
                                (processes,)).fetchone()[0]
    figure("viewflow_db_tasks_done_by_their_claimer", f"{owned}/{len(claimed)}")
    figure("viewflow_db_processes_finished", f"{finished}/{len(processes)}")
    return 0 if owned == len(claimed) and finished == len(processes) else 1


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

    def ok(self, kind: str) -> int:
        return self.statuses.get(kind, {}).get(200, 0) + self.statuses.get(kind, {}).get(201, 0)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=False, enable_cleanup_closed=True),
                                 timeout=aiohttp.ClientTimeout(total=60))


async def call(http: aiohttp.ClientSession, rec: Recorder | None, kind: str, method: str, url: str, token: str | None,
               body: dict | None = None, key: str | None = None) -> tuple[int, dict | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if key:
        headers["Idempotency-Key"] = key
    started = time.perf_counter()
    async with http.request(method, url, json=body, headers=headers) as response:
        data = await response.read()
        status = response.status
    elapsed = time.perf_counter() - started
    if rec is not None:
        rec.add(kind, status, elapsed)
    if response.content_type == "application/json":
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


class Meter:
    def __init__(self, cpu: "benchlib.CpuMeter"):
        self.cpu, self.last = cpu, None

    def start(self):
        self.last = self.cpu.snapshot()

    def stop(self) -> dict:
        return benchlib.CpuMeter.delta(self.last, self.cpu.snapshot())


class Phase(NamedTuple):
    """A phase's requests/s and CPU ms per successful request: its server's workers, its database's backends, and
    this load generator (NaN when not metered)."""

    rate: float
    server: float
    postgres: float
    client: float

    @property
    def cpu_ms(self) -> float:
        """Workers + database: what a system spends on one request."""
        return self.server + self.postgres

    @property
    def machine_ms(self) -> float:
        """Everything the machine spends on one request, the load generator included: on a saturated machine,
        requests/s are its cores over this."""
        return self.server + self.postgres + self.client


def summarise(label: str, latencies: list[float], ok: int, wall: float, cpu: dict | None = None, server: str = "app") -> Phase:
    """Print a phase's figures; answer its rate and its CPU per successful request."""
    rate = ok / wall if wall else 0.0
    figure(f"{label}_per_s", rate)
    figure(f"{label}_p50_ms", percentile(latencies, 50) * 1000)
    figure(f"{label}_p95_ms", percentile(latencies, 95) * 1000)
    if not (cpu and ok):
        return Phase(rate, float("nan"), float("nan"), float("nan"))
    phase = Phase(rate, cpu[server] / ok * 1000, cpu["postgres"] / ok * 1000, cpu["client"] / ok * 1000)
    figure(f"{label}_cpu_ms_per_req_server", phase.server)
    figure(f"{label}_cpu_ms_per_req_postgres", phase.postgres)
    figure(f"{label}_cpu_ms_per_req_client", phase.client)
    return phase


async def baseline_phase(label: str, base: str, clients: int, seconds: float, meter: Meter | None, server: str) -> Phase | None:
    """Bump random rows for `seconds`; print the figures under `label` and answer them (none for a warm-up)."""
    rec = Recorder()
    stop_at = time.perf_counter() + seconds

    async def work(i, http):
        rng = random.Random(i)
        while time.perf_counter() < stop_at:
            await call(http, rec, "bump", "POST", f"{base}/bump/{rng.randint(1, BASELINE_ROWS)}", None, {})

    if meter is None:
        await run_phase(clients, work)
        return None
    meter.start()
    wall = await run_phase(clients, work)
    return summarise(label, rec.latencies.get("bump", []), rec.ok("bump"), wall, meter.stop(), server)


def mean_phase(phases: list[Phase]) -> Phase:
    """The mean of some runs of one phase (the baselines run before and after the operations)."""
    return Phase(*(sum(values) / len(values) for values in zip(*phases))) if phases else Phase(*[float("nan")] * 4)


class System:
    """One system under test: where its server is, how it meters, and each operation's request; tallies its runs."""

    name = ""
    server = ""
    keyed = False  # every request carries a new Idempotency-Key, as a phone's outbox sends it

    def __init__(self, base: str, meter: Meter, leads: list[str], staff: list[str], group_of: list[int], database_url: str):
        self.base, self.meter, self.leads, self.staff, self.group_of = base, meter, leads, staff, group_of
        self.database_url = database_url
        self.errors: list[str] = []
        self.tally = {op: {"latencies": [], "ok": 0, "wall": 0.0, "cpu": {}} for op in OPERATIONS}

    def add(self, op: str, rec: Recorder, wall: float, cpu: dict) -> None:
        tally = self.tally[op]
        tally["latencies"] += rec.latencies.get(op, [])
        tally["ok"] += rec.ok(op)
        tally["wall"] += wall
        for key, seconds in cpu.items():
            tally["cpu"][key] = tally["cpu"].get(key, 0.0) + seconds

    def summarise(self, op: str) -> Phase:
        tally = self.tally[op]
        return summarise(f"{self.name}_{op}", tally["latencies"], tally["ok"], tally["wall"], tally["cpu"], self.server)


def _device_now() -> str:
    return datetime.now(timezone.utc).isoformat()


class LockWaits:
    """How many of a database's backends wait on a lock, sampled every 20 ms while a run goes (pg_stat_activity):
    creations serialised by a shared row (the day's number counter) would show here."""

    def __init__(self, url: str):
        self.url, self.samples, self._stop = url, [], threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                self.samples.append(conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()[0])
                time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Baton(System):
    name, server = "baton", "app"

    def create(self, i, n):
        return f"{self.base}/api/v1/work-orders", self.leads[i], {"template": f"bench-pool-{self.group_of[i]}", "title": f"Bench order {i}-{n}"}

    def created(self, body):
        return body["tasks"][0]["id"]

    # As the phone app sends them: every action carries when it happened on the device (its outbox stamps it).
    def claim(self, i, task_id):
        return f"{self.base}/api/v1/tasks/{task_id}/claim", self.staff[i], {"occurred_at": _device_now()}

    def complete(self, i, task_id):
        return f"{self.base}/api/v1/tasks/{task_id}/complete", self.staff[i], {"outcome": "done", "note": "bench",
                                                                                "occurred_at": _device_now()}


class Viewflow(System):
    name, server = "viewflow", "peer"

    def create(self, i, n):
        return f"{self.base}/api/start/", self.leads[i], {"team": self.group_of[i], "title": f"Bench order {i}-{n}"}

    def created(self, body):
        return body["process"], body["task"]

    def claim(self, i, handle):
        return f"{self.base}/api/{handle[0]}/handle/{handle[1]}/assign/", self.staff[i], {}

    def complete(self, i, handle):
        return f"{self.base}/api/{handle[0]}/handle/{handle[1]}/execute/", self.staff[i], {}


EXPECTED = {"create": 201, "claim": 200, "complete": 200}


async def run_operation(system: System, op: str, clients: int, work_of: list[list], meter: bool = True) -> list[list]:
    """One run of `op` on `system`: client i works through `work_of[i]`; answer, per client, what succeeded
    (for create, the new tasks' handles). Metered and tallied unless it is a warm-up."""
    rec = Recorder()
    done: list[list] = [[] for _ in range(clients)]

    async def work(i, http):
        for item in work_of[i]:
            url, token, body = getattr(system, op)(i, item)
            status, answer = await call(http, rec, op, "POST", url, token, body, uuid.uuid4().hex if system.keyed else None)
            if status != EXPECTED[op]:
                system.errors.append(f"{op} {item}: {status} {answer}")
            else:
                done[i].append(system.created(answer) if op == "create" else item)

    if not meter:
        await run_phase(clients, work)
        return done
    system.meter.start()
    wall = await run_phase(clients, work)
    system.add(op, rec, wall, system.meter.stop())
    return done


async def warm_up(system: System, clients: int, lives: int = 2) -> None:
    """Create, claim and complete a few tasks per client, unmetered: every worker imports, connects and fills its caches."""
    created = await run_operation(system, "create", clients, [range(lives)] * clients, meter=False)
    claimed = await run_operation(system, "claim", clients, created, meter=False)
    await run_operation(system, "complete", clients, claimed, meter=False)


async def main_async(args, baton: Baton, peer: Viewflow | None, wsgi_base: str, flask_base: str, people: dict) -> tuple[int, dict]:
    clients, group_size = args.clients, args.group_size
    systems = [baton] + ([peer] if peer else [])
    meter = baton.meter  # the baselines' tables live in Baton's database

    # Sign-in through HTTP once, to show that the minted tokens are what sign-in gives.
    async with session() as http:
        status, body = await call(http, None, "login", "POST", f"{baton.base}/api/v1/auth/login", None,
                                  {"login": "bench.staff0", "password": PASSWORD})
        if status != 200 or "token" not in (body or {}):
            print(f"sign-in failed: {status} {body}", file=sys.stderr)
            return 1, {}
        status, _ = await call(http, None, "inbox", "GET", f"{baton.base}/api/v1/tasks/inbox", body["token"])
        if status != 200:
            print(f"inbox with the signed-in token failed: {status}", file=sys.stderr)
            return 1, {}

    # Warm-up of every server; not counted.
    for base in (wsgi_base, flask_base):
        await baseline_phase("", base, clients, 1.5, None, "")
    for system in systems:
        await warm_up(system, clients)

    rates = {"wsgi": [], "flask": []}
    for kind, base in (("wsgi", wsgi_base), ("flask", flask_base)):
        rates[kind].append(await baseline_phase(f"baseline_{kind}_before", base, clients, args.baseline_seconds, meter, kind))

    # create, claim, complete: each in alternating runs, Baton then Viewflow, run after run
    handles = {system.name: [] for system in systems}
    lock_waits: dict[str, list[int]] = {}
    for op in OPERATIONS:
        for run in range(args.runs):
            for system in systems:
                if op == "create":
                    with LockWaits(system.database_url) as waits:
                        handles[system.name].append(await run_operation(system, op, clients, [range(args.per_client)] * clients))
                    lock_waits.setdefault(system.name, []).extend(waits.samples)
                else:
                    handles[system.name][run] = await run_operation(system, op, clients, handles[system.name][run])
    results = {system.name: {op: system.summarise(op) for op in OPERATIONS} for system in systems}
    for name, samples in lock_waits.items():
        figure(f"{name}_create_backends_waiting_on_locks_mean", sum(samples) / len(samples) if samples else 0.0)
        figure(f"{name}_create_backends_waiting_on_locks_max", max(samples, default=0))

    # contended (Baton): the members of a group claim the same task at the same moment
    rec = Recorder()
    contended: dict[int, list[int]] = {}
    created = await run_operation(baton, "create", clients, [range(n) for n in args.contended_rounds_share], meter=False)
    for i, task_ids in enumerate(created):
        contended.setdefault(baton.group_of[i], []).extend(task_ids)
    barriers = {g: asyncio.Barrier(sum(1 for x in baton.group_of if x == g)) for g in set(baton.group_of)}
    winners: dict[int, list[int]] = {}

    async def race(i, http):
        g = baton.group_of[i]
        for task_id in contended.get(g, []):
            await barriers[g].wait()
            status, body = await call(http, rec, "contended_claim", "POST", f"{baton.base}/api/v1/tasks/{task_id}/claim", baton.staff[i], {})
            if status == 200:
                winners.setdefault(task_id, []).append(people["staff"][i])
            elif status != 409 or ((body or {}).get("error") or {}).get("code") != "task_taken":
                baton.errors.append(f"contended claim {task_id}: {status} {body}")

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

    for kind, base in (("wsgi", wsgi_base), ("flask", flask_base)):
        rates[kind].append(await baseline_phase(f"baseline_{kind}_after", base, clients, args.baseline_seconds, meter, kind))

    # The ratios and their targets; then, beside each, its bound: the ratio Baton would reach if its workers spent
    # on each operation no more than the one-UPDATE endpoint's workers spend on their whole request, everything else
    # (its database's CPU, the client's) as measured. A saturated machine serves its cores / CPU per request; a target
    # above its bound cannot be met by the workers alone: the database's work would have to shrink.
    claim = results["baton"]["claim"]
    flask = mean_phase([p for p in rates["flask"] if p])
    to_baseline = {}
    for kind in ("flask", "wsgi"):
        baseline = sum(p.rate for p in rates[kind]) / len(rates[kind])
        to_baseline[kind] = claim.rate / baseline if baseline else 0.0
        figure(f"baseline_{kind}_per_s_mean", baseline)
        figure(f"ratio_claims_to_{kind}_baseline", to_baseline[kind])
    flask_ratio = to_baseline["flask"]
    figure("target_claims_to_flask_baseline", f">= {TARGET_CLAIMS_TO_BASELINE}: {'met' if flask_ratio >= TARGET_CLAIMS_TO_BASELINE else 'not met'}")
    lean_claim = flask.server + claim.postgres + claim.client
    figure("claim_machine_cpu_ms", claim.machine_ms)
    figure("claim_machine_cpu_ms_for_target", flask.machine_ms / TARGET_CLAIMS_TO_BASELINE)
    figure("claim_postgres_and_client_cpu_ms", claim.postgres + claim.client)
    figure("bound_claims_to_flask_baseline", flask.machine_ms / lean_claim if lean_claim else float("nan"))
    if peer:
        life_ms = {name: sum(results[name][op].cpu_ms for op in OPERATIONS) for name in results}
        figure("baton_life_cpu_ms", life_ms["baton"])
        figure("viewflow_life_cpu_ms", life_ms["viewflow"])
        cpu_ratio = life_ms["baton"] / life_ms["viewflow"] if life_ms["viewflow"] else float("nan")
        figure("ratio_life_cpu_baton_to_viewflow", cpu_ratio)
        figure("target_life_cpu", f"<= {TARGET_LIFE_CPU_RATIO}: {'met' if cpu_ratio <= TARGET_LIFE_CPU_RATIO else 'not met'}")
        lean_life = sum(flask.server + results["baton"][op].postgres for op in OPERATIONS)
        figure("bound_life_cpu_baton_to_viewflow", lean_life / life_ms["viewflow"] if life_ms["viewflow"] else float("nan"))
        for op in OPERATIONS:
            ours, theirs = results["baton"][op], results["viewflow"][op]
            rate_ratio = ours.rate / theirs.rate if theirs.rate else float("nan")
            figure(f"ratio_{op}_per_s_baton_to_viewflow", rate_ratio)
            figure(f"target_{op}_per_s", f">= {TARGET_RATE_RATIO}: {'met' if rate_ratio >= TARGET_RATE_RATIO else 'not met'}")
            lean = flask.server + ours.postgres + ours.client
            figure(f"bound_{op}_per_s_baton_to_viewflow", theirs.machine_ms / lean if lean else float("nan"))

    failures = 0
    for system in systems:
        if system.errors:
            failures = 1
            for line in system.errors[:20]:
                print(f"ERROR {system.name}", line, file=sys.stderr)
    if bad:
        failures = 1
        print(f"ERROR tasks without exactly one winner: {bad[:20]}", file=sys.stderr)
    outcome = {"handles": handles, "winners": winners, "contended": contended}
    return failures, outcome


def check_database(app, completed: list[int], contended: dict[int, list[int]], winners: dict[int, list[int]]) -> int:
    """Baton's database must agree with what the clients saw."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.workorders.models import Task

    with app.app_context():
        done = db.session.scalar(select(func.count()).select_from(Task).where(Task.id.in_(completed), Task.status == "completed"))
        cont_ids = [t for ts in contended.values() for t in ts]
        rows = db.session.execute(select(Task.id, Task.status, Task.assignee_id).where(Task.id.in_(cont_ids))).all()
        agree = sum(1 for tid, status, assignee in rows if status == "claimed" and [assignee] == winners.get(tid))
    figure("baton_db_completed_matches", f"{done}/{len(completed)}")
    figure("baton_db_contended_winner_matches", f"{agree}/{len(cont_ids)}")
    return 0 if done == len(completed) and agree == len(cont_ids) else 1


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
    def life(keyed: bool) -> dict[str, int]:
        counts = {}

        def post(url: str, user: int, body: dict):
            sent = {**headers(user), **({"Idempotency-Key": uuid.uuid4().hex} if keyed else {})}
            seen.clear()
            return client.post(url, json=body, headers=sent).get_json()

        wo = post("/api/v1/work-orders", lead, {"template": "bench-pool-0", "title": "count"})
        counts["create"] = len(seen)
        task_id = wo["tasks"][0]["id"]
        post(f"/api/v1/tasks/{task_id}/claim", member, {"occurred_at": _device_now()})
        counts["claim"] = len(seen)
        post(f"/api/v1/tasks/{task_id}/complete", member, {"outcome": "done", "occurred_at": _device_now()})
        counts["complete"] = len(seen)
        return counts

    event.listen(engine, "before_cursor_execute", count)
    try:
        life(False)  # as the servers were warmed: this process learns the template versions first
        for op, n in life(False).items():
            figure(f"baton_sql_statements_per_{op}", n)
        for op, n in life(True).items():  # as a phone sends them: with an Idempotency-Key
            figure(f"baton_sql_statements_per_{op}_with_idempotency_key", n)
        figure("sql_statements_per_baseline_request", 1)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=20, help="operations per client in each run")
    parser.add_argument("--runs", type=int, default=2, help="runs of each operation per system, alternating")
    parser.add_argument("--group-size", type=int, default=8, help="candidates per pool task (and racers per contended task)")
    parser.add_argument("--contended-rounds", type=int, default=40, help="contended tasks per group")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="Baton's create, claim and complete carry a new Idempotency-Key each, as a phone's outbox sends them")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="run the django-viewflow peer beside Baton (installed on first use; --no-peer skips it)")
    args = parser.parse_args()
    if args.clients % args.group_size:
        parser.error("--clients must be a multiple of --group-size")
    # Each group's contended tasks are opened by its members' leads, spread evenly.
    args.contended_rounds_share = [args.contended_rounds // args.group_size + (1 if (i % args.group_size) < args.contended_rounds % args.group_size else 0)
                                   for i in range(args.clients)]

    note(f"bench_claims on {benchlib.machine()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average {os.getloadavg()[0]:.2f}")
    note(f"gunicorn -k {args.worker_class} -w {args.workers} --threads {args.threads} --keep-alive 30 for every server; "
         f"{args.clients} clients (aiohttp, keep-alive); {args.group_size} candidates per task; {args.runs} runs of "
         f"{args.per_client} operations per client")
    if args.peer:
        why_not = install_peer()
        if why_not:
            note(f"the peer is left out: {why_not}")
            args.peer = False
    secret = benchlib.new_secret()
    server_opts = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(benchlib.bench_database("claims"))
        app = benchlib.make_app(url, secret)
        benchlib.create_schema(app)
        people = setup(app, args.clients, args.group_size)
        create_baseline_table(url)
        with app.app_context():
            tokens = {u: benchlib.token_for(secret, u) for u in people["leads"] + people["staff"]}
        env = benchlib.app_environment(url, secret)
        env["BASELINE_DATABASE_URL"] = url
        bench_dir = os.path.join(benchlib.ROOT, "bench")
        app_srv = stack.enter_context(benchlib.Gunicorn("app.wsgi:app", env, **server_opts, log_path="/tmp/bench_claims_app.log"))
        wsgi_srv = stack.enter_context(benchlib.Gunicorn("baseline_app:app", env, **server_opts, pythonpath=bench_dir,
                                                         log_path="/tmp/bench_claims_baseline.log"))
        flask_srv = stack.enter_context(benchlib.Gunicorn("baseline_flask:app", env, **server_opts, pythonpath=bench_dir,
                                                          log_path="/tmp/bench_claims_baseline_flask.log"))
        peer = peer_url = peer_env = peer_people = None
        if args.peer:
            peer_url = stack.enter_context(benchlib.bench_database("claims_peer"))
            peer_env = peer_environment(peer_url, secret)
            peer_manage(peer_env, "migrate", "-v", "0")
            peer_people = json.loads(peer_manage(peer_env, "bench_setup", "--clients", str(args.clients), "--group-size", str(args.group_size)))
            peer_srv = stack.enter_context(benchlib.Gunicorn("peerflow.wsgi:application", peer_env, **server_opts, pythonpath=PEER_DIR,
                                                             gunicorn=os.path.join(PEER_VENV, "bin", "gunicorn"),
                                                             log_path="/tmp/bench_claims_peer.log"))
            peer_srv.wait_ready("/healthz")
            peer = Viewflow(peer_srv.base, Meter(benchlib.CpuMeter({"peer": peer_srv.proc.pid}, peer_url.rsplit("/", 1)[1])),
                            [p["token"] for p in peer_people["leads"]], [p["token"] for p in peer_people["staff"]],
                            [p["team"] for p in peer_people["staff"]], peer_url)
        for srv in (app_srv, wsgi_srv, flask_srv):
            srv.wait_ready("/healthz")
        meter = Meter(benchlib.CpuMeter({"app": app_srv.proc.pid, "wsgi": wsgi_srv.proc.pid, "flask": flask_srv.proc.pid}, url.rsplit("/", 1)[1]))
        baton = Baton(app_srv.base, meter, [tokens[u] for u in people["leads"]], [tokens[u] for u in people["staff"]],
                      [i // args.group_size for i in range(args.clients)], url)
        baton.keyed = args.idempotency_keys
        failures, outcome = asyncio.run(main_async(args, baton, peer, wsgi_srv.base, flask_srv.base, people))
        if outcome:
            completed = [t for run in outcome["handles"]["baton"] for ts in run for t in ts]
            failures |= check_database(app, completed, outcome["contended"], outcome["winners"])
            if peer:
                claimed = {task: peer_people["staff"][i]["id"] for run in outcome["handles"]["viewflow"] for i, ts in enumerate(run) for _, task in ts}
                processes = [process for run in outcome["handles"]["viewflow"] for ts in run for process, _ in ts]
                failures |= check_peer_database(peer_url, claimed, processes)
        statement_counts(app, tokens, people)
        if peer:
            counts = json.loads(peer_manage(peer_env, "bench_statements", "--lead-token", peer.leads[0], "--staff-token", peer.staff[0],
                                            "--team", str(peer.group_of[0])))
            for op in OPERATIONS:
                figure(f"viewflow_sql_statements_per_{op}", counts[op])
        benchlib.close_app(app)
    return failures


if __name__ == "__main__":
    sys.exit(main())
