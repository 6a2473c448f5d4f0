"""Bodies of the integration, catalogue, trace and andon endpoints."""
from datetime import timezone

import marshmallow as ma
from marshmallow import validate

from app.common.pagination import PageArgs
from app.org.schemas import PersonRefSchema

MAX_ITEMS = 10_000
CODE = validate.Length(1, 64)
UTC = timezone.utc


class BodySchema(ma.Schema):
    """A request body that refuses unknown fields (every 422 names the path of each problem: app/errors.py)."""

    class Meta:
        unknown = ma.RAISE


def _time(**kwargs):
    return ma.fields.AwareDateTime(default_timezone=UTC, **kwargs)


# ---------------------------------------------------------------- integrations


class ProductItemSchema(ma.Schema):
    sku = ma.fields.String(required=True, validate=CODE)
    name = ma.fields.String(required=True, validate=validate.Length(1, 300))
    owner_department = ma.fields.String(load_default=None, allow_none=True, validate=CODE)


class ProductsBodySchema(BodySchema):
    products = ma.fields.List(ma.fields.Nested(ProductItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS))


class InboundQcSchema(ma.Schema):
    result = ma.fields.String(required=True, validate=validate.OneOf(["pass", "fail"]))
    at = _time(load_default=None, allow_none=True)


class BatchItemSchema(ma.Schema):
    batch_no = ma.fields.String(required=True, validate=CODE)
    sku = ma.fields.String(required=True, validate=CODE)
    supplier = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 200))
    produced_at = _time(load_default=None, allow_none=True)
    inbound_qc = ma.fields.Nested(InboundQcSchema, load_default=None, allow_none=True)


class BatchesBodySchema(BodySchema):
    batches = ma.fields.List(ma.fields.Nested(BatchItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS))


class OrderLineItemSchema(ma.Schema):
    sku = ma.fields.String(required=True, validate=CODE)
    batch_no = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    qty = ma.fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=1_000_000))
    warehouse = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    driver = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    shipped_at = _time(load_default=None, allow_none=True)
    delivered_at = _time(load_default=None, allow_none=True)

    @ma.validates_schema
    def _delivered_after_shipped(self, data, **kwargs):
        if data.get("shipped_at") and data.get("delivered_at") and data["delivered_at"] < data["shipped_at"]:
            raise ma.ValidationError("cannot be before shipped_at", "delivered_at")


class OrderItemSchema(ma.Schema):
    order_no = ma.fields.String(required=True, validate=CODE)
    customer_ref = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    placed_at = _time(load_default=None, allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineItemSchema), required=True, validate=validate.Length(1, 1000))


class OrdersBodySchema(BodySchema):
    orders = ma.fields.List(ma.fields.Nested(OrderItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS))


class InventoryEventItemSchema(ma.Schema):
    sku = ma.fields.String(required=True, validate=CODE)
    batch_no = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    warehouse = ma.fields.String(required=True, validate=CODE)
    on_hand = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2_000_000_000))
    # Available may go below zero when a channel oversold.
    available = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=-2_000_000_000, max=2_000_000_000))
    unfulfillable_orders = ma.fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=2_000_000_000))
    threshold = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0, max=2_000_000_000))
    at = _time(required=True)


class InventoryEventsBodySchema(BodySchema):
    events = ma.fields.List(ma.fields.Nested(InventoryEventItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS))


class BulkResultSchema(ma.Schema):
    received = ma.fields.Integer()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    lines = ma.fields.Integer()
    paused = ma.fields.List(ma.fields.String())
    resumed = ma.fields.List(ma.fields.String())
    recalls_requeued = ma.fields.List(ma.fields.Integer())


# ---------------------------------------------------------------- catalogue and trace


class HoldSchema(ma.Schema):
    source = ma.fields.String()
    andon_id = ma.fields.Integer(allow_none=True)
    batch_no = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    restock_work_order_id = ma.fields.Integer(allow_none=True)
    since = ma.fields.DateTime()


class StockWarehouseSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    batch_no = ma.fields.String(allow_none=True)
    on_hand = ma.fields.Integer()
    available = ma.fields.Integer()
    unfulfillable_orders = ma.fields.Integer()
    threshold = ma.fields.Integer()
    as_of = ma.fields.DateTime()


class StockSummarySchema(ma.Schema):
    on_hand = ma.fields.Integer()
    available = ma.fields.Integer()
    threshold = ma.fields.Integer()
    unfulfillable_orders = ma.fields.Integer()
    levels = ma.fields.List(ma.fields.Nested(StockWarehouseSchema))


class BatchBriefSchema(ma.Schema):
    batch_no = ma.fields.String()
    status = ma.fields.String()
    supplier = ma.fields.String(allow_none=True)
    produced_at = ma.fields.DateTime(allow_none=True)


class DepartmentRefSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()


class ProductSchema(ma.Schema):
    sku = ma.fields.String()
    name = ma.fields.String()
    owner_department = ma.fields.Nested(DepartmentRefSchema, allow_none=True)
    sale_status = ma.fields.String()
    reasons = ma.fields.List(ma.fields.String(), metadata={"description": "Active holds: `andon:<id>` and/or `stock_shortage`."})
    holds = ma.fields.List(ma.fields.Nested(HoldSchema))
    batches = ma.fields.List(ma.fields.Nested(BatchBriefSchema))
    stock = ma.fields.Nested(StockSummarySchema)


class TraceArgs(PageArgs):
    """Lines are paged like every list (`page`, `per_page`); `lines_total` counts them all."""


class TraceWarehouseSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    first_seen = ma.fields.DateTime(allow_none=True)
    first_in = ma.fields.DateTime(allow_none=True, metadata={"description": "Alias of first_seen."})
    last_seen = ma.fields.DateTime(allow_none=True)
    on_hand = ma.fields.Integer(allow_none=True)
    held_for_seconds = ma.fields.Integer(allow_none=True)
    source = ma.fields.String(metadata={"description": "`stock` (inventory history) or `shipments` (order lines only)."})


class TraceLineSchema(ma.Schema):
    order_no = ma.fields.String()
    customer_ref = ma.fields.String(allow_none=True)
    qty = ma.fields.Integer()
    warehouse = ma.fields.String(allow_none=True)
    driver = ma.fields.String(allow_none=True)
    driver_name = ma.fields.String(allow_none=True)
    shipped_at = ma.fields.DateTime(allow_none=True)
    delivered_at = ma.fields.DateTime(allow_none=True)


class TraceCountsSchema(ma.Schema):
    orders = ma.fields.Integer()
    customers = ma.fields.Integer()
    delivered = ma.fields.Integer()
    warehouses = ma.fields.Integer()
    lines = ma.fields.Integer()
    drivers = ma.fields.Integer()


class TraceSchema(ma.Schema):
    batch_no = ma.fields.String()
    sku = ma.fields.String()
    product_name = ma.fields.String()
    status = ma.fields.String()
    supplier = ma.fields.String(allow_none=True)
    produced_at = ma.fields.DateTime(allow_none=True)
    inbound_qc = ma.fields.Dict(allow_none=True)
    warehouses = ma.fields.List(ma.fields.Nested(TraceWarehouseSchema))
    lines = ma.fields.List(ma.fields.Nested(TraceLineSchema))
    lines_total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    counts = ma.fields.Nested(TraceCountsSchema)


# ---------------------------------------------------------------- andon


class AndonFiltersSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    warehouse = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    driver = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    shipped_from = _time(load_default=None, allow_none=True)
    shipped_to = _time(load_default=None, allow_none=True)

    @ma.validates_schema
    def _window(self, data, **kwargs):
        if data.get("shipped_from") and data.get("shipped_to") and data["shipped_to"] < data["shipped_from"]:
            raise ma.ValidationError("must not be before shipped_from", "shipped_to")


class AndonPullSchema(BodySchema):
    scope = ma.fields.String(required=True, validate=validate.OneOf(["product", "batch"]))
    sku = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    batch_no = ma.fields.String(load_default=None, allow_none=True, validate=CODE)
    action = ma.fields.String(required=True, validate=validate.OneOf(["pause", "recall"]))
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))
    filters = ma.fields.Nested(AndonFiltersSchema, load_default=dict, allow_none=True)

    @ma.validates_schema
    def _target(self, data, **kwargs):
        if data["scope"] == "product" and not data.get("sku"):
            raise ma.ValidationError("required when scope is product", "sku")
        if data["scope"] == "batch" and not data.get("batch_no"):
            raise ma.ValidationError("required when scope is batch", "batch_no")


class AndonResolveSchema(BodySchema):
    note = ma.fields.String(required=True, validate=validate.Length(1, 5000))
    open_work = ma.fields.String(load_default="keep", validate=validate.OneOf(["keep", "cancel_unstarted"]), metadata={
        "description": "Its containment and recall work orders still open: keep them to finish (default), or cancel "
                       "those nobody has started, with `reason` (the started ones are kept)."})
    reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 500))

    @ma.validates_schema
    def _reason_to_cancel(self, data, **kwargs):
        if data.get("open_work") == "cancel_unstarted" and not (data.get("reason") or "").strip():
            raise ma.ValidationError("say why the work that was not started is cancelled", "reason")


class AndonListArgs(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(["active", "resolved"]))
    scope = ma.fields.String(validate=validate.OneOf(["product", "batch"]))
    sku = ma.fields.String(validate=CODE)
    batch_no = ma.fields.String(validate=CODE)


class AndonEventSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.Nested(PersonRefSchema, allow_none=True)
    at = ma.fields.DateTime()
    details = ma.fields.Dict()


class RecallSummarySchema(ma.Schema):
    status = ma.fields.String()
    created = ma.fields.Integer()
    batches = ma.fields.Integer()
    finished_at = ma.fields.DateTime(allow_none=True)


class AndonSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    scope = ma.fields.String()
    action = ma.fields.String()
    sku = ma.fields.String()
    product_name = ma.fields.String()
    batch_no = ma.fields.String(allow_none=True)
    reason = ma.fields.String()
    filters = ma.fields.Dict()
    affected_orders = ma.fields.Integer()
    containment_work_order_id = ma.fields.Integer(allow_none=True)
    recall = ma.fields.Nested(RecallSummarySchema, allow_none=True)
    created_by = ma.fields.Nested(PersonRefSchema, allow_none=True)
    created_at = ma.fields.DateTime()
    resolved_at = ma.fields.DateTime(allow_none=True)
    resolved_by = ma.fields.Nested(PersonRefSchema, allow_none=True)
    resolution_note = ma.fields.String(allow_none=True)


class RecallWorkOrderSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    order_no = ma.fields.String(allow_none=True)
    status = ma.fields.String()


class ProgressSchema(ma.Schema):
    affected = ma.fields.Integer()
    created = ma.fields.Integer()
    contacted = ma.fields.Integer()
    picked_up = ma.fields.Integer()
    received = ma.fields.Integer()
    closed = ma.fields.Integer()


class OpenWorkClosedSchema(ma.Schema):
    cancelled = ma.fields.Integer(metadata={"description": "Work orders nobody had started, now cancelled."})
    kept = ma.fields.Integer(metadata={"description": "Work orders already started, left for their handlers to finish."})


class AndonDetailSchema(AndonSchema):
    open_work = ma.fields.Nested(OpenWorkClosedSchema, allow_none=True, metadata={
        "description": "After a resolve with open_work=cancel_unstarted: what became of its open work."})
    recall_work_orders = ma.fields.List(ma.fields.Nested(RecallWorkOrderSchema),
                                        metadata={"description": "The first page of the recall work orders created so far."})
    recall_work_orders_total = ma.fields.Integer()
    progress = ma.fields.Nested(ProgressSchema)
    sale_status = ma.fields.String()
    batch_status = ma.fields.String(allow_none=True)
    timeline = ma.fields.List(ma.fields.Nested(AndonEventSchema))


class AndonDetailArgs(ma.Schema):
    recalls_per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    recalls_page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
