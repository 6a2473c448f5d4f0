"""Ids are 32-bit: PostgreSQL's `integer`. One beyond that range names nothing, wherever it is sent.

- In a URL path (every `<int:…>` rule) it is a URL that matches no route: 404, like any id that does not exist.
- In a body or a query string it is a field error: 422 naming the field, before any statement is built (the
  database would refuse it with an error that names no field, and SQLite would silently accept it). This holds
  for every integer field whose schema gives it no range of its own: ids, and anything else stored as `integer`.
"""
import re

import marshmallow as ma
from flask import Flask
from flask_smorest import Blueprint
from werkzeug.routing import IntegerConverter, ValidationError

MAX_ID = 2**31 - 1
MIN_INT = -(2**31)
_MAX_DIGITS = len(str(MAX_ID))
# What int() (and so marshmallow) loads from text, in ASCII digits: "²" passes isdigit() and fails int().
_INTEGER_TEXT = re.compile(r"[+-]?[0-9](?:_?[0-9])*")


class IdConverter(IntegerConverter):
    """`int` in URL rules: digits only, at most MAX_ID (documented as the parameter's maximum)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None, signed: bool = False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)

    def to_python(self, value: str):
        if len(value.lstrip("-")) > _MAX_DIGITS:  # int() of thousands of digits is slow, and refused past 4,300
            raise ValidationError()
        return super().to_python(value)


def _bounded(field: ma.fields.Field) -> bool:
    """An Integer field whose own validators bound it on both sides: the schema's author chose the range."""
    return any(isinstance(v, ma.validate.Range) and v.min is not None and v.max is not None for v in field.validators)


def _as_int(value):
    """The integer marshmallow would load from `value`, or None when it would not load one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            # Any longer run of digits is out of range whatever it says (and int() of it would be slow).
            return int(text) if len(text) <= 30 else MAX_ID + 1
    return None


def _check(field: ma.fields.Field, value, errors: dict, name) -> None:
    if isinstance(field, ma.fields.Integer):
        number = _as_int(value)
        if number is not None and not _bounded(field) and not MIN_INT <= number <= MAX_ID:
            errors[name] = [f"Must be between {MIN_INT} and {MAX_ID}."]
    elif isinstance(field, ma.fields.List):
        items = value
        if isinstance(value, str) and hasattr(field, "delimiter"):  # webargs DelimitedList in a query string
            items = value.split(field.delimiter)
        if isinstance(items, (list, tuple)):
            inner: dict = {}
            for index, item in enumerate(items):
                _check(field.inner, item, inner, index)
            if inner:
                errors[name] = inner
    elif isinstance(field, ma.fields.Nested):
        schema = field.schema
        if isinstance(value, dict):
            inner = out_of_range(schema, value)
            if inner:
                errors[name] = inner
        elif isinstance(value, list) and schema.many:
            inner = {}
            for index, item in enumerate(value):
                found = out_of_range(schema, item) if isinstance(item, dict) else {}
                if found:
                    inner[index] = found
            if inner:
                errors[name] = inner


def _field_needs_check(field: ma.fields.Field, seen: tuple) -> bool:
    if isinstance(field, ma.fields.Integer):
        return not _bounded(field)
    if isinstance(field, ma.fields.List):
        return _field_needs_check(field.inner, seen)
    if isinstance(field, ma.fields.Nested):
        return _schema_needs_check(field.schema, seen)
    return False


_NEEDS_CHECK: dict = {}


def _schema_needs_check(schema: ma.Schema, seen: tuple = ()) -> bool:
    """Whether a schema holds an integer field without its own bounds, anywhere (a bulk import usually does not)."""
    key = (type(schema), tuple(schema.load_fields))
    if key in _NEEDS_CHECK:
        return _NEEDS_CHECK[key]
    if key in seen:
        return False  # a schema nested in itself: its fields are being looked at already
    needs = any(_field_needs_check(field, seen + (key,)) for field in schema.load_fields.values())
    if not seen:
        _NEEDS_CHECK[key] = needs  # only whole answers are kept
    return needs


def out_of_range(schema: ma.Schema, data) -> dict:
    """Errors, nested like marshmallow's, for the integer fields of `schema` whose value in `data` is out of range."""
    errors: dict = {}
    if not hasattr(data, "get") or not _schema_needs_check(schema):
        return errors
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        value = data.get(key, ma.missing)  # webargs' query proxy answers a list for a List field
        if value is ma.missing or value is None:
            continue
        _check(field, value, errors, key)
    return errors


def _pre_load(location_data, *, schema, req, location):
    """webargs' hook before a schema loads: refuse out-of-range integers as field errors."""
    errors = out_of_range(schema, location_data)
    if errors:
        raise ma.ValidationError(errors)
    return location_data


def init_app(app: Flask) -> None:
    """Before any rule is added: `int` in URLs is an id; every flask-smorest argument schema gets the check."""
    app.url_map.converters["int"] = IdConverter
    # flask-smorest hands every `@blp.arguments` schema to one shared webargs parser; its pre_load hook is the
    # documented place to look at the data before a schema loads it.
    Blueprint.ARGUMENTS_PARSER.pre_load = _pre_load
