"""The timer sweep: fire 10,000 due timers with 1,000,000 (and, in the same run, 10,000) not-yet-due ones waiting.

    .venv/bin/python bench/bench_sweep.py [--due 10000] [--pending 1000000] [--small-pending 10000]
        [--batch-size N] [--repeats 2] [--profile]

Creates its own database `baton_bench_sweep_*` (dropped at the end) and fills it set-based (gendata.py):
2,000 people in a 4-level reporting line (staff -> team lead -> head -> director); a pool template whose step
has an SLA, a reminder and three escalation levels; --due work orders each with one live task (half claimed,
half offered to 4 candidates) and 250,000 more live tasks that the not-yet-due timers belong to.

For each scenario the timers table is rebuilt: --due due timers (one per task; one in five a reminder, the
rest escalations at levels 1-3, so every level of the manager chain is looked up) plus N not-yet-due ones
(4 per task: reminder and levels 1-3, due later); the effects of the previous sweep (timeline, notifications,
escalation levels) are reset; then VACUUM ANALYZE. Then `fire_due_timers(now=..., batch_size=...)` runs and
is timed. Scenarios run in the order small, large, large, small (ABBA, so a drift of the shared machine
cancels out) after one warm-up, and the median of each is used. Without --batch-size the sweep's own default is used.

CPU seconds are reported beside the wall-clock figures (this process, and the PostgreSQL backend serving it),
since on a shared machine the wall clock also counts other people's work; --profile uses CPU time for the same reason.

Prints timers/s (target >= 5,000) and the ratio of sweep time with N=--pending versus N=--small-pending
(target < 1.5). Exit status 1 only when a sweep did not fire exactly the due timers; timing never fails it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import gendata  # noqa: E402
from benchlib import figure, note  # noqa: E402

TARGET_RATE = 5000.0
TARGET_RATIO = 1.5
FUTURE_TASKS = int(os.environ.get("BENCH_SWEEP_FUTURE_TASKS", 250_000))
USERS = 2000


def build(app, url: str, due: int) -> int:
    import psycopg

    from app.org.passwords import hash_password
    from app.common.clock import utcnow
    from app.extensions import db
    from app.flows import service as flows
    from app.flows.schemas import TemplateSchema

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        org = gendata.organisation(conn, users=USERS, departments=20, password_hash=hash_password("bench-password-1"), log=note)
    with app.app_context():
        body = {"key": "bench-sla", "name": "Bench SLA flow", "priority": "P2",
                "steps": [{"key": "handle", "title": "Handle", "mode": "pool", "assignees": {"departments": [2]},
                           "sla": "PT1H", "remind_before": "PT15M", "escalation": {"interval": "PT30M", "max_level": 3}}]}
        template_id = flows.create_template(body=TemplateSchema().load(body), created_by=None, now=utcnow()).id
        db.session.remove()
    first_staff = org["first_staff"]
    with psycopg.connect(url, autocommit=True) as conn:
        with gendata.bulk_load(conn, ["work_orders", "work_order_steps", "tasks", "task_candidates"]):
            count = due + FUTURE_TASKS
            gendata.work_orders(conn, first_id=1, count=count, template_id=template_id, template_key="bench-sla",
                                users=USERS, open_every=1, open_age_minutes=600, log=note)
            gendata.steps_tasks_candidates(conn, first_wo=1, count=count, step_keys=["handle"], open_every=1, claimed_every=2,
                                           candidates=4, first_staff=first_staff, staff=USERS - first_staff + 1, log=note)
        gendata.reset_sequences(conn, ["work_orders", "work_order_steps", "tasks"])
        conn.execute("VACUUM ANALYZE")
    figure("build_seconds", time.perf_counter() - started)
    return template_id


def prepare(url: str, *, due: int, pending: int, now: datetime) -> None:
    """Rebuild the timers table for one scenario and undo the previous sweep's effects."""
    import psycopg

    started = time.perf_counter()
    stamp = gendata.q(now.isoformat())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE timers, push_deliveries, notifications, timeline_events RESTART IDENTITY")
        conn.execute("UPDATE tasks SET escalation_level = 0 WHERE escalation_level <> 0")
        conn.execute("UPDATE work_orders SET escalation_level = 0 WHERE escalation_level <> 0")
        with gendata.bulk_load(conn, ["timers"]):
            # Not yet due: 4 timers per task (reminder, levels 1-3), from an hour to ten days ahead.
            conn.execute(f"""
                INSERT INTO timers (task_id, kind, level, fire_at, status, created_at, fired_at, result)
                SELECT {due} + 1 + ((i - 1) / 4) % {FUTURE_TASKS},
                       CASE WHEN i % 4 = 0 THEN 'remind' ELSE 'escalate' END, i % 4,
                       {stamp}::timestamptz + interval '1 hour' + ({gendata.h('i')} % 864000) * interval '1 second',
                       'pending', {stamp}::timestamptz - interval '1 hour', NULL, NULL
                FROM generate_series(1, {pending}) i""")
            # Due: one per task 1..due, from an hour ago to a second ago.
            conn.execute(f"""
                INSERT INTO timers (task_id, kind, level, fire_at, status, created_at, fired_at, result)
                SELECT t, CASE WHEN t % 5 = 0 THEN 'remind' ELSE 'escalate' END,
                       CASE WHEN t % 5 = 0 THEN 0 ELSE 1 + t % 3 END,
                       {stamp}::timestamptz - interval '1 second' - ({gendata.h('t')} % 3600) * interval '1 second',
                       'pending', {stamp}::timestamptz - interval '2 hours', NULL, NULL
                FROM generate_series(1, {due}) t""")
        conn.execute("VACUUM ANALYZE timers, tasks, work_orders, timeline_events, notifications, push_deliveries")
        pending_now = conn.execute("SELECT count(*) FROM timers WHERE status = 'pending'").fetchone()[0]
    note(f"scenario: {due} due + {pending} not yet due ({pending_now} pending) prepared in {time.perf_counter() - started:.1f}s")


def sweep(app, *, now: datetime, batch_size: int | None, meter=None, cpu: dict | None = None,
          profile: bool = False) -> tuple[float, dict]:
    from app.escalation.sweep import fire_due_timers
    from app.extensions import db

    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # the connection is open before the clock starts
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU time: the other users of the machine do not count
            profiler.enable()
        before = meter.snapshot() if meter else None
        started = time.perf_counter()
        counts = fire_due_timers(now=now, max_batches=10_000, **({"batch_size": batch_size} if batch_size else {}))
        elapsed = time.perf_counter() - started
        if meter and cpu is not None:
            cpu.update(benchlib.CpuMeter.delta(before, meter.snapshot()))
        if profiler:
            import pstats

            profiler.disable()
            print("# cProfile of the sweep, in CPU time (top 25 by cumulative time, then by own time):")
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(20)
        db.session.remove()
    return elapsed, counts


def verify(url: str, due: int) -> tuple[bool, dict]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM timers WHERE status = 'fired'),
                   (SELECT count(*) FROM timeline_events WHERE kind IN ('escalated', 'reminded')),
                   (SELECT count(*) FROM notifications),
                   (SELECT count(DISTINCT task_id) FROM timers WHERE status = 'fired')""").fetchone()
    facts = {"fired": row[0], "timeline": row[1], "notifications": row[2], "tasks": row[3]}
    return facts["fired"] == due and facts["timeline"] == due and facts["tasks"] == due, facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=1_000_000, help="not-yet-due timers in the large scenario")
    parser.add_argument("--small-pending", type=int, default=10_000, help="not-yet-due timers in the small scenario")
    parser.add_argument("--batch-size", type=int, default=None, help="default: fire_due_timers' own")
    parser.add_argument("--repeats", type=int, default=2, help="ABBA rounds: each scenario runs 2 x repeats / 2 times")
    parser.add_argument("--profile", action="store_true", help="cProfile one large sweep (not timed)")
    args = parser.parse_args()

    note(f"bench_sweep on {benchlib.machine()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    secret = benchlib.new_secret()
    failures = 0
    with benchlib.bench_database("sweep") as url:
        meter = benchlib.CpuMeter({}, database=url.rsplit("/", 1)[1])
        app = benchlib.make_app(url, secret)
        benchlib.create_schema(app)
        build(app, url, args.due)
        now = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)

        prepare(url, due=args.due, pending=args.small_pending, now=now)
        elapsed, counts = sweep(app, now=now, batch_size=args.batch_size)
        note(f"warm-up sweep: {counts} in {elapsed:.2f}s")

        order = []
        for r in range(args.repeats):
            order += ["small", "large"] if r % 2 == 0 else ["large", "small"]
        times: dict[str, list[float]] = {"small": [], "large": []}
        cpus: dict[str, list[dict]] = {"small": [], "large": []}
        for scenario in order:
            pending = args.pending if scenario == "large" else args.small_pending
            prepare(url, due=args.due, pending=pending, now=now)
            cpu: dict = {}
            elapsed, counts = sweep(app, now=now, batch_size=args.batch_size, meter=meter, cpu=cpu)
            ok, facts = verify(url, args.due)
            note(f"{scenario}: {counts} in {elapsed:.2f}s (CPU: this process {cpu['client']:.2f}s, PostgreSQL "
                 f"{cpu['postgres']:.2f}s); database: {facts}")
            cpus[scenario].append(cpu)
            if not ok or counts["fired"] != args.due:
                failures = 1
                print(f"ERROR {scenario} sweep fired {counts}, database {facts}, expected {args.due}", file=sys.stderr)
            times[scenario].append(elapsed)
        if args.profile:
            prepare(url, due=args.due, pending=args.pending, now=now)
            sweep(app, now=now, batch_size=args.batch_size, profile=True)

        small, large = statistics.median(times["small"]), statistics.median(times["large"])
        figure("due_timers", args.due)
        if args.batch_size is None:
            import inspect

            from app.escalation.sweep import fire_due_timers

            args.batch_size = inspect.signature(fire_due_timers).parameters["batch_size"].default
        figure("batch_size", args.batch_size)
        figure("pending_small", args.small_pending)
        figure("pending_large", args.pending)
        figure("sweep_seconds_small_median", small)
        figure("sweep_seconds_large_median", large)
        figure("sweep_seconds_small_all", " ".join(f"{t:.2f}" for t in times["small"]))
        figure("sweep_seconds_large_all", " ".join(f"{t:.2f}" for t in times["large"]))
        for scenario in ("small", "large"):
            for side in ("client", "postgres"):
                figure(f"cpu_seconds_{scenario}_{side}_median", statistics.median(c[side] for c in cpus[scenario]))
        figure("timers_per_s_small", args.due / small)
        figure("timers_per_s_large", args.due / large)
        figure("ratio_large_to_small", large / small)
        figure("target_timers_per_s", TARGET_RATE)
        figure("target_ratio", TARGET_RATIO)
        figure("target_met", "yes" if args.due / large >= TARGET_RATE and large / small < TARGET_RATIO else "no")
        benchlib.close_app(app)
    return failures


if __name__ == "__main__":
    sys.exit(main())
