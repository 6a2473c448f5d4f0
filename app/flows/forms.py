"""Form fields of templates and steps, and validation of the values filled in, via marshmallow."""
import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean

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
        return ma.fields.List(ma.fields.Raw(), validate=validate.Length(min=1 if required else 0, max=10_000), **kwargs)
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
    if errors:
        return {}, {f"{prefix}.{k}": v for k, v in errors.items()}
    return dict(values), {}
