"""Catalogue, stock, orders, sale holds, andons and recalls (docs/design.md §7)."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class SaleStatus(StrEnum):
    ON_SALE = "on_sale"
    PAUSED = "paused"


class BatchStatus(StrEnum):
    OK = "ok"
    HELD = "held"
    RECALLED = "recalled"


class HoldSource(StrEnum):
    ANDON = "andon"
    STOCK_SHORTAGE = "stock_shortage"


class AndonStatus(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"


class RecallJobStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    # Derived from the active sale holds (never set by hand); kept on the row so reads are one lookup.
    sale_status: Mapped[str] = mapped_column(String(16), default=SaleStatus.ON_SALE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Batch(db.Model):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_no: Mapped[str] = mapped_column(String(64), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    supplier: Mapped[str | None] = mapped_column(String(200))
    produced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    qc_result: Mapped[str | None] = mapped_column(String(8))
    qc_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Derived from the active sale holds: held (paused) or recalled (an active recall andon).
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.OK)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(db.Model):
    """The latest level of one product (optionally one batch of it) in one warehouse."""

    __tablename__ = "stock_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    # batch_id or 0: a unique key cannot hold NULL usefully, and levels without a batch are per product.
    batch_key: Mapped[int] = mapped_column(Integer, default=0)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    available: Mapped[int] = mapped_column(Integer, default=0)
    unfulfillable_orders: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[int] = mapped_column(Integer, default=0)
    # Time of the event the level comes from: an older event arriving late never overwrites it.
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("product_id", "batch_key", "warehouse_id"),)


class StockEvent(db.Model):
    """Append-only history of inventory events: how long a warehouse held a batch comes from here."""

    __tablename__ = "stock_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    batch_key: Mapped[int] = mapped_column(Integer, default=0)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    on_hand: Mapped[int] = mapped_column(Integer)
    available: Mapped[int] = mapped_column(Integer)
    unfulfillable_orders: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # An event re-posted (same level, same time) replaces itself: the history never counts it twice.
        UniqueConstraint("product_id", "batch_key", "warehouse_id", "at"),
        Index("ix_stock_events_batch_warehouse_at", "batch_id", "warehouse_id", "at"),
    )


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderLine(db.Model):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_no: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    qty: Mapped[int] = mapped_column(Integer, default=1)
    # The order's customer, kept on each line (docs/design.md §7) so tracing a batch never reads the orders to count customers.
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_order_lines_order", "order_id"),
        # Trace and recall read a batch's (or product's) lines in order id order: these serve both, and on
        # PostgreSQL they cover the recall filters, so counting and paging affected orders reads the index only.
        Index("ix_order_lines_batch_order", "batch_id", "order_id",
              postgresql_include=["delivered_at", "warehouse_id", "driver_id", "shipped_at", "customer_ref"]),
        Index("ix_order_lines_product_order", "product_id", "order_id",
              postgresql_include=["delivered_at", "warehouse_id", "driver_id", "shipped_at"]),
        Index("ix_order_lines_warehouse_shipped", "warehouse_id", "shipped_at"),
        Index("ix_order_lines_driver_shipped", "driver_id", "shipped_at"),
        Index("ix_order_lines_shipped", "shipped_at"),
        Index("ix_order_lines_delivered", "delivered_at"),
    )


class Andon(db.Model):
    __tablename__ = "andons"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    action: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    # {"warehouse": code, "driver": login, "shipped_from": iso, "shipped_to": iso}, as given.
    filters: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The same filters resolved to ids and times, for the queries.
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    shipped_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=AndonStatus.ACTIVE, index=True)
    affected_orders: Mapped[int] = mapped_column(Integer, default=0)
    containment_work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # At most one active andon per target, whatever the concurrency: one per batch, one product-wide per product.
        Index("uq_andons_active_batch", "batch_id", unique=True,
              sqlite_where=text("status = 'active' AND batch_id IS NOT NULL"),
              postgresql_where=text("status = 'active' AND batch_id IS NOT NULL")),
        Index("uq_andons_active_product", "product_id", unique=True,
              sqlite_where=text("status = 'active' AND batch_id IS NULL"),
              postgresql_where=text("status = 'active' AND batch_id IS NULL")),
    )


class AndonEvent(db.Model):
    """The andon's own append-only timeline: each effect, in the order it happened."""

    __tablename__ = "andon_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    andon_id: Mapped[int] = mapped_column(ForeignKey("andons.id"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)

    __table_args__ = (Index("ix_andon_events_andon", "andon_id", "id"),)


class SaleHold(db.Model):
    """One reason a product or a batch may not be sold; the sale status is derived from the active ones."""

    __tablename__ = "sale_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Exactly one of product_id / batch_id: a product-wide hold or a batch hold.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    source: Mapped[str] = mapped_column(String(16))
    andon_id: Mapped[int | None] = mapped_column(ForeignKey("andons.id"), index=True)
    # For batch holds of a recall andon the batch reads "recalled", else "held".
    recall: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    restock_work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_sale_holds_product_active", "product_id", "active"),
        Index("ix_sale_holds_batch_active", "batch_id", "active"),
        # At most one open shortage episode per product, whatever the concurrency.
        Index("uq_sale_holds_shortage_active", "product_id", unique=True,
              sqlite_where=text("active = 1 AND source = 'stock_shortage'"),
              postgresql_where=text("active AND source = 'stock_shortage'")),
    )


class RecallJob(db.Model):
    """The queued fan-out of an andon with action recall; a runner works through it batch by batch."""

    __tablename__ = "recall_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    andon_id: Mapped[int] = mapped_column(ForeignKey("andons.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=RecallJobStatus.PENDING, index=True)
    # Lanes split the affected orders by id modulo `lanes`, so several runners (threads, Lambda invocations)
    # fan out one recall in parallel; each lane is taken by one runner at a time.
    lanes: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[int] = mapped_column(Integer, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AndonRecall(db.Model):
    """One recall work order per andon and order: the primary key makes a second one impossible."""

    __tablename__ = "andon_recalls"

    andon_id: Mapped[int] = mapped_column(ForeignKey("andons.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderRecall(db.Model):
    """What of an order has been recalled, whichever andon recalled it: one row per order, product and batch.

    The primary key makes a second recall of the same goods impossible: a later or overlapping andon (another
    batch andon, a product-wide one, one pulled again after the first was resolved) recalls only what is left.
    """

    __tablename__ = "order_recalls"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    # batch_id or 0 for lines without a batch (a key cannot hold NULL usefully), as in stock_levels.
    batch_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    andon_id: Mapped[int] = mapped_column(ForeignKey("andons.id"))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SalesEvent(db.Model):
    """Outbox of events for the sales channel (EventBridge in AWS, a log line locally)."""

    __tablename__ = "sales_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_sales_events_status_id", "status", "id"),)
