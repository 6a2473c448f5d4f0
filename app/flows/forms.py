"""Form fields of templates and steps, and validation of the values filled in, via marshmallow."""
import functools
import json

import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean
from app.errors import field_paths

# A list value, declared by the form or not, holds at most this many items.
MAX_LIST_ITEMS = 10_000
# A `for_each` step opens one task per item: its list holds at most this many, wherever the list comes from.
MAX_FOR_EACH_ITEMS = 1_000

FIELD_TYPES = ("text", "textarea", "number", "integer", "boolean", "date", "datetime", "select", "multiselect", "user", "list",
               "attachment", "photos", "signature", "barcode", "location")
# Captured in the field (docs/design.md §15). Fields whose values are ids of the work order's stored attachments;
# `photos` and `signature` hold images only.
ATTACHMENT_TYPES = ("attachment", "photos", "signature")
IMAGE_TYPES = ("photos", "signature")
# A `photos` field holds at most this many photos (its `max` may say fewer).
MAX_PHOTOS = 20
MAX_BARCODE_LENGTH = 2_000
# The symbologies a `barcode` field may restrict a scan to, named as the browsers' BarcodeDetector names them.
BARCODE_FORMATS = ("aztec", "codabar", "code_39", "code_93", "code_128", "data_matrix", "ean_8", "ean_13", "itf", "pdf417",
                   "qr_code", "upc_a", "upc_e")
# The work order's own references a barcode can be checked against (any other `must_match` names a key of its data).
REFERENCES = ("order_no", "customer_ref", "product_sku", "batch_no")
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


# The languages a template's words may be given in besides its plain text (docs/design.md §13).
LANGUAGES = ("zh-CN", "en")


def per_language(length: int = 200, **kwargs) -> ma.fields.Dict:
    """`{"zh-CN": "…", "en": "…"}`: a text per language, each optional; absent unless given (stored templates keep
    their shape)."""
    return ma.fields.Dict(keys=ma.fields.String(validate=validate.OneOf(LANGUAGES)), values=ma.fields.String(validate=validate.Length(1, length)),
                          **kwargs)


class FormFieldSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[validate.Length(1, 64), validate.Regexp(NAME)])
    label = ma.fields.String(load_default=None, validate=validate.Length(0, 200))
    labels = per_language(metadata={"description": "The label per language ({\"zh-CN\": …, \"en\": …}); `label` is said where a "
                                                   "language has none."})
    type = ma.fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    required = StrictBoolean(load_default=False)
    options = ma.fields.List(ma.fields.String(validate=validate.Length(1, 200)), load_default=None, validate=validate.Length(min=1, max=500))
    max_length = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    min = ma.fields.Float(load_default=None, metadata={"description": "number, integer: the smallest value; photos: the fewest photos"})
    max = ma.fields.Float(load_default=None, metadata={"description": "number, integer: the largest value; photos: the most photos "
                                                                      f"(at most {MAX_PHOTOS})"})
    # Barcode options: absent unless given, so the fields of other types keep the shape they are stored in.
    formats = ma.fields.List(ma.fields.String(validate=validate.OneOf(BARCODE_FORMATS)), validate=validate.Length(1, len(BARCODE_FORMATS)),
                             metadata={"description": "barcode: the symbologies to read (BarcodeDetector names); any when absent"})
    must_match = ma.fields.String(validate=[validate.Length(1, 64), validate.Regexp(NAME)], metadata={
        "description": "barcode: a reference of the work order (order_no, customer_ref, product_sku, batch_no) or a key of its "
                       "data; a scan that differs from the work order's value is refused on completion (barcode_mismatch)"})

    @ma.validates_schema(skip_on_field_errors=False)  # every misfit named at once, beside a bad format or name
    def _options_fit_the_type(self, data, **kwargs):
        kind = data.get("type")
        if kind is None:  # an unknown type: said at `type`; which options fit it cannot be said
            return
        errors: dict[str, list[str]] = {}
        if kind in ("select", "multiselect") and not data.get("options"):
            errors["options"] = ["select fields need options"]
        for key in ("formats", "must_match"):
            if key in data and kind != "barcode":
                errors[key] = [f"only a barcode field takes {key}"]
        if kind in ("signature", "barcode", "location"):
            for key in ("min", "max"):
                if data.get(key) is not None:
                    errors[key] = ["only number, integer and photos fields take min and max"]
        if kind == "photos":
            errors.update(_photo_count_errors(data.get("min"), data.get("max")))
        if kind == "barcode" and data.get("must_match") and data.get("must_match") == data.get("name"):
            errors["must_match"] = ["a barcode cannot be checked against itself: name a reference or another field"]
        if errors:
            raise ma.ValidationError(errors)


def _photo_count_errors(least, most) -> dict:
    errors = {}
    for key, value, floor in (("min", least, 0), ("max", most, 1)):
        if value is None:
            continue
        if not float(value).is_integer() or not floor <= value <= MAX_PHOTOS:
            errors[key] = [f"a whole number of photos from {floor} to {MAX_PHOTOS}"]
    if not errors and least is not None and most is not None and least > most:
        errors["min"] = ["cannot be more than max"]
    return errors


class _Number(ma.fields.Float):
    """A JSON number (never text, never true/false)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class LocationSchema(ma.Schema):
    """A position as the phone reported it: WGS 84 degrees and the radius of its uncertainty in metres."""

    lat = _Number(required=True, allow_nan=False, validate=validate.Range(min=-90, max=90))
    lng = _Number(required=True, allow_nan=False, validate=validate.Range(min=-180, max=180))
    accuracy = _Number(required=True, allow_nan=False, validate=validate.Range(min=0, max=1_000_000))


class _PhotoCount(validate.Validator):
    """How many photos a `photos` field holds: between its min and max, all different; none at all unless required."""

    def __init__(self, *, least: int, most: int, required: bool):
        self.least, self.most, self.required = least, most, required

    def __call__(self, value):
        if not value and not self.required:
            return value
        if len(value) < self.least:
            if self.least == 1:
                raise ma.ValidationError("at least one photo")
            raise ma.ValidationError(f"at least {self.least} photos")
        if len(value) > self.most:
            if self.most == 1:
                raise ma.ValidationError("at most one photo")
            raise ma.ValidationError(f"at most {self.most} photos")
        if len(set(value)) != len(value):
            raise ma.ValidationError("the same photo is given twice")
        return value


def _field_for(spec: dict) -> ma.fields.Field:
    required = bool(spec.get("required"))
    kwargs = {"required": required, "allow_none": not required}
    validators = []
    kind = spec["type"]
    if kind in ("text", "textarea"):
        validators.append(validate.Length(max=spec.get("max_length") or (20_000 if kind == "textarea" else 2_000)))
        if required:
            validators.append(validate.Length(min=1))
        return ma.fields.String(validate=validators, **kwargs)
    if kind in ("number", "integer"):
        if spec.get("min") is not None or spec.get("max") is not None:
            validators.append(validate.Range(min=spec.get("min"), max=spec.get("max")))
        cls = ma.fields.Float if kind == "number" else ma.fields.Integer
        return cls(validate=validators, strict=True, **kwargs) if kind == "integer" else cls(validate=validators, allow_nan=False, **kwargs)
    if kind == "boolean":
        return StrictBoolean(**kwargs)
    if kind == "date":
        return ma.fields.Date(**kwargs)
    if kind == "datetime":
        return ma.fields.AwareDateTime(default_timezone=None, **kwargs)
    if kind == "select":
        return ma.fields.String(validate=validate.OneOf(spec["options"]), **kwargs)
    if kind == "multiselect":
        return ma.fields.List(ma.fields.String(validate=validate.OneOf(spec["options"])), validate=validate.Length(min=1 if required else 0), **kwargs)
    if kind in ("user", "attachment", "signature"):
        return ma.fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)
    if kind == "photos":
        least = max(int(spec.get("min") or 0), 1 if required else 0)
        count = _PhotoCount(least=least, most=int(spec.get("max") or MAX_PHOTOS), required=required)
        return ma.fields.List(ma.fields.Integer(strict=True, validate=validate.Range(min=1)), validate=count, **kwargs)
    if kind == "barcode":
        return ma.fields.String(validate=validate.Length(min=1 if required else 0, max=MAX_BARCODE_LENGTH), **kwargs)
    if kind == "location":
        return ma.fields.Nested(LocationSchema, **kwargs)
    if kind == "list":
        return ma.fields.List(ma.fields.Raw(), validate=validate.Length(min=1 if required else 0, max=MAX_LIST_ITEMS), **kwargs)
    raise ValueError(kind)


@functools.lru_cache(maxsize=512)
def _form_schema(form: str) -> ma.Schema:
    """The schema checking a form's values (the form's fields as JSON), built once per process: building a schema
    class costs a hundred times more than checking an empty form with it (a bulk import checks every row's form).
    Keys not declared by the form are kept as given: integrations attach context the form does not show."""
    fields = json.loads(form)
    return ma.Schema.from_dict({f["name"]: _field_for(f) for f in fields}, name="FormValues")(unknown=ma.INCLUDE)


def validate_values(fields: list[dict], values: dict | None, *, prefix: str = "data") -> tuple[dict, dict]:
    """Check `values` against form `fields`; answer (clean values as JSON-able dict, errors by path)."""
    values = values or {}
    if not isinstance(values, dict):
        return {}, {prefix: ["must be an object"]}
    errors = _form_schema(json.dumps(fields, sort_keys=True, default=str)).validate(values)
    declared = {f["name"] for f in fields}
    for key, value in values.items():
        if key not in declared and isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            errors[key] = [f"Longer than maximum length {MAX_LIST_ITEMS}."]
    if errors:
        return {}, field_paths(errors, prefix)  # an item of a list or a key of a position is named by its path
    return dict(values), {}


def for_each_errors(steps: list[dict], values: dict, *, prefix: str = "data") -> dict:
    """Lists that `for_each` steps would open a task per item of, beyond MAX_FOR_EACH_ITEMS, by field path."""
    errors: dict[str, list[str]] = {}
    for step in steps:
        key = step.get("for_each")
        items = values.get(key) if key else None
        if isinstance(items, list) and len(items) > MAX_FOR_EACH_ITEMS:
            errors.setdefault(f"{prefix}.{key}", []).append(
                f"at most {MAX_FOR_EACH_ITEMS} items: step {step['key']!r} opens one task per item ({len(items)} given)")
    return errors


def attachment_refs(fields: list[dict], values: dict) -> list[tuple[str, int, bool]]:
    """The attachment ids that the form's attachment, photos and signature fields hold in `values` (already
    validated): (path below the form, id, whether it must be an image), in the form's order."""
    refs = []
    for f in fields:
        value = values.get(f["name"])
        if f["type"] in ("attachment", "signature") and isinstance(value, int):
            refs.append((f["name"], value, f["type"] in IMAGE_TYPES))
        elif f["type"] == "photos" and isinstance(value, list):
            refs.extend((f"{f['name']}.{i}", item, True) for i, item in enumerate(value))
    return refs


def mismatch_errors(fields: list[dict], values: dict, expected: dict, *, prefix: str = "data") -> dict:
    """Barcodes read that differ from what the work order says (`must_match`), by field path.

    `expected` holds the work order's references and data. A work order without that value has nothing to check the
    scan against: the scan is kept as read.
    """
    errors = {}
    for f in fields:
        key, scanned = f.get("must_match"), values.get(f["name"])
        if f["type"] != "barcode" or not key or scanned in (None, ""):
            continue
        wanted = expected.get(key)
        if wanted not in (None, "") and str(scanned).strip() != str(wanted).strip():
            errors[f"{prefix}.{f['name']}"] = [f"does not match the work order's {key}"]
    return errors


def step_words(step: dict) -> dict:
    """A step's title as a notification's parameters: `step`, and `step_titles` (per language) when the template
    gives them, so each reader is told the step in their language (notify.messages.render)."""
    words = {"step": step["title"]}
    if step.get("titles"):
        words["step_titles"] = dict(step["titles"])
    return words
