"""Sale holds: every reason a product or batch may not be sold is a row; the sale status is derived from them.

Two andons on overlapping scopes, or an andon and a stock shortage, are simply several active
holds: resolving one releases its own rows, and the status goes back only when none is left.
"""
import json
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.quality.models import Batch, BatchStatus, HoldSource, Product, SaleHold, SaleStatus, SalesEvent

log = logging.getLogger("baton.sales_events")

EVENT_SOURCE = "baton.quality"


def active_holds(*, product_id: int | None = None, batch_id: int | None = None) -> list[SaleHold]:
    stmt = select(SaleHold).where(SaleHold.active.is_(True)).order_by(SaleHold.id)
    if product_id is not None:
        stmt = stmt.where(SaleHold.product_id == product_id)
    if batch_id is not None:
        stmt = stmt.where(SaleHold.batch_id == batch_id)
    return list(db.session.scalars(stmt))


def reason_of(hold: SaleHold) -> str:
    """How `reasons` names a hold: `andon:<id>` or `stock_shortage`."""
    return f"andon:{hold.andon_id}" if hold.source == HoldSource.ANDON else hold.source


def queue_sales_event(*, kind: str, payload: dict, now: datetime) -> SalesEvent:
    """Write an outbound event for the sales channel in the caller's transaction (delivered after commit)."""
    event = SalesEvent(kind=kind, payload={**payload, "at": now.isoformat()}, status="pending", created_at=now)
    db.session.add(event)
    db.session.flush()
    return event


def _product_payload(product: Product, holds: list[SaleHold]) -> dict:
    return {"sku": product.sku, "name": product.name, "sale_status": product.sale_status, "reasons": [reason_of(h) for h in holds]}


def refresh_product(product: Product, *, now: datetime, emit: bool) -> SalesEvent | None:
    """Derive the product's sale status from its product-wide holds; queue an event when sellability changes."""
    holds = [h for h in active_holds(product_id=product.id) if h.batch_id is None]
    status = SaleStatus.PAUSED if holds else SaleStatus.ON_SALE
    if status == product.sale_status:
        return None
    product.sale_status = status
    product.updated_at = now
    if not emit:
        return None
    kind = "product.paused" if status == SaleStatus.PAUSED else "product.resumed"
    return queue_sales_event(kind=kind, payload=_product_payload(product, holds), now=now)


def refresh_batch(batch: Batch, *, now: datetime, emit: bool) -> SalesEvent | None:
    """Derive a batch's status (held, recalled, ok) from its holds; queue an event when sellability changes."""
    holds = active_holds(batch_id=batch.id)
    status = BatchStatus.OK
    if holds:
        status = BatchStatus.RECALLED if any(h.recall for h in holds) else BatchStatus.HELD
    previous = batch.status
    if status == previous:
        return None
    batch.status = status
    batch.updated_at = now
    if not emit or (previous != BatchStatus.OK and status != BatchStatus.OK):
        return None
    product = db.session.get(Product, batch.product_id)
    kind = "batch.held" if status != BatchStatus.OK else "batch.released"
    return queue_sales_event(kind=kind, payload={"batch_no": batch.batch_no, "sku": product.sku, "status": status,
                                                 "reasons": [reason_of(h) for h in holds]}, now=now)


def deliver_sales_events(*, now: datetime, publish: Callable[[list[dict]], None] | None = None, limit: int = 500) -> int:
    """Ship pending sales-channel events (a structured log line locally; the Lambda passes an EventBridge publisher)."""
    rows = list(db.session.scalars(
        select(SalesEvent).where(SalesEvent.status == "pending").order_by(SalesEvent.id).limit(limit)
        .with_for_update(skip_locked=True)
    ))
    if not rows:
        db.session.rollback()
        return 0
    entries = [{"id": r.id, "source": EVENT_SOURCE, "detail_type": r.kind, "detail": r.payload} for r in rows]
    try:
        (publish or log_publisher)(entries)
    except Exception:  # the channel is down: keep them pending, count the attempt, try again next pass
        log.exception("sales events not delivered")
        for row in rows:
            row.attempts += 1
        db.session.commit()
        return 0
    for row in rows:
        row.status = "delivered"
        row.delivered_at = now
        row.attempts += 1
    db.session.commit()
    return len(rows)


def log_publisher(entries: list[dict]) -> None:
    """The local sales channel: one JSON line per event."""
    for entry in entries:
        log.info(json.dumps({"sales_event": entry}, ensure_ascii=False, default=str))
