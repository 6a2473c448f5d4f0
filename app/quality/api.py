"""Catalogue and fulfilment integrations, traceability and the andon."""

from flask import current_app
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_principal, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from app.quality import andon, catalogue, policy, shortage, trace
from app.quality.schemas import (
    AndonDetailArgs,
    AndonDetailSchema,
    AndonListArgs,
    AndonPullSchema,
    AndonResolveSchema,
    AndonSchema,
    BatchesBodySchema,
    BulkResultSchema,
    InventoryEventsBodySchema,
    OrdersBodySchema,
    ProductSchema,
    ProductsBodySchema,
    TraceArgs,
    TraceSchema,
)

blp = Blueprint("quality", __name__, url_prefix="/api/v1", description="Catalogue, traceability, andon and recalls")

# Readers of andons, batches and traceability: quality, admins, leads, and anyone granted andon.pull.
# Leads pass this gate and then see only what concerns their departments (app/quality/policy.py).
READERS = {"roles": policy.READER_ROLES, "permission": "andon.pull"}


def _tz() -> str:
    return current_app.config["BUSINESS_TIMEZONE"]


def _margin() -> float:
    return current_app.config["SHORTAGE_RESUME_MARGIN"]


def _max_future_skew() -> int:
    """How far in the future an integration's event time may be (clock skew), in seconds."""
    return current_app.config["INVENTORY_MAX_FUTURE_SKEW_SECONDS"]


def _lanes() -> int:
    """Parallel runners of a recall fan-out (PostgreSQL; SQLite has one writer)."""
    return current_app.config["RECALL_LANES"]


@blp.route("/products", methods=["POST"])
@auth_required(roles=("admin",), scope="catalog:write")
@blp.arguments(ProductsBodySchema)
@blp.response(200, BulkResultSchema)
def post_products(body):
    """Create or update products by SKU (bulk, all or nothing)."""
    return catalogue.upsert_products(items=body["products"], now=utcnow())


@blp.route("/batches", methods=["POST"])
@auth_required(roles=("admin",), scope="catalog:write")
@blp.arguments(BatchesBodySchema)
@blp.response(200, BulkResultSchema)
def post_batches(body):
    """Create or update batches by batch number (bulk, all or nothing)."""
    return catalogue.upsert_batches(items=body["batches"], now=utcnow())


@blp.route("/orders", methods=["POST"])
@auth_required(roles=("admin",), scope="orders:write")
@blp.arguments(OrdersBodySchema)
@blp.response(200, BulkResultSchema)
def post_orders(body):
    """Create or update orders by order number; their lines are replaced (bulk, all or nothing)."""
    return catalogue.upsert_orders(items=body["orders"], now=utcnow(), max_future_skew=_max_future_skew())


@blp.route("/inventory/events", methods=["POST"])
@auth_required(roles=("admin",), scope="inventory:write")
@blp.arguments(InventoryEventsBodySchema)
@blp.response(200, BulkResultSchema)
def post_inventory_events(body):
    """Record inventory levels; products that cannot be fulfilled pause, recovered ones resume (bulk, all or nothing)."""
    return shortage.record_inventory_events(items=body["events"], now=utcnow(), tz=_tz(), margin=_margin(),
                                            max_future_skew=_max_future_skew())


@blp.route("/products/<string:sku>")
@auth_required(**READERS, scope="catalog:write")
@blp.response(200, ProductSchema)
def get_product(sku):
    """A product's sale status and the reasons it is paused."""
    return trace.product_view(sku=sku, viewer=current_principal().user)


@blp.route("/batches/<string:batch_no>/trace")
@auth_required(**READERS)
@blp.arguments(TraceArgs, location="query")
@blp.response(200, TraceSchema)
def trace_batch(args, batch_no):
    """Traceability of a batch: warehouses that held it and for how long, order lines, customers, drivers."""
    return trace.trace_batch(batch_no=batch_no, now=utcnow(), viewer=current_user(), **args)


@blp.route("/andon", methods=["POST"])
@auth_required(permission="andon.pull")
@blp.arguments(AndonPullSchema)
@blp.response(201, AndonDetailSchema)
@blp.alt_response(200, schema=AndonDetailSchema, description="A recall that upgraded the target's active andon (same id).")
def pull(body):
    """Pull the andon: sales stop, stock is quarantined and, for a recall, delivered orders are recalled.

    One active andon per target: 201 opens one; 200 answers a recall that upgraded the target's active pause (or
    narrower recall) in place, same id; 409 `andon_active` (`details.andon_id`) when an active andon already covers it.
    """
    user = current_user()
    pulled, created = andon.pull_andon(user=user, body=body, now=utcnow(), tz=_tz(), recall_lanes=_lanes())
    return andon.andon_detail(user=user, andon_id=pulled.id, just_pulled=created), 201 if created else 200


@blp.route("/andon")
@auth_required(**READERS)
@blp.arguments(AndonListArgs, location="query")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(AndonSchema))
def list_andons(filters, page):
    """Andons, newest first."""
    result = paginate(andon.list_andons(user=current_user(), filters=filters), **page)
    result["items"] = andon.present_andons(result["items"])
    return result


@blp.route("/andon/<int:andon_id>")
@auth_required(**READERS)
@blp.arguments(AndonDetailArgs, location="query")
@blp.response(200, AndonDetailSchema)
def get_andon(args, andon_id):
    """An andon with live recall progress, its recall work orders so far and its timeline."""
    return andon.andon_detail(user=current_user(), andon_id=andon_id, **args)


@blp.route("/andon/<int:andon_id>/resolve", methods=["POST"])
@auth_required()
@blp.arguments(AndonResolveSchema)
@blp.response(200, AndonDetailSchema)
def resolve(body, andon_id):
    """Resolve an andon by hand: sales resume where nothing else holds them. `open_work` says what becomes of its
    containment and recall work orders still open: `keep` (the default) or `cancel_unstarted` with a `reason`."""
    user = current_user()
    _, closed = andon.resolve_andon(user=user, andon_id=andon_id, note=body["note"], now=utcnow(),
                                    open_work=body["open_work"], reason=body.get("reason"))
    return {**andon.andon_detail(user=user, andon_id=andon_id), "open_work": closed}
