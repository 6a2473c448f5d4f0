"""Service-metrics benchmark: GET /metrics/summary over a year of work orders on PostgreSQL.

    .venv/bin/python bench/bench_metrics.py [--n 1000000] [--runs 5] [--keep] [--reuse NAME] [--close N]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates its own PostgreSQL database, builds the schema from the models, seeds the demo
organisation and templates, then fills --n work orders spread over one year with set-based
SQL: their tasks (offline-truth claim and completion times, due times, escalation levels,
returns), departments taking part, tags, evaluations (about 40 % of resolved work orders)
and a year of daily service volumes. About 1 % of the year's work orders are still open
(0.5 % stuck all year, most of the last three days' work). The metrics read model of the
closed work orders is then built once (`flask metrics rebuild-facts`), as after an import,
and timed on its own.

Summaries only read; the background job writes the read model (`catch_up_facts`). Before timing
reads, the bench runs that job's pass and times it three ways: with nothing new, with its hourly
check (closed work orders counted against their facts), and after closing --close open work
orders the way the services do (status, tasks, steps, a `resolved` timeline event; a batch's
worth by default; 0 to skip: note that this changes the data of a --keep'd database). The reads
then find the read model caught up.

It then times, through the real HTTP stack and an admin's token, the summary for the whole
year ungrouped and grouped by week, department and problem category, once for two leads
(visibility by department subtree) and the CSV export (for the admin and a lead), and prints the figures. Exit status 0
when every timed call answered within --target seconds (median of --runs), 2 otherwise.

--keep leaves the database for inspection; --reuse NAME times an existing filled database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402

YEAR_START = date(2025, 1, 1)
DAYS = 365
TZ = "Asia/Shanghai"

FILL_SQL = r"""
SELECT setseed(0.4242);

-- Steps of the demo templates: (template, order, step, mode, sla seconds, owner/handler department code).
CREATE TEMP TABLE bench_steps (template_key text, ord int, step text, mode text, sla int, dept text);
INSERT INTO bench_steps VALUES
  ('complaint', 1, 'triage', 'pool', 1800, 'CS'),
  ('complaint', 2, 'warehouse_check', 'pool', 7200, 'WH'),
  ('complaint', 3, 'driver_visit', 'pool', 14400, 'DLV-SH'),
  ('complaint', 4, 'close', 'pool', 3600, 'CS'),
  ('investigation', 1, 'intake', 'pool', 1800, 'CS'),
  ('investigation', 2, 'warehouse', 'pool', 14400, 'WH'),
  ('investigation', 3, 'delivery', 'pool', 14400, 'DLV-SH'),
  ('investigation', 4, 'conclude', 'pool', 3600, 'CS'),
  ('stock_check', 1, 'count', 'pool', 3600, 'WH'),
  ('store_inspection', 1, 'inspect', 'joint', 86400, 'MER'),
  ('safety_briefing', 1, 'acknowledge', 'each', 28800, 'WH'),
  ('safety_briefing', 2, 'acknowledge', 'each', 28800, 'WH');

CREATE TEMP TABLE bench_wo AS
SELECT i AS id,
       r1, r2, r3, r4, r5, r6,
       CASE WHEN r1 < 0.35 THEN 'complaint' WHEN r1 < 0.50 THEN 'investigation' WHEN r1 < 0.85 THEN 'stock_check'
            WHEN r1 < 0.95 THEN 'store_inspection' ELSE 'safety_briefing' END AS template_key,
       :start::timestamptz + make_interval(secs => (i - 1) * (:days * 86400.0 / :n)) AS created_at
FROM generate_series(1, :n) AS g(i),
     LATERAL (SELECT random() + 0 * i AS r1, random() + 0 * i AS r2, random() + 0 * i AS r3, random() + 0 * i AS r4,
                random() + 0 * i AS r5, random() + 0 * i AS r6) r;

ALTER TABLE bench_wo ADD COLUMN status text, ADD COLUMN wh text;
UPDATE bench_wo SET
  status = CASE
    WHEN created_at > :start::timestamptz + make_interval(days => :days - 3) THEN
      CASE WHEN r2 < 0.35 THEN 'open' WHEN r2 < 0.65 THEN 'in_progress' WHEN r2 < 0.97 THEN 'resolved' ELSE 'cancelled' END
    ELSE CASE WHEN r2 < 0.002 THEN 'open' WHEN r2 < 0.005 THEN 'in_progress' WHEN r2 < 0.96 THEN 'resolved' ELSE 'cancelled' END
  END,
  wh = CASE WHEN r3 < 0.6 THEN 'WH-SH-01' ELSE 'WH-BJ-01' END;

CREATE TEMP TABLE bench_depts AS SELECT code, id FROM departments;
CREATE TEMP TABLE bench_templates AS SELECT key, id, owner_department_id FROM flow_templates WHERE is_current;

INSERT INTO work_orders (id, number, template_id, template_key, template_version, title, description, priority, status, source,
  business_1, business_2, business_3, problem_1, problem_2, problem_3, product_sku, tags, emotion, order_no, customer_ref,
  batch_no, data, department_id, due_at, created_by_id, created_at, updated_at, started_at, resolved_at, cancelled_at,
  contact_count, return_count, escalation_level)
SELECT w.id, 'WO-B' || lpad(w.id::text, 8, '0'), t.id, w.template_key, 1, 'Bench work order ' || w.id, '',
       (ARRAY['P1','P2','P3','P3','P4'])[1 + floor(w.r4 * 5)::int], w.status,
       (ARRAY['cs_desk','phone','phone','online','app','qr','integration','andon','recall'])[1 + floor(w.r5 * 9)::int],
       '零售 Retail', (ARRAY['生鲜 Fresh','日用 Daily','家电 Appliances'])[1 + floor(w.r6 * 3)::int], NULL,
       p.p1, p.p2, p.p3,
       NULL, CASE WHEN w.r3 < 0.30 THEN jsonb_build_array((ARRAY['damaged','late','rude','wrong_item','price'])[1 + floor(w.r4 * 5)::int])
                  ELSE '[]'::jsonb END,
       NULL, 'SO-' || w.id, 'C-' || (w.id % 200000), NULL, '{}'::jsonb, t.owner_department_id,
       w.created_at + interval '8 hours', (SELECT id FROM users WHERE login = 'lead.cs'), w.created_at, w.created_at,
       CASE WHEN w.status <> 'open' THEN w.created_at + interval '20 minutes' END,
       CASE WHEN w.status = 'resolved' THEN w.created_at + interval '6 hours' END,
       CASE WHEN w.status = 'cancelled' THEN w.created_at + interval '2 hours' END,
       1 + floor(power(w.r6, 3) * 4)::int,
       CASE WHEN w.r2 > 0.93 THEN 1 + floor(w.r5 * 2)::int ELSE 0 END,
       0
FROM bench_wo w
JOIN bench_templates t ON t.key = w.template_key,
LATERAL (SELECT (ARRAY['售后 After-sales','配送 Delivery','商品 Product','支付 Payment','账户 Account','活动 Promotion'])[1 + floor(power(w.r1 * 0.999, 2) * 6)::int] AS p1,
                (ARRAY['质量 Quality','时效 Timeliness','错漏 Wrong/missing','咨询 Enquiry'])[1 + floor(power(w.r5, 2) * 4)::int] AS p2,
                (ARRAY['破损 Damaged','缺件 Missing part','其他 Other'])[1 + floor(w.r4 * 3)::int] AS p3) p;

-- One step row and one task per (work order, step); ids derived from the work order id.
CREATE TEMP TABLE bench_tasks AS
SELECT w.id * 4 + s.ord AS id, w.id AS work_order_id, w.template_key, s.ord, s.step, s.mode, s.sla, s.dept, w.status AS wo_status, w.wh,
       w.created_at + make_interval(secs => (s.ord - 1) * 14400) AS created_at,
       -ln(1 - random()) * 1200 AS claim_s, -ln(1 - random()) * 5400 AS handle_s, random() AS r
FROM bench_wo w JOIN bench_steps s ON s.template_key = w.template_key;
DELETE FROM bench_tasks WHERE wo_status IN ('open', 'in_progress', 'cancelled') AND ord > 1;

INSERT INTO work_order_steps (id, work_order_id, key, status, activation, activated_at, completed_at, last_handler_id)
SELECT DISTINCT ON (work_order_id, step) id, work_order_id, step,
       CASE WHEN wo_status = 'resolved' THEN 'completed' WHEN wo_status = 'cancelled' THEN 'cancelled' ELSE 'active' END,
       1, created_at, NULL, NULL
FROM bench_tasks ORDER BY work_order_id, step, id;

INSERT INTO tasks (id, work_order_id, step_id, step, activation, instance, instance_label, mode, template_key, status, priority,
  assignee_id, due_at, escalation_level, created_at, claimed_at, completed_at, completed_effective_at, claimed_effective_at,
  device_time_untrusted, completed_by_id, outcome, note, data, version)
SELECT t.id, t.work_order_id, st.id, t.step, 1, NULL, NULL, t.mode, t.template_key,
       CASE WHEN t.wo_status = 'resolved' THEN 'completed' WHEN t.wo_status = 'cancelled' THEN 'cancelled'
            WHEN t.wo_status = 'in_progress' THEN 'claimed' ELSE 'open' END,
       'P3', NULL, t.created_at + make_interval(secs => t.sla),
       CASE WHEN t.r < 0.006 THEN 3 WHEN t.r < 0.02 THEN 2 WHEN t.r < 0.07 THEN 1 ELSE 0 END,
       t.created_at,
       CASE WHEN t.mode = 'pool' AND t.wo_status IN ('resolved', 'in_progress') THEN t.created_at + make_interval(secs => t.claim_s) END,
       CASE WHEN t.wo_status = 'resolved' THEN t.created_at + make_interval(secs => t.claim_s + t.handle_s) END,
       CASE WHEN t.wo_status = 'resolved' THEN t.created_at + make_interval(secs => t.claim_s + t.handle_s) END,
       CASE WHEN t.mode = 'pool' AND t.wo_status IN ('resolved', 'in_progress') THEN t.created_at + make_interval(secs => t.claim_s) END,
       false, NULL, CASE WHEN t.wo_status = 'resolved' THEN 'done' END, NULL, '{}'::jsonb, 1
FROM bench_tasks t
JOIN work_order_steps st ON st.work_order_id = t.work_order_id AND st.key = t.step;

UPDATE work_orders w SET escalation_level = x.level
FROM (SELECT work_order_id, max(escalation_level) AS level FROM tasks WHERE escalation_level > 0 GROUP BY work_order_id) x
WHERE x.work_order_id = w.id;

INSERT INTO work_order_departments (work_order_id, department_id)
SELECT DISTINCT t.work_order_id, d.id
FROM bench_tasks t JOIN bench_depts d ON d.code = CASE WHEN t.dept = 'WH' THEN t.wh ELSE t.dept END
UNION
SELECT id, department_id FROM work_orders WHERE department_id IS NOT NULL;

INSERT INTO tags (name, department_id) VALUES
  ('damaged', (SELECT id FROM departments WHERE code = 'WH-SH-01')),
  ('late', (SELECT id FROM departments WHERE code = 'DLV-SH')),
  ('rude', (SELECT id FROM departments WHERE code = 'CS')),
  ('wrong_item', (SELECT id FROM departments WHERE code = 'WH-BJ-01')),
  ('price', NULL);
INSERT INTO work_order_tags (work_order_id, tag)
SELECT id, tags ->> 0 FROM work_orders WHERE jsonb_array_length(tags) > 0;

-- About 40 % of resolved work orders are evaluated; B1 and B2 from the tasks, as the evaluation service takes them.
INSERT INTO evaluations (work_order_id, resolved, score, note, customer_answered_at, scored_at, scored_by_id, updated_by_id,
  updated_by_key_id, wait_seconds, handling_seconds, corrections, created_at, updated_at)
SELECT w.id, s.score >= 3 AND w.r4 < 0.9 OR s.score < 3 AND w.r4 < 0.3, s.score, '',
       w.created_at + interval '1 day', w.created_at + interval '1 day', NULL, NULL, NULL,
       extract(epoch FROM x.first_pick - w.created_at), extract(epoch FROM x.last_done - x.first_pick), 0,
       w.created_at + interval '1 day', w.created_at + interval '1 day'
FROM bench_wo w
CROSS JOIN LATERAL (SELECT CASE WHEN w.r6 < 0.05 THEN 1 WHEN w.r6 < 0.20 THEN 2 WHEN w.r6 < 0.75 THEN 3 ELSE 4 END AS score) s
JOIN (SELECT work_order_id, min(coalesce(claimed_effective_at, completed_effective_at)) AS first_pick,
             max(completed_effective_at) AS last_done
      FROM tasks GROUP BY work_order_id) x ON x.work_order_id = w.id
WHERE w.status = 'resolved' AND w.r3 < 0.4;

INSERT INTO service_volumes (day, channel, count, misrouted, updated_at, updated_by)
SELECT d::date, c.channel,
       round(c.base * (0.85 + random() * 0.3))::bigint,
       CASE WHEN c.channel = 'orders' THEN 0 ELSE round(c.base * 0.02 * random())::bigint END,
       now(), 'bench'
FROM generate_series(:start::date, :start::date + (:days - 1), interval '1 day') AS d,
     (VALUES ('orders', 120000), ('self_service', 3200), ('ivr', 1800), ('manual', 4200)) AS c(channel, base);

SELECT setval(pg_get_serial_sequence('work_orders', 'id'), (SELECT max(id) FROM work_orders));
SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks));
SELECT setval(pg_get_serial_sequence('work_order_steps', 'id'), (SELECT max(id) FROM work_order_steps));
"""


def _statements(sql: str, params: dict) -> list[str]:
    """Split the fill script and inline its few numeric/date parameters."""
    for name, value in params.items():
        sql = sql.replace(f":{name}", value)
    return [s.strip() for s in sql.split(";\n") if s.strip() and not s.strip().startswith("--") or "\n" in s.strip()]


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"baton_bench_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def build_app(url: str):
    from app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_COST": 1024,
        "BUSINESS_TIMEZONE": TZ,
    })


def fill(app, n: int) -> dict:
    """Schema, demo organisation and templates, then n work orders and everything around them."""
    from app.extensions import db
    from app.seed import seed_organisation, seed_templates

    with app.app_context():
        db.create_all()
        seed_organisation()
        seed_templates()
        params = {"n": str(n), "days": str(DAYS), "start": f"'{YEAR_START.isoformat()} 00:00:00+08'"}
        started = time.perf_counter()
        raw = db.engine.raw_connection()  # the driver's own execute: the script's '%' and ':' are plain SQL
        try:
            with raw.driver_connection.cursor() as cursor:
                for statement in _statements(FILL_SQL, params):
                    cursor.execute(statement)
            raw.driver_connection.commit()
        finally:
            raw.close()
        fill_seconds = time.perf_counter() - started
        facts_seconds = build_facts(app)
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE")
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in
                      ("work_orders", "tasks", "evaluations", "work_order_departments", "work_order_tags", "service_volumes")}
    return {"fill_seconds": fill_seconds, "facts_seconds": facts_seconds, **counts}


def build_facts(app) -> float:
    """The one-off build of the metrics read model for existing data (what `flask metrics rebuild-facts` does)."""
    from app.common.clock import utcnow
    from app.metrics.catch_up import rebuild_facts

    with app.app_context():
        started = time.perf_counter()
        rebuild_facts(now=utcnow(), tz=TZ)
        return time.perf_counter() - started


CLOSE_SQL = """
CREATE TEMP TABLE bench_closing AS
  SELECT id FROM work_orders WHERE status IN ('open', 'in_progress') ORDER BY created_at DESC LIMIT :n;
UPDATE work_orders SET status = 'resolved', resolved_at = now(), updated_at = now() WHERE id IN (SELECT id FROM bench_closing);
UPDATE tasks SET status = 'completed', claimed_at = coalesce(claimed_at, now()),
                 claimed_effective_at = coalesce(claimed_effective_at, now()),
                 completed_at = now(), completed_effective_at = now(), outcome = 'done'
  WHERE work_order_id IN (SELECT id FROM bench_closing) AND status IN ('open', 'claimed');
UPDATE work_order_steps SET status = 'completed', completed_at = now()
  WHERE work_order_id IN (SELECT id FROM bench_closing) AND status = 'active';
INSERT INTO timeline_events (work_order_id, kind, at, details) SELECT id, 'resolved', now(), '{}' FROM bench_closing;
DROP TABLE bench_closing
"""


def close_open_work(app, n: int) -> int:
    """Close the n youngest open work orders as the services would (the job finds them by their timeline event)."""
    from app.extensions import db

    with app.app_context():
        closing = min(n, db.session.scalar(text("SELECT count(*) FROM work_orders WHERE status IN ('open', 'in_progress')")))
        for statement in CLOSE_SQL.split(";\n"):
            db.session.execute(text(statement), {"n": closing} if ":n" in statement else {})
        db.session.commit()
        return closing


def catch_up_pass(app, check_now: bool = False) -> tuple[float, dict]:
    """One pass of the job that writes the read model (as `flask worker` and the sweep Lambda run it), timed.

    With `check_now`, the pass also makes its hourly check (closed work orders counted against their facts).
    """
    from app.common.clock import utcnow
    from app.metrics import catch_up

    every = catch_up.CHECK_EVERY
    if check_now:
        catch_up.CHECK_EVERY = timedelta(0)
    try:
        with app.app_context():
            started = time.perf_counter()
            result = catch_up.catch_up_facts(now=utcnow(), tz=TZ)
            return time.perf_counter() - started, result
    finally:
        catch_up.CHECK_EVERY = every


def time_catch_up(app, close: int) -> None:
    """Time the job's pass: idle, with its hourly check, and writing `close` newly closed work orders; then catch up."""
    from app.metrics.catch_up import BATCH_SIZE

    def show(label: str, seconds: float, result: dict) -> None:
        more = " (more waiting for the next pass)" if result["more"] else ""
        print(f"  {label:<40} {seconds * 1000:7.0f} ms   wrote {result['built']:,}{more}")

    print(f"\nCatch-up pass of the metrics read model (at most {BATCH_SIZE:,} work orders a pass):")
    seconds, result = catch_up_pass(app)
    show("first pass", seconds, result)
    while result["more"]:  # a reused database may hold a backlog: work it off before timing
        result = catch_up_pass(app)[1]
    show("nothing new", *catch_up_pass(app))
    show("nothing new, with the hourly check", *catch_up_pass(app, check_now=True))
    if close:
        closed = close_open_work(app, close)
        seconds, result = catch_up_pass(app)
        show(f"after closing {closed:,} work orders", seconds, result)
        while result["more"]:
            result = catch_up_pass(app)[1]


def _token(client, login: str) -> dict:
    response = client.post("/api/v1/auth/login", json={"login": login, "password": "baton-demo"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['token']}"}


def time_summary(app, runs: int) -> list[dict]:
    """Median and best wall time of each summary call through the HTTP stack."""
    client = app.test_client()
    admin, lead, small_lead = _token(client, "admin"), _token(client, "mgr.ops"), _token(client, "mgr.dlv")
    period = f"from={YEAR_START.isoformat()}&to={(YEAR_START + timedelta(days=DAYS - 1)).isoformat()}"
    cases = [
        ("year, ungrouped (admin)", f"/api/v1/metrics/summary?{period}", admin),
        ("year by week (admin)", f"/api/v1/metrics/summary?{period}&group_by=week", admin),
        ("year by department (admin)", f"/api/v1/metrics/summary?{period}&group_by=department", admin),
        ("year by category (admin)", f"/api/v1/metrics/summary?{period}&group_by=category", admin),
        ("year, ungrouped (lead of OPS subtree)", f"/api/v1/metrics/summary?{period}", lead),
        ("year, ungrouped (lead of DLV-SH)", f"/api/v1/metrics/summary?{period}", small_lead),
        ("year CSV export by week (admin)", f"/api/v1/metrics/export.csv?{period}&group_by=week", admin),
        ("year CSV export by week (lead of OPS)", f"/api/v1/metrics/export.csv?{period}&group_by=week", lead),
    ]
    results = []
    for label, url, headers in cases:
        times, body = [], None
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            body = response
        results.append({"label": label, "median": statistics.median(times), "best": min(times), "response": body})
    return results


def _fmt(value, digits=2):
    return "null" if value is None else f"{value:,.{digits}f}"


def print_figures(summary: dict) -> None:
    print("\nFigures for the year (admin, ungrouped):")
    print(f"  work orders               {summary['work_orders']['total']:,}")
    print(f"  orders                    {summary['volumes']['orders']:,} ({summary['volumes']['orders_source']})")
    print(f"  service_rate              {_fmt(summary['service_rate'])} per 10,000 orders")
    print(f"  manual_service_rate       {_fmt(summary['manual_service_rate'])} per 10,000 orders")
    print(f"  work_order_rate           {_fmt(summary['work_order_rate'])} per 10,000 orders")
    print(f"  resolved_share            {_fmt(summary['resolved_share'], 4)}")
    print(f"  resolution_score_mean     {_fmt(summary['resolution_score_mean'], 3)}")
    print(f"  score distribution        {summary['evaluations']['score_distribution']}")
    print(f"  effort_overall            {_fmt(summary['effort_overall'], 3)}")
    print(f"  on_time_rate              {_fmt(summary['on_time_rate'], 4)}")
    sla = summary["sla"]
    for name in ("time_to_claim", "time_to_complete"):
        figure = sla[name]
        how = f"estimated from a sample of {figure['count']:,}" if figure["estimated"] else f"exact, {figure['count']:,} tasks"
        print(f"  {name + ' median/p90':<25} {_fmt(figure['median'], 0)} s / {_fmt(figure['p90'], 0)} s ({how})")
    print(f"  tasks on time / late      {sla['on_time']:,} / {sla['late']:,} (open and overdue {sla['overdue_open']:,})")
    print(f"  escalations by level      {[(e['level'], e['reached']) for e in summary['escalations']['by_level']]}")
    print(f"  returns                   {summary['returns']['returns']:,} on {summary['returns']['work_orders_returned']:,} work orders")
    print(f"  backlog (open)            {summary['backlog']['open']:,}")
    print(f"  Pareto vital few          {summary['pareto']['vital_few']} of {len(summary['pareto']['items'])} categories")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.0, help="seconds a summary may take (median)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", help="time an existing database filled by an earlier --keep run")
    parser.add_argument("--close", type=int, default=None,
                        help="open work orders to close before timing a busy catch-up pass (default: one batch; 0: none)")
    parser.add_argument("--admin-url", default=os.environ.get("BATON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    if args.reuse:
        name, url = args.reuse, args.admin_url.rsplit("/", 1)[0] + f"/{args.reuse}"
    else:
        name, url = create_database(args.admin_url)
    print(f"database {name}")
    app = build_app(url)
    try:
        if not args.reuse:
            counts = fill(app, args.n)
            print("filled in {fill_seconds:.1f} s (read model built in {facts_seconds:.1f} s): {work_orders:,} work orders, {tasks:,} tasks, {evaluations:,} evaluations, "
                  "{work_order_departments:,} department links, {work_order_tags:,} tags, {service_volumes:,} volume rows".format(**counts))
        from app.metrics.catch_up import BATCH_SIZE

        time_catch_up(app, BATCH_SIZE if args.close is None else args.close)  # the reads below then only read
        with app.app_context():
            results = time_summary(app, args.runs)
        print(f"\nGET timings over {args.runs} runs (wall time through the Flask test client, PostgreSQL; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
        for r in results:
            print(f"  {r['label']:<40} median {r['median'] * 1000:7.0f} ms   best {r['best'] * 1000:7.0f} ms")
        print_figures(results[0]["response"].json)
        slow = [r for r in results if r["median"] > args.target]
        print(f"\ntarget: every median under {args.target:.1f} s -> {'met' if not slow else 'MISSED: ' + ', '.join(r['label'] for r in slow)}")
        return 0 if not slow else 2
    finally:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep and not args.reuse:
            drop_database(args.admin_url, name)
        elif args.keep:
            print(f"kept database {name}")


if __name__ == "__main__":
    sys.exit(main())
