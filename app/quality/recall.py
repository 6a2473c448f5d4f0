"""The recall fan-out: one recall work order per affected delivered order, in batches, idempotently.

The andon pull only records a pending `RecallJob`; this job (run by `flask worker`, and by an
SQS-triggered Lambda in AWS) works through the affected orders in id order. Each batch is one
transaction: the work orders, their first tasks and the `andon_recalls` rows that tie them to
(andon, order) commit together or not at all, and the primary key of `andon_recalls` makes a second
recall work order for the same andon and order impossible — a re-run, a crash halfway or two
runners at once never duplicate one; a re-run simply picks up the orders that have none yet.

Across andons, `order_recalls` holds what of each order has been recalled (per order, product and batch,
whichever andon did it), with its primary key as the guarantee: an andon recalls only the delivered lines
no other andon — active, overlapping or resolved long ago — has recalled yet, so one customer never gets two
recall work orders for the same goods. A batch that loses a race for the same goods to another andon's
fan-out rolls back whole and is planned again without them.

Once a fan-out has written many rows, the tables it filled are ANALYZEd (PostgreSQL), so the planner does
not plan the next inbox over statistics that still describe the tables before the recall.

On PostgreSQL a job is split into `lanes` (a hash of the order id), each taken by one runner at a
time through a transaction-scoped advisory lock, so several runners (worker threads, or one Lambda
invocation per lane) fan out one big recall in parallel. The last lane to find nothing left marks
the job done.
"""
import logging
import threading
from datetime import datetime

from flask import current_app
from sqlalchemy import BigInteger, Integer, case, exists, func, literal, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.common.bulk import chunks, dialect, in_list, load_rows
from app.errors import Conflict, Invalid, NotFound
from app.workorders import bulk
from app.workorders.models import Timer
from app.extensions import db
from app.flows.models import FlowTemplate
from app.flows.service import get_template
from app.notify.messages import system_title
from app.org.models import Department, User
from app.quality.models import (
    Andon,
    AndonEvent,
    AndonRecall,
    Batch,
    Order,
    OrderLine,
    OrderRecall,
    Product,
    RecallJob,
    RecallJobStatus,
)
from app.workorders.models import (
    StepStatus,
    Task,
    TaskCandidate,
    TimelineEvent,
    WorkOrder,
    WorkOrderDepartment,
    WorkOrderStatus,
    WorkOrderStep,
)

log = logging.getLogger(__name__)

RECALL_TEMPLATE = "recall"
DEFAULT_BATCH_SIZE = 5_000
# Advisory-lock keys of recall lanes: (andon id, LANE_LOCK_SPACE + lane).
LANE_LOCK_SPACE = 7_000
LANE_HASH = 2_654_435_761  # Knuth's multiplicative constant
# Recall template step -> progress counter it feeds once completed.
PROGRESS_STEPS = {"contact": "contacted", "pickup": "picked_up", "receive": "received"}
CLOSED = (WorkOrderStatus.RESOLVED, WorkOrderStatus.CANCELLED)
# A batch that lost a race for the same goods to another andon's fan-out is planned again, this many times at most.
MAX_CONFLICT_RETRIES = 5
# What a fan-out fills, row for row with its work orders: ANALYZEd when a job finishes having created at least
# ANALYZE_MIN_WORK_ORDERS since it last finished, and by a runner every ANALYZE_EVERY work orders on the way.
FANOUT_TABLES = (WorkOrder, WorkOrderDepartment, WorkOrderStep, TimelineEvent, Task, TaskCandidate, Timer, AndonRecall, OrderRecall)
ANALYZE_MIN_WORK_ORDERS = 1_000
ANALYZE_EVERY = 100_000


def record_event(*, andon_id: int, kind: str, actor_id: int | None, now: datetime, details: dict | None = None) -> AndonEvent:
    """Append one event to the andon's own timeline (caller's transaction)."""
    event = AndonEvent(andon_id=andon_id, kind=kind, actor_id=actor_id, at=now, details=details or {})
    db.session.add(event)  # written with the next flush, in the order recorded
    return event


def affected_lines_filter(andon: Andon) -> list:
    """WHERE clauses selecting the delivered order lines an andon reaches (scope and narrowing filters)."""
    clauses = [OrderLine.delivered_at.is_not(None)]
    if andon.scope == "batch":
        clauses.append(OrderLine.batch_id == andon.batch_id)
    else:
        clauses.append(OrderLine.product_id == andon.product_id)
    if andon.warehouse_id:
        clauses.append(OrderLine.warehouse_id == andon.warehouse_id)
    if andon.driver_id:
        clauses.append(OrderLine.driver_id == andon.driver_id)
    if andon.shipped_from:
        clauses.append(OrderLine.shipped_at >= andon.shipped_from)
    if andon.shipped_to:
        clauses.append(OrderLine.shipped_at <= andon.shipped_to)
    clauses.append(~_already_recalled(andon))
    return clauses


def _batch_key(andon: Andon):
    """The `order_recalls.batch_key` of a line the andon reaches (a literal for a batch andon: keeps the index-only scan)."""
    return literal(andon.batch_id, Integer) if andon.scope == "batch" else func.coalesce(OrderLine.batch_id, 0)


def _already_recalled(andon: Andon):
    """The line's goods were recalled already, by this andon or any other (active or resolved)."""
    return exists().where(OrderRecall.order_id == OrderLine.order_id, OrderRecall.product_id == andon.product_id,
                          OrderRecall.batch_key == _batch_key(andon))


def count_affected_orders(andon: Andon) -> int:
    """Delivered orders the andon reaches, counted in the database (grouped in index order: no sort of the ids)."""
    orders = select(OrderLine.order_id).where(*affected_lines_filter(andon)).group_by(OrderLine.order_id).subquery()
    return db.session.scalar(select(func.count()).select_from(orders)) or 0


def _next_orders(andon: Andon, after: int, limit: int, lane: int, lanes: int) -> list[int]:
    """The next affected orders of a lane with no recall work order yet, in id order after `after`."""
    done = exists().where(AndonRecall.andon_id == andon.id, AndonRecall.order_id == OrderLine.order_id)
    stmt = select(OrderLine.order_id).where(*affected_lines_filter(andon), OrderLine.order_id > after, ~done)
    if lanes > 1:
        # A multiplicative hash, not `id % lanes`: affected ids often share a stride (every 10th order…).
        stmt = stmt.where((OrderLine.order_id * literal(LANE_HASH, BigInteger)).op(">>")(literal(16, Integer)) % lanes == lane)
    return list(db.session.scalars(stmt.group_by(OrderLine.order_id).order_by(OrderLine.order_id).limit(limit)))


def _any_left(andon: Andon) -> bool:
    done = exists().where(AndonRecall.andon_id == andon.id, AndonRecall.order_id == OrderLine.order_id)
    return db.session.scalar(select(OrderLine.order_id).where(*affected_lines_filter(andon), ~done).limit(1)) is not None


def _recall_items(andon: Andon, order_ids: list[int], product: Product, batch: Batch | None,
                  qa_department_id: int | None) -> tuple[list[int], list[dict], dict[int, set[int]]]:
    """What each recall work order carries: the order, its customer, the drivers and warehouses of its affected lines.

    Answers the orders that still have lines to recall (another andon may have recalled some since they were picked),
    their items in the same order, and per order the batch keys of the goods recalled.
    """
    rows = db.session.execute(
        select(OrderLine.order_id, Order.order_no, Order.customer_ref, OrderLine.warehouse_id, Department.code, Department.name,
               OrderLine.driver_id, User.login, OrderLine.batch_id, OrderLine.qty, OrderLine.delivered_at)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Department, Department.id == OrderLine.warehouse_id)
        .outerjoin(User, User.id == OrderLine.driver_id)
        .where(in_list(OrderLine.order_id, order_ids), *affected_lines_filter(andon))
        .order_by(OrderLine.order_id, OrderLine.id)
    ).all()
    batch_ids = {row[8] for row in rows if row[8]}
    batch_nos = dict(db.session.execute(select(Batch.id, Batch.batch_no).where(in_list(Batch.id, batch_ids))).all()) \
        if andon.scope == "product" and batch_ids else {}
    orders: dict[int, dict] = {}
    goods: dict[int, set[int]] = {}
    for order_id, order_no, customer_ref, warehouse_id, code, name, driver_id, login, batch_id, qty, delivered_at in rows:
        goods.setdefault(order_id, set()).add(batch_id or 0)
        entry = orders.get(order_id)
        if entry is None:
            entry = orders[order_id] = {"order_no": order_no, "customer_ref": customer_ref, "qty": 0, "drivers": {},
                                        "warehouses": {}, "batches": [], "delivered_at": delivered_at}
        entry["qty"] += qty
        if driver_id:
            entry["drivers"][driver_id] = login
        if warehouse_id:
            entry["warehouses"][warehouse_id] = (code, name)
        number = batch.batch_no if batch else batch_nos.get(batch_id)
        if number and number not in entry["batches"]:
            entry["batches"].append(number)
        if delivered_at > entry["delivered_at"]:
            entry["delivered_at"] = delivered_at
    order_ids = [order_id for order_id in order_ids if order_id in orders]
    items = []
    target = product.sku + (f" / {batch.batch_no}" if batch else "")
    for order_id in order_ids:
        o = orders[order_id]  # the caller keeps only orders that still have lines to recall
        receive_at = [{"code": code, "name": name, "label": f"{name} ({code})", "assignees": {"departments": [wid]}}
                      for wid, (code, name) in o["warehouses"].items()]
        if not receive_at and qa_department_id:
            # No warehouse on the lines: quality receives the returned goods itself.
            receive_at = [{"code": "QA", "label": "Quality", "assignees": {"departments": [qa_department_id]}}]
        items.append({
            "title": system_title("recall", order_no=o["order_no"], target=target),
            "order_no": o["order_no"], "customer_ref": o["customer_ref"], "product_sku": product.sku,
            "batch_no": o["batches"][0] if o["batches"] else None,
            "data": {"andon_id": andon.id, "order_id": order_id, "order_no": o["order_no"], "customer_ref": o["customer_ref"],
                     "sku": product.sku, "batch_nos": o["batches"], "qty": o["qty"], "reason": andon.reason,
                     "driver_ids": sorted(o["drivers"]), "drivers": [o["drivers"][d] for d in sorted(o["drivers"])],
                     "receive_at": receive_at, "delivered_at": o["delivered_at"].isoformat()},
        })
    return order_ids, items, goods


def _record_recalled_goods(andon: Andon, goods: dict[int, set[int]], opened: dict[int, int], now: datetime) -> None:
    """Write the goods this batch recalls — exactly those it planned — to `order_recalls`, in key order.

    Another andon's fan-out that recalled some of them since they were planned makes this fail with IntegrityError
    (the primary key), and the caller's batch rolls back whole.
    """
    rows = [{"order_id": order_id, "product_id": andon.product_id, "batch_key": key, "andon_id": andon.id,
             "work_order_id": opened[order_id], "created_at": now}
            for order_id in sorted(goods) for key in sorted(goods[order_id])]
    for part in chunks(rows, 2_000):
        db.session.execute(OrderRecall.__table__.insert(), part)


def _take_lane(andon_id: int, lane: int) -> bool:
    """Hold the lane for this transaction; False when another runner has it (then this one leaves it alone).

    On PostgreSQL a transaction-scoped advisory lock, released by commit, rollback or a lost connection.
    SQLite runs one writer at a time anyway.
    """
    if dialect() != "postgresql":
        return True
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(andon_id, LANE_LOCK_SPACE + lane))))


def run_recall_fanout(*, andon_id: int, now: datetime, tz: str, batch_size: int = DEFAULT_BATCH_SIZE, lane: int | None = None,
                      max_batches: int | None = None) -> dict:
    """Create the missing recall work orders of one andon, a batch per transaction; safe to run again at any time.

    With `lane`, only that lane of the job's lanes (parallel runners); without, every lane one after the other.
    """
    job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon_id))
    if job is None:
        raise NotFound("No recall job for this andon.")
    lanes = job.lanes if dialect() == "postgresql" else 1
    if lane is None:
        results = [run_recall_fanout(andon_id=andon_id, now=now, tz=tz, batch_size=batch_size, lane=k, max_batches=max_batches)
                   for k in range(lanes)]
        return {"andon_id": andon_id, "created": sum(r["created"] for r in results), "batches": sum(r["batches"] for r in results)}
    if not 0 <= lane < lanes:
        raise Invalid("No such lane.", details={"lane": [f"must be 0 to {lanes - 1}"]})
    created = batches = conflicts = since_analyze = 0
    after = 0
    while max_batches is None or batches < max_batches:
        if not _take_lane(andon_id, lane):
            db.session.rollback()
            break
        job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon_id).execution_options(populate_existing=True))
        if job is None or job.status != RecallJobStatus.PENDING:
            db.session.rollback()
            break
        andon = db.session.get(Andon, andon_id)
        order_ids = _next_orders(andon, after, batch_size, lane, lanes)
        if not order_ids:
            _finish(andon_id, now)
            break
        template = _recall_template()
        product = db.session.get(Product, andon.product_id)
        batch = db.session.get(Batch, andon.batch_id) if andon.batch_id else None
        last_picked = order_ids[-1]
        order_ids, items, goods = _recall_items(andon, order_ids, product, batch, template.owner_department_id)
        if not order_ids:  # every one of them was recalled by another andon meanwhile
            db.session.rollback()
            after = last_picked
            continue
        opened = bulk.create_work_orders(template=template, items=items, now=now, tz=tz, created_by_id=andon.created_by_id,
                                         department_id=template.owner_department_id, source="recall")
        # The primary key (andon, order) is the guarantee: a second runner's batch for the same orders fails whole.
        load_rows(AndonRecall.__table__, [
            {"andon_id": andon.id, "order_id": order_id, "work_order_id": wo_id, "created_at": now}
            for order_id, (wo_id, _) in zip(order_ids, opened)
        ])
        try:
            _record_recalled_goods(andon, goods, {order_id: wo_id for order_id, (wo_id, _) in zip(order_ids, opened)}, now)
        except IntegrityError:
            # Another andon recalled some of these goods first: plan this batch again without them.
            db.session.rollback()
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                raise
            continue
        # Counters move with one atomic update at the end, so parallel lanes hold the job row only for a moment.
        total = db.session.execute(
            update(RecallJob).where(RecallJob.id == job.id, RecallJob.status == RecallJobStatus.PENDING)
            .values(created=RecallJob.created + len(opened), batches=RecallJob.batches + 1, updated_at=now)
            .returning(RecallJob.created)
        ).scalar()
        if total is None:  # resolved meanwhile: this batch is not recalled after all
            db.session.rollback()
            break
        record_event(andon_id=andon.id, kind="recall_batch", actor_id=None, now=now,
                     details={"work_orders": len(opened), "first": opened[0][1], "last": opened[-1][1], "total": total, "lane": lane})
        db.session.commit()
        after = last_picked
        created += len(opened)
        batches += 1
        since_analyze += len(opened)
        if since_analyze >= ANALYZE_EVERY:  # a long fan-out: keep the planner's picture current on the way
            analyze_fanout_tables()
            since_analyze = 0
    return {"andon_id": andon_id, "created": created, "batches": batches}


def analyze_fanout_tables() -> bool:
    """ANALYZE the tables a fan-out fills, in its own short transaction; answers whether it ran.

    PostgreSQL only: autovacuum may be off or far behind after a bulk load, and an inbox planned over the
    old row counts can take seconds instead of milliseconds. SQLite is skipped: it plans without statistics
    until ANALYZE is first run, and it serves development and tests, never a big fan-out.
    A failure is logged, never fails the fan-out. (A database user who does not own the tables gets only a warning
    from PostgreSQL and no new statistics; the answer is then True all the same.)
    """
    if dialect() != "postgresql":
        return False
    tables = ", ".join(f'"{model.__table__.name}"' for model in FANOUT_TABLES)
    try:
        db.session.commit()
        db.session.execute(text(f"ANALYZE {tables}"))
        db.session.commit()
    except DBAPIError:
        db.session.rollback()
        log.warning("ANALYZE after the recall fan-out failed; the planner keeps its old statistics", exc_info=True)
        return False
    return True


def _finish(andon_id: int, now: datetime) -> None:
    """This lane is done: the job is done once no lane has anything left (the last lane to finish says so)."""
    andon = db.session.get(Andon, andon_id)
    if _any_left(andon):
        db.session.rollback()  # another lane is still at work
        return
    job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon_id).with_for_update()
                            .execution_options(populate_existing=True))
    if job.status != RecallJobStatus.PENDING:
        db.session.rollback()
        return
    job.status = RecallJobStatus.DONE
    job.finished_at = now
    job.updated_at = now
    if job.created > andon.affected_orders:
        andon.affected_orders = job.created
    # A job re-opened by late deliveries finishes again: only what it created since it last finished counts here.
    before = db.session.scalar(select(AndonEvent.details).where(AndonEvent.andon_id == andon_id, AndonEvent.kind == "recall_completed")
                               .order_by(AndonEvent.id.desc()).limit(1))
    created_now = job.created - ((before or {}).get("work_orders") or 0)
    record_event(andon_id=andon.id, kind="recall_completed", actor_id=None, now=now,
                 details={"work_orders": job.created, "batches": job.batches})
    db.session.commit()
    if created_now >= ANALYZE_MIN_WORK_ORDERS:
        analyze_fanout_tables()


def run_recall_lanes(*, app, andon_id: int, now: datetime, tz: str, batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """Run every lane of one fan-out at once, each in its own thread and database session (PostgreSQL)."""
    lanes = db.session.scalar(select(RecallJob.lanes).where(RecallJob.andon_id == andon_id)) or 1
    db.session.rollback()
    if lanes <= 1 or dialect() != "postgresql":
        return run_recall_fanout(andon_id=andon_id, now=now, tz=tz, batch_size=batch_size)
    results, errors = [], []

    def lane_runner(lane: int) -> None:
        with app.app_context():
            try:
                results.append(run_recall_fanout(andon_id=andon_id, now=now, tz=tz, batch_size=batch_size, lane=lane))
            except Exception as exc:  # reported to the caller below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=lane_runner, args=(lane,), name=f"recall-{andon_id}-{lane}") for lane in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    # A lane that finished while another was still committing leaves the job open: close it now.
    _finish(andon_id, now)
    db.session.rollback()
    return {"andon_id": andon_id, "created": sum(r["created"] for r in results), "batches": sum(r["batches"] for r in results)}


def _recall_template() -> FlowTemplate:
    try:
        return get_template(key=RECALL_TEMPLATE)
    except NotFound:
        raise Conflict("The recall flow is missing; `flask db upgrade` installs it with the database.", code="template_missing")


def pending_recall_andon_ids() -> list[int]:
    """Andons whose recall fan-out still has work (what an SQS message or a worker pass picks up)."""
    return list(db.session.scalars(select(RecallJob.andon_id).where(RecallJob.status == RecallJobStatus.PENDING).order_by(RecallJob.id)))


def run_pending_recalls(*, now: datetime, tz: str, batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """Run every pending fan-out (its lanes in parallel); one failing andon is logged and retried next pass, the others go on."""
    ids = pending_recall_andon_ids()
    db.session.rollback()
    summary = {"created": 0, "andons": 0, "failed": 0}
    app = current_app._get_current_object()
    for andon_id in ids:
        try:
            result = run_recall_lanes(app=app, andon_id=andon_id, now=now, tz=tz, batch_size=batch_size)
        except Exception:
            db.session.rollback()
            log.exception("recall fan-out of andon %s failed; it resumes on the next pass", andon_id)
            summary["failed"] += 1
            continue
        summary["created"] += result["created"]
        summary["andons"] += 1
    return summary


def stop_recall(*, andon: Andon, now: datetime) -> RecallJob | None:
    """A resolved andon recalls nothing more; the work orders already open go on."""
    job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon.id).with_for_update())
    if job is not None and job.status == RecallJobStatus.PENDING:
        job.status = RecallJobStatus.CANCELLED
        job.finished_at = now
        job.updated_at = now
    return job


def recall_progress(andon: Andon) -> dict:
    """Live counts from the recall work orders' step states, aggregated in the database."""
    steps = PROGRESS_STEPS
    completed = dict(db.session.execute(
        select(WorkOrderStep.key, func.count())
        .join(AndonRecall, AndonRecall.work_order_id == WorkOrderStep.work_order_id)
        .where(AndonRecall.andon_id == andon.id, WorkOrderStep.status == StepStatus.COMPLETED, WorkOrderStep.key.in_(steps))
        .group_by(WorkOrderStep.key)
    ).all())
    created, closed = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((WorkOrder.status.in_(CLOSED), 1), else_=0)), 0))
        .select_from(AndonRecall).join(WorkOrder, WorkOrder.id == AndonRecall.work_order_id)
        .where(AndonRecall.andon_id == andon.id)
    ).one()
    progress = {name: completed.get(key, 0) for key, name in steps.items()}
    return {"affected": max(andon.affected_orders, created), "created": created, **progress, "closed": int(closed)}


def recall_work_orders(andon: Andon, *, page: int, per_page: int, visible=None) -> tuple[list[dict], int]:
    """A page of the recall work orders created so far, oldest first; with `visible` (a WHERE clause), only those."""
    base = select(WorkOrder.id, WorkOrder.number, WorkOrder.order_no, WorkOrder.status).join(
        AndonRecall, AndonRecall.work_order_id == WorkOrder.id).where(AndonRecall.andon_id == andon.id)
    if visible is None:
        total = db.session.scalar(select(func.count()).select_from(AndonRecall).where(AndonRecall.andon_id == andon.id)) or 0
    else:
        base = base.where(visible)
        total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.execute(base.order_by(WorkOrder.id).limit(per_page).offset((page - 1) * per_page)).all()
    return [dict(r._mapping) for r in rows], total
