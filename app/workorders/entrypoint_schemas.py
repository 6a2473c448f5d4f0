"""QR entry point bodies (docs/design.md §15)."""
import marshmallow as ma
from marshmallow import validate
from webargs.fields import DelimitedList

from app.common.fields import StrictBoolean
from app.flows.schemas import PRIORITIES
from app.org.schemas import PersonRefSchema

MAX_CODES_PER_SHEET = 240  # twenty A4 pages of twelve labels


class PrefillSchema(ma.Schema):
    """What a scan opens with; the person scanning may change any of it. Empty values are left out."""

    title = ma.fields.String(allow_none=True, validate=validate.Length(0, 300))
    description = ma.fields.String(allow_none=True, validate=validate.Length(0, 20_000))
    priority = ma.fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES), metadata={
        "description": "The work order's priority; by default the template's."})
    location = ma.fields.String(allow_none=True, validate=validate.Length(0, 200), metadata={
        "description": "Where the code hangs (a shelf, a vehicle, a counter): kept in the work order's `data.location`."})
    product_sku = ma.fields.String(allow_none=True, validate=validate.Length(0, 64))
    batch_no = ma.fields.String(allow_none=True, validate=validate.Length(0, 64))
    tags = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=20))
    data = ma.fields.Dict(metadata={"description": "Values of the template's own form fields, by field name."})


class EntryPointSchema(ma.Schema):
    """An entry point as an admin keeps it (POST); also its answer."""

    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "What the label says, e.g. `Shelf A-03`."})
    template = ma.fields.String(required=True, validate=validate.Length(1, 64), metadata={
        "description": "The key of the flow template a scan starts (its current version at the time)."})
    prefill = ma.fields.Nested(PrefillSchema, load_default=dict)
    department_id = ma.fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1), metadata={
        "description": "The department the work orders belong to; by default the scanning person's."})
    active = StrictBoolean(dump_only=True)
    code = ma.fields.String(dump_only=True, metadata={"description": "The random, unguessable code the QR carries."})
    url = ma.fields.String(dump_only=True, metadata={"description": "What the QR encodes: the address of the app's scanned-code screen with the code."})
    template_name = ma.fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The template's title (null when the template is gone or retired)."})
    created_by = ma.fields.Nested(PersonRefSchema, dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class EntryPointUpdateSchema(ma.Schema):
    """Change what is given; `active: false` withdraws the printed code (scans answer 410), `true` brings it back."""

    name = ma.fields.String(validate=validate.Length(1, 200))
    template = ma.fields.String(validate=validate.Length(1, 64))
    prefill = ma.fields.Nested(PrefillSchema)
    department_id = ma.fields.Integer(allow_none=True, validate=validate.Range(min=1))
    active = StrictBoolean()


class EntryPointListArgs(ma.Schema):
    active = ma.fields.Boolean(load_default=None, allow_none=True, metadata={"description": "Only active (true) or withdrawn (false) ones."})


class QrImageArgs(ma.Schema):
    scale = ma.fields.Integer(load_default=10, validate=validate.Range(min=2, max=40), metadata={
        "description": "Pixels per module (the QR's smallest square)."})


class QrSheetArgs(ma.Schema):
    ids = DelimitedList(ma.fields.Integer(validate=validate.Range(min=1)), validate=validate.Length(min=1, max=MAX_CODES_PER_SHEET),
                        metadata={"description": "Entry points to print, comma-separated (`ids=1,2,3`); "
                                                 "without it, every active one."})


class EntryPointTemplateSchema(ma.Schema):
    key = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    priority = ma.fields.String()
    form = ma.fields.List(ma.fields.Dict(), metadata={"description": "The template's own form fields ({name, label, type, required, options})."})


class EntryPointScanSchema(ma.Schema):
    """What a scanned code opens: the entry point's name, its template and the prefill."""

    name = ma.fields.String()
    code = ma.fields.String()
    template = ma.fields.Nested(EntryPointTemplateSchema)
    prefill = ma.fields.Nested(PrefillSchema)
    department_id = ma.fields.Integer(allow_none=True)


class EntryPointStartSchema(ma.Schema):
    """What the person scanning entered; each value given wins over the entry point's prefill."""

    title = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 300), metadata={
        "description": "By default the prefill's title (one of them is needed)."})
    description = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 20_000))
    product_sku = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 64))
    batch_no = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 64))
    data = ma.fields.Dict(load_default=dict, metadata={
        "description": "The template's form values; merged over the prefill's, key by key."})
