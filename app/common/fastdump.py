"""A marshmallow schema's `dump`, compiled once into plain functions, for the answers phones fetch all day.

The schema stays the contract: it documents the answer in the OpenAPI and it is what tests compare against
(tests/common/test_fastdump.py). `schema.dump` walks its fields through several generic layers per value (get_value,
the field's serialize, its hooks, error bookkeeping); for an inbox of a hundred tasks of thirty fields that was 40%
of the request's CPU. `compile_dump(Schema)` reads the same declarations once and builds one small function per
field, doing exactly what marshmallow does for those field types: a missing attribute leaves the key out, None stays
None, `attribute`, `data_key` and `Method` fields are honoured. A schema with a field it does not know (a hook, a
custom field) is refused when compiled, so it never answers differently from the schema. (No maintained library
does this for marshmallow 3; toastedmarshmallow, which did, stopped at marshmallow 2.)
"""
from collections.abc import Callable, Mapping

import marshmallow as ma
from flask import current_app
from marshmallow import fields

_MISSING = object()


def _value(field: fields.Field) -> Callable:
    """How `field` serializes a present value (None stays None, as marshmallow's fields do)."""
    if isinstance(field, fields.Nested):
        nested = field.schema  # the schema a class, an instance or a registered name resolves to
        if nested.only or nested.exclude:
            raise TypeError("compile_dump: Nested with only or exclude is not supported")
        inner = compile_dump(type(nested))
        if nested.many:
            return lambda v: None if v is None else [inner(x) for x in v]
        return lambda v: None if v is None else inner(v)
    if isinstance(field, fields.List):
        inner = _value(field.inner)
        return lambda v: None if v is None else [inner(x) for x in v]
    if isinstance(field, fields.Dict):
        if field.key_field is None and field.value_field is None:
            return lambda v: None if v is None else dict(v)
        keys = _value(field.key_field) if field.key_field is not None else (lambda k: k)
        values = _value(field.value_field) if field.value_field is not None else (lambda x: x)
        return lambda v: None if v is None else {keys(k): values(x) for k, x in v.items()}
    if isinstance(field, fields.Boolean):  # marshmallow 4 dumps a Boolean field's value as it is
        return lambda v: v
    if isinstance(field, fields.DateTime) and type(field) in (fields.DateTime, fields.AwareDateTime):
        if field.format not in (None, "iso", "iso8601"):
            raise TypeError(f"compile_dump: DateTime format {field.format!r} is not supported")
        return lambda v: None if v is None else v.isoformat()
    if type(field) is fields.Integer and not field.as_string:
        return lambda v: None if v is None else int(v)
    if type(field) is fields.String:
        return lambda v: None if v is None else str(v)
    if type(field) is fields.Raw:
        return lambda v: v
    raise TypeError(f"compile_dump: {type(field).__name__} is not supported")


def compile_dump(schema: ma.Schema | type[ma.Schema]) -> Callable[[object], dict]:
    """`schema.dump(obj)` for one object, as a plain function (see the module's docstring).

    The function is generated as straight-line Python, one statement per field: reading an attribute of a dict or
    of an object once, and the field's conversion inline where it is a builtin (int, str, isoformat)."""
    instance = schema() if isinstance(schema, type) else schema
    if instance._hooks and any(instance._hooks.values()):
        raise TypeError(f"compile_dump: {type(instance).__name__} has hooks")
    if instance.only or instance.exclude or instance.many:
        raise TypeError("compile_dump: only, exclude and many are not supported")
    scope: dict = {"MISSING": _MISSING, "Mapping": Mapping}
    lines = ["def dump(obj):", "    get = obj.get if isinstance(obj, Mapping) else lambda k, d: getattr(obj, k, d)",
             "    out = {}"]
    for n, (name, field) in enumerate(instance.dump_fields.items()):
        key = field.data_key or name
        if isinstance(field, fields.Method):
            scope[f"m{n}"] = getattr(instance, field.serialize_method_name)
            lines.append(f"    out[{key!r}] = m{n}(obj)")
            continue
        attribute = field.attribute or name
        if "." in attribute:
            raise TypeError("compile_dump: dotted attributes are not supported")
        if type(field) is fields.Integer and not field.as_string:
            convert = "int(v)"
        elif type(field) is fields.String:
            convert = "v if type(v) is str else str(v)"
        elif isinstance(field, fields.DateTime) and type(field) in (fields.DateTime, fields.AwareDateTime) \
                and field.format in (None, "iso", "iso8601"):
            convert = "v.isoformat()"
        else:
            scope[f"f{n}"] = _value(field)
            lines += [f"    v = get({attribute!r}, MISSING)", "    if v is not MISSING:", f"        out[{key!r}] = f{n}(v)"]
            continue
        lines += [f"    v = get({attribute!r}, MISSING)", "    if v is not MISSING:",
                  f"        out[{key!r}] = None if v is None else {convert}"]
    lines.append("    return out")
    exec("\n".join(lines), scope)  # noqa: S102 - the source is generated above from the schema's declarations
    return scope["dump"]


def respond(dump: Callable[[object], dict], obj, status: int = 200):
    """The answer `dump` makes of `obj`, as JSON (a view documented by `blp.response(status, Schema)` returning this
    skips the schema's own, slower dump)."""
    response = current_app.json.response(dump(obj))
    response.status_code = status
    return response
