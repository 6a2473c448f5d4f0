"""Inbox latency with 1,000,000 tasks and 10,000 users on PostgreSQL.

    .venv/bin/python bench/bench_inbox.py [--users 10000] [--tasks 1000000] [--requests 1500]
        [--http-clients 8] [--http-seconds 10] [--workers 4] [--threads 2] [--no-http]

Creates its own database `baton_bench_inbox_*` (dropped at the end) and fills it set-based
(INSERT ... SELECT generate_series, see gendata.py): --users people in a 4-level reporting line,
--tasks/2 work orders of a two-step pool template (one task per step), 4 candidates per task.
One work order in five is in progress: its second task is live (open, or claimed by a candidate one
time in three) and everything else is completed, with `is_open = false` on its candidates. That gives
each person a few dozen live items (about 3 of their own, about 28 pool tasks offered). Then ANALYZE.

Measures GET /api/v1/tasks/inbox for random people through the real app: in-process with the Flask test
client (latency of the request itself), its CPU in this process with the answer dumped by the compiled schema as
served against the schema's own dump (the baseline, alternating runs), then GET /api/v1/changes as an open screen polls it (If-None-Match, 304)
against the inbox of the same run, then under gunicorn with concurrent keep-alive clients. Prints
p50/p95/p99 (target p95 < 20 ms) and the EXPLAIN ANALYZE of the inbox's task query (captured from the
app as it runs, with the indexes it uses). Timing never fails the run.
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
import gendata  # noqa: E402
from benchlib import figure, note, percentile  # noqa: E402

TARGET_P95_MS = 20.0
STEPS = ["triage", "handle"]


def build(app, url: str, users: int, tasks: int) -> dict:
    import psycopg

    from app.org.passwords import hash_password
    from app.common.clock import utcnow
    from app.extensions import db
    from app.flows import service as flows
    from app.flows.schemas import TemplateSchema

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        org = gendata.organisation(conn, users=users, departments=20, password_hash=hash_password("bench-password-1"), log=note)
    with app.app_context():
        body = {"key": "bench-inbox", "name": "Bench inbox flow", "priority": "P3",
                "steps": [{"key": "triage", "title": "Triage", "mode": "pool", "assignees": {"departments": [2]}, "sla": "PT1H"},
                          {"key": "handle", "title": "Handle", "after": ["triage"], "mode": "pool", "assignees": {"departments": [3]},
                           "sla": "PT4H", "outcomes": ["done", "not_needed"]}]}
        template = flows.create_template(body=TemplateSchema().load(body), created_by=None, now=utcnow())
        template_id = template.id
        db.session.remove()
    work_orders = tasks // len(STEPS)
    first_staff = org["first_staff"]
    with psycopg.connect(url, autocommit=True) as conn:
        with gendata.bulk_load(conn, ["work_orders", "work_order_steps", "tasks", "task_candidates"]):
            gendata.work_orders(conn, first_id=1, count=work_orders, template_id=template_id, template_key="bench-inbox",
                                users=users, open_every=5, open_age_minutes=480, log=note)
            gendata.steps_tasks_candidates(conn, first_wo=1, count=work_orders, step_keys=STEPS, open_every=5, claimed_every=3,
                                           candidates=4, first_staff=first_staff, staff=users - first_staff + 1, log=note)
            note(f"rebuilding indexes after {time.perf_counter() - started:.0f}s")
        gendata.reset_sequences(conn, ["work_orders", "work_order_steps", "tasks"])
        conn.execute("VACUUM ANALYZE")
        counts = dict(conn.execute("""
            SELECT 'tasks', count(*) FROM tasks UNION ALL
            SELECT 'tasks_live', count(*) FROM tasks WHERE status IN ('open', 'claimed') UNION ALL
            SELECT 'users', count(*) FROM users UNION ALL
            SELECT 'task_candidates', count(*) FROM task_candidates UNION ALL
            SELECT 'task_candidates_open', count(*) FROM task_candidates WHERE is_open""").fetchall())
    figure("build_seconds", time.perf_counter() - started)
    for k, v in counts.items():
        figure(k, v)
    return {"template_id": template_id}


def explain(app, token: str) -> None:
    """Capture the inbox's task query as the app sends it and EXPLAIN ANALYZE it."""
    from sqlalchemy import event

    from app.extensions import db

    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM tasks" in statement and "task_candidates" in statement:
            captured.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        app.test_client().get("/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    if not captured:
        note("inbox task query not captured")
        return
    statement, parameters = captured[-1]
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = [r[0] for r in cur.fetchall()]
        finally:
            raw.close()
    print("# EXPLAIN ANALYZE of the inbox task query:")
    for line in plan:
        print("#   " + line)
    used = [ix for ix in ("ix_task_candidates_user_open", "ix_tasks_assignee_status") if any(ix in line for line in plan)]
    figure("explain_uses_indexes", ",".join(used) or "none")
    figure("explain_seq_scan_on_tasks", "yes" if any("Seq Scan on tasks" in line for line in plan) else "no")
    execution = [line for line in plan if line.startswith("Execution Time")]
    if execution:
        figure("explain_execution_ms", float(execution[0].split(":")[1].split()[0]))


def in_process(app, tokens: list[str], requests: int, seed: int = 1) -> None:
    client = app.test_client()
    rng = random.Random(seed)
    for _ in range(min(200, requests)):  # warm-up: caches, connection pool, compiled statements
        client.get("/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {rng.choice(tokens)}"})
    latencies, sizes = [], []
    for _ in range(requests):
        token = rng.choice(tokens)
        started = time.perf_counter()
        response = client.get("/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {token}"})
        latencies.append(time.perf_counter() - started)
        body = response.get_json()
        if response.status_code != 200:
            raise RuntimeError(f"inbox answered {response.status_code}: {body}")
        sizes.append(len(body["mine"]) + len(body["pool"]))
    figure("inbox_items_mean", sum(sizes) / len(sizes))
    figure("inbox_items_max", max(sizes))
    figure("inproc_requests", len(latencies))
    figure("inproc_inbox_p50_ms", percentile(latencies, 50) * 1000)
    figure("inproc_inbox_p95_ms", percentile(latencies, 95) * 1000)
    figure("inproc_inbox_p99_ms", percentile(latencies, 99) * 1000)
    return percentile(latencies, 95) * 1000


def dump_cost(app, tokens: list[str], requests: int, seed: int = 3) -> None:
    """The inbox's CPU per request in this process (the app's share), as served and, as the baseline of the same run,
    as it was before (bench/baseline_inbox.py: statements built for every request, templates read again, the
    schema's own dump): alternating runs of the same people. Then the dump alone on a full page, compiled and not."""
    from app.workorders import api
    from app.workorders.schemas import InboxSchema

    import baseline_inbox

    client = app.test_client()
    # The schema the view answers with: the Blueprint's copy of InboxSchema whose `dump` is the compiled one.
    served = app.view_functions["workorders.inbox"]._apidoc["response"]["responses"][200][0]["schema"]
    compiled, schema = served.dump, InboxSchema().dump
    current = api.inbox_of
    rng = random.Random(seed)
    people = [rng.choice(tokens) for _ in range(requests)]
    costs: dict[str, list[float]] = {"before": [], "now": []}
    try:
        for _ in range(3):
            for label, inbox, dump in (("before", baseline_inbox.inbox, schema), ("now", current, compiled)):
                api.inbox_of, served.dump = inbox, dump
                started = time.process_time()
                for token in people:
                    client.get("/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {token}"})
                costs[label].append((time.process_time() - started) / len(people) * 1000)
    finally:
        api.inbox_of, served.dump = current, compiled
    before_ms, now_ms = min(costs["before"]), min(costs["now"])
    # The dump alone, on a full page: 100 tasks of real inboxes (what an inbox answered before offers were grouped).
    from app.auth.service import user_from_token
    from app.common.clock import utcnow
    from app.workorders.inbox import inbox as inbox_of

    page: list = []
    with app.test_request_context():
        for token in people:
            user = user_from_token(token=token, secret_key=app.config["SECRET_KEY"], max_age=10**9)
            answer = inbox_of(user=user, now=utcnow())
            page += answer["mine"] + answer["pool"]
            if len(page) >= 100:
                break
    full = {"mine": page[:50], "pool": page[50:100], "totals": {"mine": 50, "pool": 50}, "groups": [], "pool_shown": 50}
    for label, dump in (("schema", schema), ("compiled", compiled)):
        started = time.process_time()
        for _ in range(50):
            dump(full)
        figure(f"inbox_dump_{len(page[:100])}_tasks_{label}_ms", (time.process_time() - started) / 50 * 1000)
    figure("inbox_cpu_per_request_before_ms", before_ms)
    figure("inbox_cpu_per_request_now_ms", now_ms)
    figure("ratio_inbox_cpu_now_to_before", now_ms / before_ms)
    figure("target_ratio_inbox_cpu", "<= 0.67 (a third less)")


def live_changes(app, url: str, tokens: list[str], requests: int, per_person: int, inbox_p95: float, seed: int = 2) -> None:
    """What an open screen's poll costs: `GET /changes` with the ETag it got last (304, no body), beside the
    inbox measured in the same run. Every person first gets `per_person` notifications (the cursor's index holds
    them all), so the read is the one it is in a company that has run for months."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO notifications (user_id, kind, title, body, url, priority, urgent, data, created_at)
            SELECT u.id, 'task.offered', 'New task you can claim', 'WO · Triage', '/#/inbox', 'P3', false, '{}', now()
            FROM users u CROSS JOIN generate_series(1, %s)""", (per_person,))
        conn.execute("VACUUM ANALYZE notifications")
        figure("notifications", conn.execute("SELECT count(*) FROM notifications").fetchone()[0])
    note(f"notifications written in {time.perf_counter() - started:.0f}s")
    client = app.test_client()
    rng = random.Random(seed)
    etags = {}
    for token in tokens:  # each screen's first look: 200 with the ETag it keeps
        response = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {token}"})
        etags[token] = response.headers["ETag"]
    latencies, statuses = [], {}
    for _ in range(requests):
        token = rng.choice(tokens)
        started = time.perf_counter()
        response = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {token}", "If-None-Match": etags[token]})
        latencies.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    figure("changes_304_share", statuses.get(304, 0) / len(latencies))
    figure("changes_p50_ms", percentile(latencies, 50) * 1000)
    figure("changes_p95_ms", percentile(latencies, 95) * 1000)
    figure("changes_vs_inbox_p95", percentile(latencies, 95) * 1000 / inbox_p95)


async def over_http(base: str, tokens: list[str], clients: int, seconds: float) -> None:
    import aiohttp

    latencies, errors = [], 0

    async def client(i):
        nonlocal errors
        rng = random.Random(1000 + i)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
            for _ in range(20):  # warm-up
                async with http.get(f"{base}/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {rng.choice(tokens)}"}) as r:
                    await r.read()
            await barrier.wait()
            stop_at = time.perf_counter() + seconds
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                async with http.get(f"{base}/api/v1/tasks/inbox", headers={"Authorization": f"Bearer {rng.choice(tokens)}"}) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append(time.perf_counter() - started)

    barrier = asyncio.Barrier(clients)
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - started
    figure("http_clients", clients)
    figure("http_inbox_per_s", len(latencies) / wall)
    figure("http_inbox_p50_ms", percentile(latencies, 50) * 1000)
    figure("http_inbox_p95_ms", percentile(latencies, 95) * 1000)
    figure("http_inbox_p99_ms", percentile(latencies, 99) * 1000)
    figure("http_errors", errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1500, help="in-process inbox requests")
    parser.add_argument("--http-clients", type=int, default=8)
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn phase")
    parser.add_argument("--notifications", type=int, default=50, help="notifications per person before timing GET /changes")
    parser.add_argument("--explain-only", action="store_true", help="build, EXPLAIN, and stop")
    args = parser.parse_args()

    note(f"bench_inbox on {benchlib.machine()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    secret = benchlib.new_secret()
    with benchlib.bench_database("inbox") as url:
        app = benchlib.make_app(url, secret)
        benchlib.create_schema(app)
        build(app, url, args.users, args.tasks)
        rng = random.Random(7)
        people = list(range(1, args.users + 1))
        rng.shuffle(people)
        tokens = [benchlib.token_for(secret, u) for u in people[:2000]]
        explain(app, tokens[0])
        if not args.explain_only:
            p95 = in_process(app, tokens, args.requests)
            figure("target_p95_ms", TARGET_P95_MS)
            figure("target_met", "yes" if p95 < TARGET_P95_MS else "no")
            dump_cost(app, tokens, min(args.requests, 500))
            live_changes(app, url, tokens, args.requests, args.notifications, p95)
            if not args.no_http:
                env = benchlib.app_environment(url, secret)
                with benchlib.Gunicorn("app.wsgi:app", env, workers=args.workers, threads=args.threads,
                                       log_path="/tmp/bench_inbox_app.log") as srv:
                    srv.wait_ready("/healthz")
                    note(f"gunicorn -k gthread -w {args.workers} --threads {args.threads}")
                    asyncio.run(over_http(srv.base, tokens, args.http_clients, args.http_seconds))
        benchlib.close_app(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
