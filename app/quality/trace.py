"""Reading the catalogue: a product's sale status and why, and the traceability of a batch."""
from datetime import datetime

from sqlalchemy import distinct, func, select

from app.errors import NotFound
from app.extensions import db
from app.org.models import Department, User
from app.quality.holds import active_holds, reason_of
from app.quality.models import Andon, Batch, Order, OrderLine, Product, StockEvent, StockLevel
from app.quality.policy import can_read_product
from app.quality.shortage import product_totals

MAX_BATCHES_SHOWN = 100


def _holds_view(held) -> list[dict]:
    andon_ids = {h.andon_id for h in held if h.andon_id}
    reasons = dict(db.session.execute(select(Andon.id, Andon.reason).where(Andon.id.in_(andon_ids))).all()) if andon_ids else {}
    batch_ids = {h.batch_id for h in held if h.batch_id}
    batch_nos = dict(db.session.execute(select(Batch.id, Batch.batch_no).where(Batch.id.in_(batch_ids))).all()) if batch_ids else {}
    return [{"source": h.source, "andon_id": h.andon_id, "batch_no": batch_nos.get(h.batch_id),
             "reason": reasons.get(h.andon_id, h.source), "restock_work_order_id": h.restock_work_order_id, "since": h.created_at}
            for h in held]


def product_view(*, sku: str, viewer: User | None) -> dict:
    """A product's sale status with the holds behind it, its batches and its stock (`viewer` None: an integration's key)."""
    product = db.session.scalar(select(Product).where(Product.sku == sku))
    if product is None or not can_read_product(viewer, product):
        raise NotFound("No such product.")
    product_holds = [h for h in active_holds(product_id=product.id) if h.batch_id is None]
    batches = list(db.session.scalars(select(Batch).where(Batch.product_id == product.id)
                                      .order_by(Batch.produced_at.desc(), Batch.id.desc()).limit(MAX_BATCHES_SHOWN)))
    held_batches = [b.id for b in batches if b.status != "ok"]
    batch_holds = [h for bid in held_batches for h in active_holds(batch_id=bid)]
    owner = db.session.get(Department, product.owner_department_id) if product.owner_department_id else None
    levels = db.session.execute(
        select(StockLevel, Department.code, Department.name, Batch.batch_no)
        .join(Department, Department.id == StockLevel.warehouse_id).outerjoin(Batch, Batch.id == StockLevel.batch_id)
        .where(StockLevel.product_id == product.id).order_by(Department.code, Batch.batch_no)
    ).all()
    total = product_totals([product.id]).get(product.id, {"on_hand": 0, "available": 0, "threshold": 0, "unfulfillable_orders": 0})
    return {
        "sku": product.sku, "name": product.name, "sale_status": product.sale_status,
        "owner_department": {"id": owner.id, "code": owner.code, "name": owner.name} if owner else None,
        "reasons": [reason_of(h) for h in product_holds],
        "holds": _holds_view(product_holds + batch_holds),
        "batches": [{"batch_no": b.batch_no, "status": b.status, "supplier": b.supplier, "produced_at": b.produced_at} for b in batches],
        "stock": {**total, "levels": [
            {"code": code, "name": name, "batch_no": batch_no, "on_hand": level.on_hand, "available": level.available,
             "unfulfillable_orders": level.unfulfillable_orders, "threshold": level.threshold, "as_of": level.as_of}
            for level, code, name, batch_no in levels]},
    }


def _warehouses(batch: Batch, now: datetime) -> list[dict]:
    """Every warehouse that held the batch: from the inventory history, else from the lines shipped out of it."""
    history = db.session.execute(
        select(StockEvent.warehouse_id, func.min(StockEvent.at), func.max(StockEvent.at).filter(StockEvent.on_hand > 0))
        .where(StockEvent.batch_id == batch.id).group_by(StockEvent.warehouse_id)
    ).all()
    on_hand = dict(db.session.execute(
        select(StockLevel.warehouse_id, func.sum(StockLevel.on_hand)).where(StockLevel.batch_id == batch.id).group_by(StockLevel.warehouse_id)
    ).all())
    shipped = db.session.execute(
        select(OrderLine.warehouse_id, func.min(OrderLine.shipped_at), func.max(OrderLine.shipped_at))
        .where(OrderLine.batch_id == batch.id, OrderLine.warehouse_id.is_not(None)).group_by(OrderLine.warehouse_id)
    ).all()
    entries: dict[int, dict] = {}
    for warehouse_id, first_seen, last_positive in history:
        held_until = None
        if on_hand.get(warehouse_id, 0) > 0:
            held_until = now
        elif last_positive is not None:
            # Held until the first event that found it gone after the last one that saw it.
            emptied = db.session.scalar(select(func.min(StockEvent.at)).where(
                StockEvent.batch_id == batch.id, StockEvent.warehouse_id == warehouse_id, StockEvent.at > last_positive))
            held_until = emptied or last_positive
        entries[warehouse_id] = {"first_seen": first_seen, "last_seen": last_positive, "on_hand": on_hand.get(warehouse_id, 0),
                                 "held_until": held_until, "source": "stock"}
    for warehouse_id, first_shipped, last_shipped in shipped:
        entry = entries.get(warehouse_id)
        if entry is None:
            entries[warehouse_id] = {"first_seen": first_shipped, "last_seen": last_shipped, "on_hand": on_hand.get(warehouse_id, 0),
                                     "held_until": last_shipped, "source": "shipments"}
        elif first_shipped is not None and entry["first_seen"] is not None and first_shipped < entry["first_seen"]:
            entry["first_seen"] = first_shipped  # it shipped some before its first inventory report
    names = dict((i, (c, n)) for i, c, n in db.session.execute(
        select(Department.id, Department.code, Department.name).where(Department.id.in_(entries))).all()) if entries else {}
    result = []
    for warehouse_id, e in entries.items():
        held = None
        if e["first_seen"] is not None and e["held_until"] is not None:
            held = max(0, int((e["held_until"] - e["first_seen"]).total_seconds()))
        code, name = names[warehouse_id]
        result.append({"code": code, "name": name, "first_seen": e["first_seen"], "first_in": e["first_seen"], "last_seen": e["last_seen"],
                       "on_hand": e["on_hand"], "held_for_seconds": held, "source": e["source"]})
    return sorted(result, key=lambda w: (w["first_seen"] is None, w["first_seen"] or now, w["code"]))


def trace_batch(*, batch_no: str, page: int, per_page: int, now: datetime, viewer: User) -> dict:
    """Where a batch was held and for how long, and a page of the order lines that carried it, with counts."""
    batch = db.session.scalar(select(Batch).where(Batch.batch_no == batch_no))
    product = db.session.get(Product, batch.product_id) if batch else None
    if product is None or not can_read_product(viewer, product):
        raise NotFound("No such batch.")
    in_batch = OrderLine.batch_id == batch.id
    # Per order first (streams in index order), then the totals: no distinct-sort over all lines.
    per_order = (select(OrderLine.order_id, func.count().label("lines"), func.max(OrderLine.delivered_at).label("delivered"))
                 .where(in_batch).group_by(OrderLine.order_id).subquery())
    lines_total, orders, delivered = db.session.execute(
        select(func.coalesce(func.sum(per_order.c.lines), 0), func.count(), func.count(per_order.c.delivered))).one()
    customers, drivers = db.session.execute(
        select(func.count(distinct(OrderLine.customer_ref)), func.count(distinct(OrderLine.driver_id))).where(in_batch)).one()
    rows = db.session.execute(
        select(Order.order_no, Order.customer_ref, OrderLine.qty, Department.code, User.login, User.name,
               OrderLine.shipped_at, OrderLine.delivered_at)
        .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Department, Department.id == OrderLine.warehouse_id).outerjoin(User, User.id == OrderLine.driver_id)
        .where(OrderLine.batch_id == batch.id).order_by(OrderLine.order_id, OrderLine.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    warehouses = _warehouses(batch, now)
    return {
        "batch_no": batch.batch_no, "sku": product.sku, "product_name": product.name, "status": batch.status,
        "supplier": batch.supplier, "produced_at": batch.produced_at,
        "inbound_qc": {"result": batch.qc_result, "at": batch.qc_at.isoformat() if batch.qc_at else None} if batch.qc_result else None,
        "warehouses": warehouses,
        "lines": [{"order_no": r.order_no, "customer_ref": r.customer_ref, "qty": r.qty, "warehouse": r.code, "driver": r.login,
                   "driver_name": r.name, "shipped_at": r.shipped_at, "delivered_at": r.delivered_at} for r in rows],
        "lines_total": lines_total, "page": page, "per_page": per_page,
        "counts": {"orders": orders, "customers": customers, "delivered": delivered, "warehouses": len(warehouses),
                   "lines": lines_total, "drivers": drivers},
    }
