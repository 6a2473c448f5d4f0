"""A marshmallow schema's `dump`, compiled once into plain functions, for the answers phones fetch all day.

The schema stays the contract: it documents the answer in the OpenAPI and it is what tests compare against
(tests/common/test_fastdump.py). `schema.dump` walks its fields through several generic layers per value (get_value,
the field's serialize, its hooks, error bookkeeping); for an inbox of a hundred tasks of thirty fields that was 40%
of the request's CPU. `compile_dump(Schema)` reads the same declarations once and builds one small function per
field, doing exactly what marshmallow does for those field types: a missing attribute leaves the key out, None stays
None, `attribute`, `data_key` and `Method` fields are honoured. A schema with a field it does not know (a hook, a
custom field) is refused when compiled, so it never answers differently from the schema. (No maintained library
does this for marshmallow 3; toastedmarshmallow, which did, stopped at marshmallow 2.)

Every API blueprint is this module's `Blueprint`: a response schema that compiles answers with its compiled dump,
one that does not with its own; either way it is the schema that documents the answer.
"""
import copy
import threading
from collections.abc import Callable, Mapping

import flask_smorest
import marshmallow as ma
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
    if type(field) is fields.Float and not field.as_string:
        return lambda v: None if v is None else float(v)
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
    if instance.only or instance.exclude or instance.many:  # before the cache: its function dumps the whole class
        raise TypeError("compile_dump: only, exclude and many are not supported")
    cls = type(instance)
    with _LOCK:  # one compilation at a time (answers compile on their first request, in any thread)
        if cls in _COMPILED:
            return _COMPILED[cls]
        if cls in _COMPILING:  # a schema nested in itself (a tree): the function it is becoming, found when called
            slot = _COMPILING[cls]
            return lambda obj: slot[0](obj)
        _COMPILING[cls] = []
        try:
            dump = _compile(instance)
        finally:
            late = _COMPILING.pop(cls)
        late.append(dump)
        _COMPILED[cls] = dump
        return dump


# The schemas being compiled, each with where its function will be. Only the thread holding the (reentrant) lock
# reads or writes it, so a schema another thread is compiling is never mistaken for one nested in itself.
_COMPILING: dict[type, list] = {}
_COMPILED: dict[type, Callable[[object], dict]] = {}  # a schema class's dump, compiled once per process
_LOCK = threading.RLock()


def _compile(instance: ma.Schema) -> Callable[[object], dict]:
    if any(instance._hooks.get(tag) for tag in ("pre_dump", "post_dump")):  # load and validation hooks never dump
        raise TypeError(f"compile_dump: {type(instance).__name__} has dump hooks")
    if instance.only or instance.exclude or instance.many:
        raise TypeError("compile_dump: only, exclude and many are not supported")
    scope: dict = {"MISSING": _MISSING, "Mapping": Mapping}
    lines = ["def dump(obj):", "    get = obj.get if isinstance(obj, Mapping) else lambda k, d: getattr(obj, k, d)",
             "    out = {}"]
    for n, (name, field) in enumerate(instance.dump_fields.items()):
        key = field.data_key or name
        if field.dump_default is not ma.missing:  # a missing attribute would be dumped as the default
            raise TypeError(f"compile_dump: {name} has a dump_default")
        if isinstance(field, fields.Method):
            scope[f"m{n}"] = getattr(instance, field.serialize_method_name)
            lines.append(f"    out[{key!r}] = m{n}(obj)")
            continue
        attribute = field.attribute or name
        if "." in attribute:
            raise TypeError("compile_dump: dotted attributes are not supported")
        if type(field) is fields.Integer and not field.as_string:
            convert = "int(v)"
        elif type(field) is fields.Float and not field.as_string:
            convert = "float(v)"
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


def compiled_schema(schema: ma.Schema | type[ma.Schema]) -> ma.Schema | None:
    """A copy of `schema` (an instance, or one made of a class) whose `dump` is its compiled dump, or its own when it
    does not compile; None for a schema with `only` or `exclude`. The copy keeps every declaration, so the OpenAPI
    documents it as it documented the schema. It compiles when it first dumps: a schema nested by name is found in
    marshmallow's registry only once every module declaring schemas is imported."""
    instance = schema() if isinstance(schema, type) else schema
    if instance.only or instance.exclude:
        return None
    fast = copy.copy(instance)
    fast.dump = _CompiledDump(fast)
    return fast


class _CompiledDump:
    """A schema instance's `dump(obj, many=None)`, compiled on the first call (its own dump if it does not compile)."""

    def __init__(self, schema: ma.Schema):
        self.schema, self.one = schema, None

    def compiled(self) -> Callable[[object], dict] | None:
        if self.one is None:
            try:
                one = compile_dump(type(self.schema))
            except TypeError:
                one = False  # a dump hook or a field type it does not know: the schema's own dump, always
            self.one = one  # set once whole: another thread sees None (and compiles too) or the function
        return self.one or None

    def __call__(self, obj, *, many: bool | None = None):
        one = self.compiled()
        if one is None:
            return type(self.schema).dump(self.schema, obj, many=many)
        if self.schema.many if many is None else many:
            return [one(item) for item in obj]
        return one(obj)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, answering `response(status, Schema)` with the schema's compiled dump when it
    compiles (`compiled_schema`), and loading `arguments(Schema)` with one instance of the schema."""

    def arguments(self, schema, **kwargs):
        # webargs makes a new instance of a schema class for every request it parses; one instance loads them all.
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)

    def response(self, status_code, schema=None, **kwargs):
        if isinstance(schema, (type, ma.Schema)):
            schema = compiled_schema(schema) or schema
        return super().response(status_code, schema, **kwargs)
