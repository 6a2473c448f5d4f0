"""Recall benchmark on PostgreSQL: a batch delivered in 100,000 orders among 2,000,000 order lines.

    .venv/bin/python bench/bench_recall.py [--orders 100000] [--lines 2000000] [--batch-size 5000]
        [--admin-url postgresql://postgres@127.0.0.1/postgres] [--keep]

Creates its own database (dropped at the end unless --keep), seeds the demo organisation and
flow templates, generates the catalogue and orders with set-based SQL (generate_series), then:

  1. POST /api/v1/andon (scope batch, action recall) through the real Flask app — target < 200 ms;
  2. runs the recall fan-out job until every affected order has its recall work order with its
     first task open — target < 60 s — and checks there is exactly one per order;
  3. GET /api/v1/batches/{batch}/trace and GET /api/v1/andon/{id} (live progress) — timed.

Exit status: 0 targets met, 2 a target missed, 1 a correctness check failed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import psycopg  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

PULL_TARGET_S = 0.200
FANOUT_TARGET_S = 60.0
TZ = "Asia/Shanghai"


def _create_database(admin_url: str) -> tuple[str, str]:
    name = f"baton_bench_recall_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _generate(db, *, affected: int, lines: int, products: int = 1_000, batches: int = 20_000) -> dict:
    """Products, batches, orders and lines, all set-based; the target batch is in `affected` delivered orders."""
    from app.org.models import Department, User
    from app.quality.models import OrderLine

    dept = dict(db.session.execute(select(Department.code, Department.id)).all())
    user = dict(db.session.execute(select(User.login, User.id)).all())
    orders = lines // 2
    every = max(orders // affected, 1)
    params = {"mer": dept["MER"], "sh": dept["WH-SH-01"], "bj": dept["WH-BJ-01"], "li": user["driver.li"],
              "wang": user["driver.wang"], "chen": user["driver.chen"], "products": products, "batches": batches,
              "orders": orders, "every": every, "affected": affected}
    run = lambda sql: db.session.execute(text(sql), params)  # noqa: E731
    run("""INSERT INTO products (sku, name, owner_department_id, sale_status, created_at, updated_at)
           SELECT 'SKU-' || lpad(g::text, 5, '0'), 'Bench product ' || g, :mer, 'on_sale', now(), now()
           FROM generate_series(1, :products) g""")
    run("""INSERT INTO batches (batch_no, product_id, supplier, produced_at, qc_result, qc_at, status, created_at, updated_at)
           SELECT 'B-' || lpad(g::text, 6, '0'), ((g - 1) % :products) + 1, 'Supplier ' || (g % 37),
                  timestamptz '2026-09-01' + (g % 30) * interval '1 day', 'pass', timestamptz '2026-09-02' + (g % 30) * interval '1 day',
                  'ok', now(), now()
           FROM generate_series(1, :batches) g""")
    run("""INSERT INTO orders (order_no, customer_ref, placed_at, created_at, updated_at)
           SELECT 'SO-' || lpad(g::text, 8, '0'), 'C-' || (g % 400000), timestamptz '2026-10-01' + (g % 43200) * interval '1 minute',
                  now(), now()
           FROM generate_series(1, :orders) g""")
    # Indexes are built once after the bulk load, as one would for a data migration.
    for index in OrderLine.__table__.indexes:
        run(f'DROP INDEX IF EXISTS "{index.name}"')
    # Line 0 of every `every`-th order (the first `affected` of them) carries the target batch B-000001.
    run("""INSERT INTO order_lines (order_id, line_no, product_id, batch_id, qty, customer_ref, warehouse_id, driver_id, shipped_at,
                                    delivered_at)
           SELECT o, l, ((b - 1) % :products) + 1, b, 1 + (o + l) % 3, 'C-' || (o % 400000),
                  CASE WHEN (o + l) % 2 = 0 THEN :sh ELSE :bj END,
                  CASE o % 3 WHEN 0 THEN :li WHEN 1 THEN :wang ELSE :chen END,
                  timestamptz '2026-10-01 02:00' + (o % 43200) * interval '1 minute',
                  timestamptz '2026-10-01 08:00' + (o % 43200) * interval '1 minute'
           FROM (SELECT o, l, CASE WHEN l = 0 AND o % :every = 0 AND o / :every <= :affected THEN 1
                                   ELSE 2 + ((o * 7 + l * 13) % (:batches - 1)) END AS b
                 FROM generate_series(1, :orders) o, generate_series(0, 1) l) s""")
    db.session.commit()
    for index in OrderLine.__table__.indexes:
        index.create(db.session.connection())
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE products, batches, orders, order_lines"))
    return {"orders": orders, "lines": orders * 2}


def _stock(now: datetime) -> None:
    from app.quality.shortage import record_inventory_events

    record_inventory_events(items=[
        {"sku": "SKU-00001", "batch_no": "B-000001", "warehouse": "WH-SH-01", "on_hand": 900, "available": 880, "at": now - timedelta(days=40)},
        {"sku": "SKU-00001", "batch_no": "B-000001", "warehouse": "WH-SH-01", "on_hand": 240, "available": 230, "at": now - timedelta(days=2)},
        {"sku": "SKU-00001", "batch_no": "B-000001", "warehouse": "WH-BJ-01", "on_hand": 700, "available": 700, "at": now - timedelta(days=39)},
        {"sku": "SKU-00001", "batch_no": "B-000001", "warehouse": "WH-BJ-01", "on_hand": 60, "available": 60, "at": now - timedelta(days=3)},
    ], now=now, tz=TZ)


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="delivered orders carrying the recalled batch")
    parser.add_argument("--lines", type=int, default=2_000_000, help="order lines in the whole database (2 per order)")
    parser.add_argument("--batch-size", type=int, default=5_000, help="recall work orders per fan-out transaction")
    parser.add_argument("--lanes", type=int, default=2, help="parallel fan-out runners (RECALL_LANES)")
    parser.add_argument("--admin-url", default=os.environ.get("BATON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    name, url = _create_database(args.admin_url)
    print(f"database {name}")
    try:
        return _run(args, url)
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            _drop_database(args.admin_url, name)


def _run(args, url: str) -> int:
    import logging

    from app import create_app
    from app.common.clock import utcnow
    from app.extensions import db
    from app.quality.models import AndonRecall, Order
    from app.quality.recall import run_recall_fanout, run_recall_lanes
    from app.seed import seed_organisation, seed_templates
    from app.workorders.models import Task, WorkOrder

    logging.getLogger().setLevel(logging.WARNING)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 1024,
                      "BUSINESS_TIMEZONE": TZ, "RECALL_LANES": args.lanes})
    logging.getLogger().setLevel(logging.WARNING)
    failures, missed = [], []
    with app.app_context():
        db.create_all()
        seed_organisation()
        seed_templates()
        (sizes, seconds) = _timed(lambda: _generate(db, affected=args.orders, lines=args.lines))
        now = utcnow()
        _stock(now)
        print(f"data: {sizes['orders']:,} orders, {sizes['lines']:,} order lines, batch B-000001 in {args.orders:,} of them "
              f"(generated in {seconds:.1f} s)")

        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"login": "quality.qa", "password": "baton-demo"}).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        # Warm the process (connection pool, compiled statements) with a pull on another batch, as a running server is.
        warm, warm_s = _timed(lambda: client.post("/api/v1/andon", headers=headers, json={
            "scope": "batch", "batch_no": "B-000003", "action": "pause", "reason": "Benchmark warm-up"}))
        client.post(f"/api/v1/andon/{warm.json['id']}/resolve", headers=headers, json={"note": "warm-up done"})
        print(f"warm-up pull (another batch, cold process): {warm_s * 1000:.0f} ms")
        response, pull_s = _timed(lambda: client.post("/api/v1/andon", headers=headers, json={
            "scope": "batch", "batch_no": "B-000001", "action": "recall", "reason": "Benchmark: swollen lids reported"}))
        if response.status_code != 201:
            print("pull failed:", response.status_code, response.get_data(as_text=True)[:500])
            return 1
        andon = response.json
        print(f"POST /andon answered 201 in {pull_s * 1000:.0f} ms (target < {PULL_TARGET_S * 1000:.0f} ms); "
              f"affected_orders={andon['affected_orders']:,}, containment work order {andon['containment_work_order_id']}")
        if andon["affected_orders"] != args.orders:
            failures.append(f"affected_orders {andon['affected_orders']} != {args.orders}")
        if pull_s > PULL_TARGET_S:
            missed.append("pull")

        db.session.remove()
        # What `flask worker` (run_pending_recalls) does: the job's lanes in parallel, each in its own session.
        result, fanout_s = _timed(lambda: run_recall_lanes(app=app, andon_id=andon["id"], now=utcnow(), tz=TZ, batch_size=args.batch_size))
        created = db.session.scalar(select(func.count()).select_from(AndonRecall).where(AndonRecall.andon_id == andon["id"]))
        distinct_orders = db.session.scalar(select(func.count(func.distinct(AndonRecall.order_id))).where(AndonRecall.andon_id == andon["id"]))
        recall_wos = db.session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.source == "recall"))
        first_tasks = db.session.scalar(select(func.count()).select_from(Task).join(WorkOrder, WorkOrder.id == Task.work_order_id)
                                        .where(WorkOrder.source == "recall", Task.step == "contact", Task.status == "open"))
        numbers = db.session.scalar(select(func.count(func.distinct(WorkOrder.number))).where(WorkOrder.source == "recall"))
        print(f"fan-out: {created:,} recall work orders with {first_tasks:,} open first tasks in {fanout_s:.1f} s "
              f"(target < {FANOUT_TARGET_S:.0f} s; {args.lanes} lanes, {result['batches']} batches of up to {args.batch_size:,}; "
              f"{created / fanout_s:,.0f} work orders/s)")
        for label, value in (("recall links", created), ("distinct orders", distinct_orders), ("recall work orders", recall_wos),
                             ("open first tasks", first_tasks), ("distinct numbers", numbers)):
            if value != args.orders:
                failures.append(f"{label}: {value} != {args.orders}")
        if fanout_s > FANOUT_TARGET_S:
            missed.append("fan-out")

        again, rerun_s = _timed(lambda: run_recall_fanout(andon_id=andon["id"], now=utcnow(), tz=TZ, batch_size=args.batch_size))
        if again["created"] != 0:
            failures.append(f"a second run created {again['created']}")
        print(f"second run of the job: {again['created']} created in {rerun_s * 1000:.0f} ms (idempotent)")

        trace, trace_s = _timed(lambda: client.get("/api/v1/batches/B-000001/trace", headers=headers))
        _, trace_warm_s = _timed(lambda: client.get("/api/v1/batches/B-000001/trace?page=100", headers=headers))
        counts = trace.json["counts"]
        print(f"GET /batches/B-000001/trace in {trace_s * 1000:.0f} ms (page 100: {trace_warm_s * 1000:.0f} ms); "
              f"counts={counts}, lines_total={trace.json['lines_total']:,}, warehouses={[w['code'] for w in trace.json['warehouses']]}")
        if counts["delivered"] != args.orders:
            failures.append(f"trace delivered {counts['delivered']} != {args.orders}")

        detail, detail_s = _timed(lambda: client.get(f"/api/v1/andon/{andon['id']}", headers=headers))
        print(f"GET /andon/{andon['id']} (live progress over {created:,} work orders) in {detail_s * 1000:.0f} ms: {detail.json['progress']}")
        total_orders = db.session.scalar(select(func.count()).select_from(Order))
        print(f"orders in database: {total_orders:,}")

    if failures:
        print("CORRECTNESS FAILURES:", *failures, sep="\n  ")
        return 1
    if missed:
        print("TARGETS MISSED:", ", ".join(missed))
        return 2
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
