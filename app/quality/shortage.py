"""Inventory events: stock levels and history, and the automatic pull-down on stock shortage.

A product is short when it cannot be fulfilled: orders are reported unfulfillable, or the stock
available across warehouses is below its safety threshold (or gone). It is then paused with the
reason `stock_shortage` and ONE restock work order goes to its owner department for the whole
episode. It resumes only once available stock is back above threshold × (1 + margin) with no
unfulfillable orders: between the two levels nothing changes, so a level hovering around the
threshold never makes the product flap.
"""
from datetime import datetime, timedelta

from sqlalchemy import select

from app.common.bulk import chunks, lookup, upsert
from app.common.uow import unit_of_work
from app.extensions import db
from app.flows.service import get_template
from app.errors import ErrorList, NotFound
from app.notify.messages import system_title
from app.org.models import Department
from app.quality import holds
from app.quality.catalogue import (
    DEFAULT_MAX_FUTURE_SKEW,
    batches_by_number,
    check_not_future,
    check_product_and_batch,
    departments_by_code,
)
from app.quality.models import HoldSource, Product, SaleHold, SaleStatus, StockEvent, StockLevel
from app.workorders.models import WorkOrder, WorkOrderStatus
from app.workorders.service import create_work_order

RESTOCK_TEMPLATE = "restock"
DEFAULT_MARGIN = 0.2


def record_inventory_events(*, items: list[dict], now: datetime, tz: str, margin: float = DEFAULT_MARGIN,
                            max_future_skew: int = DEFAULT_MAX_FUTURE_SKEW) -> dict:
    """Store inventory events, bring stock levels up to date, and pause or resume the products they show short or recovered.

    An event dated more than `max_future_skew` seconds ahead of `now` is refused: the newest event sets the level,
    so one dated next year would win over every real event until then and freeze the stock. One unit of work: the
    levels, the pauses and the restock work orders they open commit together.
    """
    with unit_of_work():
        return _record_inventory_events(items=items, now=now, tz=tz, margin=margin, max_future_skew=max_future_skew)


def _record_inventory_events(*, items: list[dict], now: datetime, tz: str, margin: float, max_future_skew: int) -> dict:
    products = lookup(Product.sku, Product.id, (i["sku"] for i in items))
    batches = batches_by_number(i.get("batch_no") for i in items)
    warehouses = departments_by_code(i["warehouse"] for i in items)
    latest_allowed = now + timedelta(seconds=max_future_skew)
    errors = ErrorList()
    for index, item in enumerate(items):
        check_product_and_batch(errors, f"events.{index}", item, products, batches)
        if item["warehouse"] not in warehouses:
            errors.add(f"events.{index}.warehouse", f"unknown warehouse {item['warehouse']!r}")
        check_not_future(errors, f"events.{index}.at", item["at"], latest_allowed)
    errors.raise_if_any("inventory events")

    history, latest = {}, {}
    for index, item in enumerate(items):
        batch_id = batches[item["batch_no"]][0] if item.get("batch_no") else None
        row = {"product_id": products[item["sku"]], "batch_id": batch_id, "batch_key": batch_id or 0,
               "warehouse_id": warehouses[item["warehouse"]], "on_hand": item["on_hand"], "available": item["available"],
               "unfulfillable_orders": item.get("unfulfillable_orders") or 0, "threshold": item.get("threshold"), "at": item["at"],
               "received_at": now}
        key = (row["product_id"], batch_id or 0, row["warehouse_id"])
        history[(*key, row["at"])] = row
        # Several events for one level in a request: the newest (then the last posted) wins; a threshold, once given, stays.
        previous = latest.get(key)
        if previous is None or (row["at"], index) >= (previous["at"], previous["index"]):
            threshold = row["threshold"] if row["threshold"] is not None else (previous or {}).get("threshold")
            latest[key] = {**row, "index": index, "threshold": threshold}
        elif row["threshold"] is not None and previous.get("threshold") is None:
            previous["threshold"] = row["threshold"]
    events = StockEvent.__table__
    stmt = upsert(events)
    stmt = stmt.on_conflict_do_update(
        index_elements=["product_id", "batch_key", "warehouse_id", "at"],
        set_={c: getattr(stmt.excluded, c) for c in ("on_hand", "available", "unfulfillable_orders", "threshold", "received_at")})
    for part in chunks(list(history.values()), 2_000):
        db.session.execute(stmt, part)

    product_ids = sorted({key[0] for key in latest})
    _lock_products(product_ids)
    known = _known_thresholds(product_ids)
    rows = []
    for (product_id, batch_key, warehouse_id), row in latest.items():
        threshold = row["threshold"] if row["threshold"] is not None else known.get((product_id, batch_key, warehouse_id), 0)
        rows.append({"product_id": product_id, "batch_id": row["batch_id"], "batch_key": batch_key, "warehouse_id": warehouse_id,
                     "on_hand": row["on_hand"], "available": row["available"], "unfulfillable_orders": row["unfulfillable_orders"],
                     "threshold": threshold, "as_of": row["at"], "updated_at": now})
    table = StockLevel.__table__
    stmt = upsert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["product_id", "batch_key", "warehouse_id"],
        set_={c: getattr(stmt.excluded, c) for c in ("on_hand", "available", "unfulfillable_orders", "threshold", "as_of", "updated_at")},
        # An event older than the level stored arrives late: it joins the history but does not move the level back.
        where=stmt.excluded.as_of >= table.c.as_of,
    )
    for part in chunks(rows, 2_000):
        db.session.execute(stmt, part)
    db.session.flush()
    outcome = evaluate_shortages(product_ids=product_ids, now=now, tz=tz, margin=margin)
    return {"received": len(items), "levels": len(rows), **outcome}


def _lock_products(product_ids: list[int]) -> None:
    """Lock the products in id order, so concurrent posts and pulls of one product take turns and never deadlock."""
    for part in chunks(product_ids):
        db.session.execute(select(Product.id).where(Product.id.in_(part)).order_by(Product.id).with_for_update())


def _known_thresholds(product_ids: list[int]) -> dict:
    found = {}
    for part in chunks(product_ids):
        for product_id, batch_key, warehouse_id, threshold in db.session.execute(
            select(StockLevel.product_id, StockLevel.batch_key, StockLevel.warehouse_id, StockLevel.threshold)
            .where(StockLevel.product_id.in_(part))
        ):
            found[(product_id, batch_key, warehouse_id)] = threshold
    return found


def product_totals(product_ids: list[int]) -> dict[int, dict]:
    """Per product: on hand, available, threshold and unfulfillable orders summed across warehouses.

    In a warehouse that reports a level for the whole product (no batch), that level counts; otherwise the sum of its
    batch levels does — so an integration may report either way without counting stock twice.
    """
    per_warehouse: dict[tuple[int, int], dict] = {}
    for part in chunks(product_ids):
        for level in db.session.scalars(select(StockLevel).where(StockLevel.product_id.in_(part))):
            entry = per_warehouse.setdefault((level.product_id, level.warehouse_id), {"whole": None, "batches": []})
            if level.batch_key == 0:
                entry["whole"] = level
            else:
                entry["batches"].append(level)
    totals: dict[int, dict] = {}
    fields = ("on_hand", "available", "threshold", "unfulfillable_orders")
    for (product_id, _), entry in per_warehouse.items():
        total = totals.setdefault(product_id, dict.fromkeys(fields, 0))
        levels = [entry["whole"]] if entry["whole"] is not None else entry["batches"]
        for level in levels:
            for field in fields:
                total[field] += getattr(level, field)
    return totals


def is_short(total: dict) -> bool:
    """Cannot be fulfilled: orders are unfulfillable, or available stock is below the threshold or gone."""
    return total["unfulfillable_orders"] > 0 or total["available"] < total["threshold"] or total["available"] <= 0


def has_recovered(total: dict, margin: float) -> bool:
    """Back above threshold × (1 + margin), with nothing unfulfillable: the hysteresis band keeps noise from flapping."""
    return total["unfulfillable_orders"] == 0 and total["available"] > 0 and total["available"] > total["threshold"] * (1 + margin)


def evaluate_shortages(*, product_ids: list[int], now: datetime, tz: str, margin: float) -> dict:
    """Open or close shortage episodes for these (locked) products; answers the SKUs paused and resumed."""
    totals = product_totals(product_ids)
    open_holds = {}
    for part in chunks(product_ids):
        open_holds.update({h.product_id: h for h in db.session.scalars(select(SaleHold).where(
            SaleHold.product_id.in_(part), SaleHold.source == HoldSource.STOCK_SHORTAGE, SaleHold.active.is_(True)))})
    paused, resumed = [], []
    for product_id in product_ids:
        total = totals.get(product_id)
        if total is None:
            continue
        hold = open_holds.get(product_id)
        product = db.session.get(Product, product_id)
        if hold is None and is_short(total):
            hold = SaleHold(product_id=product_id, source=HoldSource.STOCK_SHORTAGE, active=True, created_at=now)
            db.session.add(hold)
            db.session.flush()
            hold.restock_work_order_id = _restock_work_order(product, total, now=now, tz=tz)
            holds.refresh_product(product, now=now, emit=True)
            paused.append(product.sku)
        elif hold is not None and has_recovered(total, margin):
            hold.active = False
            hold.released_at = now
            db.session.flush()
            holds.refresh_product(product, now=now, emit=True)
            if product.sale_status == SaleStatus.ON_SALE:  # another hold (an andon) may still keep it paused
                resumed.append(product.sku)
    return {"paused": paused, "resumed": resumed}


def _restock_work_order(product: Product, total: dict, *, now: datetime, tz: str) -> int | None:
    """The episode's restock work order: the one still open from an earlier episode, else a new one for the owner department."""
    still_open = db.session.scalar(
        select(WorkOrder.id).join(SaleHold, SaleHold.restock_work_order_id == WorkOrder.id)
        .where(SaleHold.product_id == product.id, WorkOrder.status.in_([WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS]))
        .order_by(WorkOrder.id.desc()).limit(1))
    if still_open:
        return still_open
    try:
        template = get_template(key=RESTOCK_TEMPLATE)
    except NotFound:
        return None  # pausing sales must not depend on the template being installed
    owner_id = product.owner_department_id or template.owner_department_id
    owner = db.session.get(Department, owner_id) if owner_id else None
    departments = [{"code": owner.code, "name": owner.name, "label": owner.name, "assignees": {"departments": [owner.id]}}] if owner else []
    work_order = create_work_order(body={
        "template": RESTOCK_TEMPLATE, "title": system_title("restock", sku=product.sku, name=product.name), "source": "integration",
        "product_sku": product.sku,
        "data": {"sku": product.sku, "available": total["available"], "threshold": total["threshold"],
                 "unfulfillable_orders": total["unfulfillable_orders"], "owner": departments},
    }, created_by=None, department_id=owner_id, now=now, tz=tz)
    return work_order.id
