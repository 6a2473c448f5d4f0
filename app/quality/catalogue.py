"""Integrations post the catalogue and the orders: bulk, validated first, upserted by natural key, all or nothing."""
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from app.common.bulk import chunks, in_list, lookup, lookup_ci, upsert
from app.errors import ErrorList
from app.extensions import db
from app.org.models import Department, User
from app.quality.models import (
    Andon,
    AndonStatus,
    Batch,
    Order,
    OrderLine,
    Product,
    RecallJob,
    RecallJobStatus,
)


# Event times posted by integrations may run this many seconds ahead of the server's clock (BATON_INVENTORY_MAX_FUTURE_SKEW_SECONDS).
DEFAULT_MAX_FUTURE_SKEW = 300


def check_not_future(errors: ErrorList, path: str, value: datetime | None, latest_allowed: datetime) -> None:
    """Report at `path` an event time later than `latest_allowed` (now plus the allowed clock skew)."""
    if value is not None and value > latest_allowed:
        errors.add(path, f"is in the future: {value.isoformat()} is later than now plus the allowed clock skew "
                         f"({latest_allowed.isoformat()})")


def _last_by(items: list[dict], key: str) -> dict[str, dict]:
    """Items by natural key; an item repeated in one request counts as posted twice, so the last one wins."""
    return {item[key]: item for item in items}


def departments_by_code(codes) -> dict[str, int]:
    return lookup(Department.code, Department.id, codes, Department.active.is_(True))


def _count_existing(column, keys) -> int:
    total = 0
    for part in chunks(keys):
        total += db.session.scalar(select(func.count()).where(in_list(column, part))) or 0
    return total


def upsert_products(*, items: list[dict], now: datetime) -> dict:
    """Create or update products by SKU (owner department named by code)."""
    departments = departments_by_code(i.get("owner_department") for i in items)
    errors = ErrorList()
    for index, item in enumerate(items):
        code = item.get("owner_department")
        if code and code not in departments:
            errors.add(f"products.{index}.owner_department", f"unknown department {code!r}")
    errors.raise_if_any("products")
    by_sku = _last_by(items, "sku")
    existing = _count_existing(Product.sku, list(by_sku))
    rows = [{"sku": sku, "name": item["name"], "owner_department_id": departments.get(item.get("owner_department")),
             "sale_status": "on_sale", "created_at": now, "updated_at": now} for sku, item in by_sku.items()]
    table = Product.__table__
    stmt = upsert(table)
    stmt = stmt.on_conflict_do_update(index_elements=["sku"], set_={
        "name": stmt.excluded.name,
        # Re-posting without an owner keeps the one already known.
        "owner_department_id": func.coalesce(stmt.excluded.owner_department_id, table.c.owner_department_id),
        "updated_at": stmt.excluded.updated_at,
    })
    for part in chunks(rows, 2_000):
        db.session.execute(stmt, part)
    db.session.commit()
    return {"received": len(items), "created": len(by_sku) - existing, "updated": existing}


def upsert_batches(*, items: list[dict], now: datetime) -> dict:
    """Create or update batches by batch number, with supplier, production date and inbound QC."""
    products = lookup(Product.sku, Product.id, (i["sku"] for i in items))
    errors = ErrorList()
    for index, item in enumerate(items):
        if item["sku"] not in products:
            errors.add(f"batches.{index}.sku", f"unknown product {item['sku']!r}")
    errors.raise_if_any("batches")
    by_no = _last_by(items, "batch_no")
    existing = _count_existing(Batch.batch_no, list(by_no))
    rows = []
    for batch_no, item in by_no.items():
        qc = item.get("inbound_qc") or {}
        rows.append({"batch_no": batch_no, "product_id": products[item["sku"]], "supplier": item.get("supplier"),
                     "produced_at": item.get("produced_at"), "qc_result": qc.get("result"), "qc_at": qc.get("at"),
                     "status": "ok", "created_at": now, "updated_at": now})
    stmt = upsert(Batch.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["batch_no"], set_={
        column: getattr(stmt.excluded, column)
        for column in ("product_id", "supplier", "produced_at", "qc_result", "qc_at", "updated_at")
    })
    for part in chunks(rows, 2_000):
        db.session.execute(stmt, part)
    db.session.commit()
    return {"received": len(items), "created": len(by_no) - existing, "updated": existing}


def _order_references(items: list[dict]) -> tuple[dict, dict, dict, dict]:
    lines = [line for item in items for line in item["lines"]]
    products = lookup(Product.sku, Product.id, (line["sku"] for line in lines))
    batches = batches_by_number(line.get("batch_no") for line in lines)
    warehouses = departments_by_code(line.get("warehouse") for line in lines)
    drivers = lookup_ci(User.login, User.id, (line.get("driver") for line in lines))
    return products, batches, warehouses, drivers


def batches_by_number(batch_nos) -> dict[str, tuple[int, int]]:
    """{batch number: (batch id, product id)} of the known ones among `batch_nos` (empty ones skipped)."""
    found = {}
    for part in chunks(sorted({b for b in batch_nos if b})):
        found.update({no: (bid, pid) for no, bid, pid in db.session.execute(
            select(Batch.batch_no, Batch.id, Batch.product_id).where(in_list(Batch.batch_no, part)))})
    return found


def check_product_and_batch(errors: ErrorList, path: str, item: dict, products: dict, batches: dict) -> int | None:
    """Report an unknown `sku`, an unknown `batch_no` or a batch of another product at `path`; answer the product id."""
    product_id = products.get(item["sku"])
    if product_id is None:
        errors.add(f"{path}.sku", f"unknown product {item['sku']!r}")
    if item.get("batch_no"):
        batch = batches.get(item["batch_no"])
        if batch is None:
            errors.add(f"{path}.batch_no", f"unknown batch {item['batch_no']!r}")
        elif product_id is not None and batch[1] != product_id:
            errors.add(f"{path}.batch_no", f"batch {item['batch_no']!r} is not a batch of {item['sku']!r}")
    return product_id


def upsert_orders(*, items: list[dict], now: datetime, max_future_skew: int = DEFAULT_MAX_FUTURE_SKEW) -> dict:
    """Create or update orders by order number; a re-posted order's lines replace the ones stored.

    Times more than `max_future_skew` seconds ahead of `now` are refused: a line "delivered" in the future would
    be recalled before it reached the customer, and a future `placed_at` would count in a day not yet begun.
    """
    products, batches, warehouses, drivers = _order_references(items)
    latest_allowed = now + timedelta(seconds=max_future_skew)
    errors = ErrorList()
    for index, item in enumerate(items):
        check_not_future(errors, f"orders.{index}.placed_at", item.get("placed_at"), latest_allowed)
        for n, line in enumerate(item["lines"]):
            path = f"orders.{index}.lines.{n}"
            check_product_and_batch(errors, path, line, products, batches)
            for field in ("shipped_at", "delivered_at"):
                check_not_future(errors, f"{path}.{field}", line.get(field), latest_allowed)
            if line.get("warehouse") and line["warehouse"] not in warehouses:
                errors.add(f"{path}.warehouse", f"unknown warehouse {line['warehouse']!r}")
            if line.get("driver") and line["driver"].lower() not in drivers:
                errors.add(f"{path}.driver", f"unknown driver {line['driver']!r}")
    errors.raise_if_any("orders")

    by_no = _last_by(items, "order_no")
    existing = _count_existing(Order.order_no, list(by_no))
    stmt = upsert(Order.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["order_no"], set_={
        "customer_ref": stmt.excluded.customer_ref, "placed_at": stmt.excluded.placed_at, "updated_at": stmt.excluded.updated_at,
    })
    rows = [{"order_no": no, "customer_ref": item.get("customer_ref"), "placed_at": item.get("placed_at"),
             "created_at": now, "updated_at": now} for no, item in by_no.items()]
    for part in chunks(rows, 2_000):
        db.session.execute(stmt, part)
    ids = lookup(Order.order_no, Order.id, by_no)
    for part in chunks(ids.values()):
        db.session.execute(delete(OrderLine).where(in_list(OrderLine.order_id, part)).execution_options(synchronize_session=False))
    line_rows = []
    for no, item in by_no.items():
        for n, line in enumerate(item["lines"]):
            batch = batches.get(line.get("batch_no")) if line.get("batch_no") else None
            line_rows.append({
                "order_id": ids[no], "line_no": n, "product_id": products[line["sku"]], "batch_id": batch[0] if batch else None,
                "qty": line.get("qty", 1), "customer_ref": item.get("customer_ref"), "warehouse_id": warehouses.get(line.get("warehouse")),
                "driver_id": drivers.get(line["driver"].lower()) if line.get("driver") else None,
                "shipped_at": line.get("shipped_at"), "delivered_at": line.get("delivered_at"),
            })
    for part in chunks(line_rows, 5_000):
        db.session.execute(OrderLine.__table__.insert(), part)
    requeued = _requeue_recalls(product_ids={r["product_id"] for r in line_rows if r["delivered_at"]},
                                batch_ids={r["batch_id"] for r in line_rows if r["delivered_at"] and r["batch_id"]}, now=now)
    db.session.commit()
    return {"received": len(items), "created": len(by_no) - existing, "updated": existing, "lines": len(line_rows),
            "recalls_requeued": requeued}


def _requeue_recalls(*, product_ids: set[int], batch_ids: set[int], now: datetime) -> list[int]:
    """Deliveries posted late for something under an active recall join it: its fan-out runs again."""
    if not product_ids:
        return []
    clauses = [Andon.product_id.in_(product_ids) & (Andon.scope == "product")]
    if batch_ids:
        clauses.append(Andon.batch_id.in_(batch_ids))
    andon_ids = list(db.session.scalars(
        select(Andon.id).where(Andon.status == AndonStatus.ACTIVE, Andon.action == "recall", or_(*clauses))))
    if andon_ids:
        db.session.execute(update(RecallJob).where(RecallJob.andon_id.in_(andon_ids), RecallJob.status == RecallJobStatus.DONE)
                           .values(status=RecallJobStatus.PENDING, finished_at=None, updated_at=now)
                           .execution_options(synchronize_session=False))
    return andon_ids
