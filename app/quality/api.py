"""Catalogue and fulfilment integrations, traceability and the andon."""

from flask import current_app
from flask_smorest import Blueprint

from app.auth.guard import auth_required, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from app.errors import Forbidden
from app.quality import andon, catalogue, shortage, trace
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
READERS = {"roles": andon.READER_ROLES, "permission": "andon.pull"}


def _tz() -> str:
    return current_app.config["BUSINESS_TIMEZONE"]


def _margin() -> float:
    return current_app.config["SHORTAGE_RESUME_MARGIN"]


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
    return catalogue.upsert_orders(items=body["orders"], now=utcnow())


@blp.route("/inventory/events", methods=["POST"])
@auth_required(roles=("admin",), scope="inventory:write")
@blp.arguments(InventoryEventsBodySchema)
@blp.response(200, BulkResultSchema)
def post_inventory_events(body):
    """Record inventory levels; products that cannot be fulfilled pause, recovered ones resume (bulk, all or nothing)."""
    return shortage.record_inventory_events(items=body["events"], now=utcnow(), tz=_tz(), margin=_margin())


@blp.route("/products/<string:sku>")
@auth_required(**READERS, scope="catalog:write")
@blp.response(200, ProductSchema)
def get_product(sku):
    """A product's sale status and the reasons it is paused."""
    return trace.product_view(sku=sku)


@blp.route("/batches/<string:batch_no>/trace")
@auth_required(**READERS)
@blp.arguments(TraceArgs, location="query")
@blp.response(200, TraceSchema)
def trace_batch(args, batch_no):
    """Traceability of a batch: warehouses that held it and for how long, order lines, customers, drivers."""
    return trace.trace_batch(batch_no=batch_no, now=utcnow(), **args)


@blp.route("/andon", methods=["POST"])
@auth_required(permission="andon.pull")
@blp.arguments(AndonPullSchema)
@blp.response(201, AndonDetailSchema)
def pull(body):
    """Pull the andon: sales stop, stock is quarantined and, for a recall, delivered orders are recalled."""
    pulled = andon.pull_andon(user=current_user(), body=body, now=utcnow(), tz=_tz(), recall_lanes=_lanes())
    return andon.andon_detail(andon_id=pulled.id, just_pulled=True)


@blp.route("/andon")
@auth_required(**READERS)
@blp.arguments(AndonListArgs, location="query")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(AndonSchema))
def list_andons(filters, page):
    """Andons, newest first."""
    result = paginate(andon.list_andons(filters=filters), **page)
    result["items"] = andon.present_andons(result["items"])
    return result


@blp.route("/andon/<int:andon_id>")
@auth_required(**READERS)
@blp.arguments(AndonDetailArgs, location="query")
@blp.response(200, AndonDetailSchema)
def get_andon(args, andon_id):
    """An andon with live recall progress, its recall work orders so far and its timeline."""
    return andon.andon_detail(andon_id=andon_id, **args)


@blp.route("/andon/<int:andon_id>/resolve", methods=["POST"])
@auth_required()
@blp.arguments(AndonResolveSchema)
@blp.response(200, AndonDetailSchema)
def resolve(body, andon_id):
    """Resolve an andon by hand: sales resume where nothing else holds them."""
    user = current_user()
    if not andon.can_read(user):
        raise Forbidden("You are not allowed to do that.")
    andon.resolve_andon(user=user, andon_id=andon_id, note=body["note"], now=utcnow())
    return andon.andon_detail(andon_id=andon_id)
