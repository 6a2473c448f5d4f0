"""QR entry point endpoints (docs/design.md §15): admins keep and print them; anyone signed in scans them."""
import io

from flask import current_app, request, send_file
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.clock import utcnow
from app.common.guard import auth_required, current_user
from app.common.pagination import PageArgs, page_of, paginate
from app.errors import ErrorSchema
from app.workorders import entrypoints, presenters, qrcodes
from app.workorders.entrypoint_schemas import (
    MAX_CODES_PER_SHEET,
    EntryPointListArgs,
    EntryPointScanSchema,
    EntryPointSchema,
    EntryPointStartSchema,
    EntryPointUpdateSchema,
    QrImageArgs,
    QrSheetArgs,
)
from app.workorders.schemas import WorkOrderCreatedSchema

blp = Blueprint("entry_points", __name__, url_prefix="/api/v1",
                description="QR entry points: printed codes that open a prefilled new work order (source qr)")

GONE = {"description": "The code was withdrawn (entry_point_inactive) or its template retired (entry_point_template_retired)."}


def _origin() -> str:
    """Where the app is served: the QR opens it there (behind a proxy, BATON_TRUSTED_PROXIES makes this the public one)."""
    return request.url_root


def _described(entry_point) -> dict:
    return entrypoints.describe([entry_point], origin=_origin())[0]


@blp.route("/entry-points")
class EntryPoints(MethodView):
    @auth_required(roles=("admin",))
    @blp.arguments(EntryPointListArgs, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(EntryPointSchema))
    def get(self, args, page):
        """List the entry points by name, with what their QR encodes."""
        found = paginate(entrypoints.list_entry_points(active=args["active"]), **page)
        return {**found, "items": entrypoints.describe(found["items"], origin=_origin())}

    @auth_required(roles=("admin",))
    @blp.arguments(EntryPointSchema)
    @blp.response(201, EntryPointSchema)
    def post(self, body):
        """Create an entry point: a template and what its work orders start with; it gets a new random code."""
        return _described(entrypoints.create_entry_point(body=body, created_by=current_user(), now=utcnow()))


@blp.route("/entry-points/<int:entry_point_id>")
class EntryPointItem(MethodView):
    @auth_required(roles=("admin",))
    @blp.response(200, EntryPointSchema)
    def get(self, entry_point_id):
        """Get an entry point."""
        return _described(entrypoints.get_entry_point(entry_point_id=entry_point_id))

    @auth_required(roles=("admin",))
    @blp.arguments(EntryPointUpdateSchema)
    @blp.response(200, EntryPointSchema)
    def patch(self, body, entry_point_id):
        """Change an entry point, or withdraw it (`active: false`); its code, and so its printed labels, stay."""
        return _described(entrypoints.update_entry_point(entry_point_id=entry_point_id, changes=body, now=utcnow()))


@blp.route("/entry-points/<int:entry_point_id>/qr.png")
@auth_required(roles=("admin",))
@blp.arguments(QrImageArgs, location="query")
@blp.doc(responses={"200": {"description": "The QR of the entry point's URL.",
                            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}})
def entry_point_png(args, entry_point_id):
    """The entry point's QR code as a PNG image."""
    entry_point = entrypoints.get_entry_point(entry_point_id=entry_point_id)
    png = qrcodes.qr_png(entrypoints.qr_url(origin=_origin(), code=entry_point.code), scale=args["scale"])
    return send_file(io.BytesIO(png), mimetype="image/png", download_name=f"qr-{entry_point.name}.png", max_age=0)


@blp.route("/entry-points/qr.pdf")
@auth_required(roles=("admin",))
@blp.arguments(QrSheetArgs, location="query")
@blp.doc(responses={"200": {"description": "An A4 sheet of labels, twelve a page: each QR with its name and template.",
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def entry_points_pdf(args):
    """Print entry points: an A4 PDF of their QR codes, each labelled with its name, template and location."""
    chosen = entrypoints.entry_points_to_print(ids=args.get("ids"), max_codes=MAX_CODES_PER_SHEET)
    labels = [{"url": e["url"], "name": e["name"], "template": e["template_name"] or e["template"],
               "location": e["prefill"].get("location")} for e in entrypoints.describe(chosen, origin=_origin())]
    pdf = qrcodes.qr_sheet(labels)
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", download_name="qr-codes.pdf", max_age=0)


@blp.route("/entry-points/by-code/<string:code>")
@auth_required()
@blp.response(200, EntryPointScanSchema)
@blp.alt_response(410, schema=ErrorSchema, description=GONE["description"])
def scan_entry_point(code):
    """What a scanned code opens: its name, its template's title and form, and the prefill (anyone signed in)."""
    return entrypoints.scan(code=code)


@blp.route("/entry-points/by-code/<string:code>/work-orders", methods=["POST"])
@auth_required()
@blp.arguments(EntryPointStartSchema)
@blp.response(201, WorkOrderCreatedSchema)
@blp.alt_response(410, schema=ErrorSchema, description=GONE["description"])
def start_from_entry_point(body, code):
    """Open a work order from a scanned code (anyone signed in: the printed code is the admin's grant to start its
    template): the prefill under what the person entered, source `qr`."""
    user = current_user()
    now = utcnow()
    work_order = entrypoints.start_from_entry_point(code=code, body=body, user=user, now=now,
                                                    tz=current_app.config["BUSINESS_TIMEZONE"])
    return presenters.work_order_view(user=user, work_order=work_order, now=now, with_timeline=False)
