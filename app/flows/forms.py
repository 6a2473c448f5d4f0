"""Form fields of templates and steps, and validation of the values filled in, via marshmallow."""
import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean

# A list value, declared by the form or not, holds at most this many items.
MAX_LIST_ITEMS = 10_000
# A `for_each` step opens one task per item: its list holds at most this many, wherever the list comes from.
MAX_FOR_EACH_ITEMS = 1_000

FIELD_TYPES = ("text", "textarea", "number", "integer", "boolean", "date", "datetime", "select", "multiselect", "user", "list", "attachment")


class FormFieldSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[validate.Length(1, 64), validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")])
    label = ma.fields.String(load_default=None, validate=validate.Length(0, 200))
    type = ma.fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    required = StrictBoolean(load_default=False)
    options = ma.fields.List(ma.fields.String(validate=validate.Length(1, 200)), load_default=None, validate=validate.Length(min=1, max=500))
    max_length = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    min = ma.fields.Float(load_default=None)
    max = ma.fields.Float(load_default=None)

    @ma.validates_schema
    def _options_for_selects(self, data, **kwargs):
        if data["type"] in ("select", "multiselect") and not data.get("options"):
            raise ma.ValidationError("select fields need options", "options")


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
    if kind in ("user", "attachment"):
        return ma.fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)
    if kind == "list":
        return ma.fields.List(ma.fields.Raw(), validate=validate.Length(min=1 if required else 0, max=MAX_LIST_ITEMS), **kwargs)
    raise ValueError(kind)


def validate_values(fields: list[dict], values: dict | None, *, prefix: str = "data") -> tuple[dict, dict]:
    """Check `values` against form `fields`; answer (clean values as JSON-able dict, errors by path)."""
    values = values or {}
    if not isinstance(values, dict):
        return {}, {prefix: ["must be an object"]}
    schema_cls = ma.Schema.from_dict({f["name"]: _field_for(f) for f in fields}, name="FormValues")
    # Keys not declared by the form are kept as given: integrations attach context the form does not show.
    schema = schema_cls(unknown=ma.INCLUDE)
    errors = schema.validate(values)
    declared = {f["name"] for f in fields}
    for key, value in values.items():
        if key not in declared and isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            errors[key] = [f"Longer than maximum length {MAX_LIST_ITEMS}."]
    if errors:
        return {}, {f"{prefix}.{k}": v for k, v in errors.items()}
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


def attachment_values(fields: list[dict], values: dict) -> dict[str, int]:
    """The attachment ids that the form's `attachment` fields hold in `values` (already validated), by field name."""
    return {f["name"]: values[f["name"]] for f in fields
            if f["type"] == "attachment" and isinstance(values.get(f["name"]), int)}
