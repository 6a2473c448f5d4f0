"""Conditions on steps (`when`): JSON over earlier outcomes and data, checked on save and evaluated by the router.

Never code, never `eval`: a condition is one of

- `{"outcome": {"step": "<key>", "in": ["fail", …], "quantifier": "any"|"all"}}`: that step completed with one
  of these outcomes (for a multi-instance step: any instance, the default, or all of them);
- `{"field": "<name>" | "<step>.<name>", "op": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"contains"|"empty",
  "value": …}`: a value of the work order's data, or of an earlier step's completion data (any instance);
- `{"all": [conditions]}`, `{"any": [conditions]}`, `{"not": condition}`.

`condition_errors` is the save-time check (exact paths); `holds` evaluates a condition against `Facts`.
"""
from dataclasses import dataclass, field
from datetime import date, datetime

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "empty")
QUANTIFIERS = ("any", "all")
# Which operators fit which form field type.
_ORDERED = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "empty")
OPERATORS_BY_TYPE = {
    "number": _ORDERED, "integer": _ORDERED, "date": _ORDERED, "datetime": _ORDERED,
    "text": ("eq", "ne", "in", "contains", "empty"), "textarea": ("eq", "ne", "in", "contains", "empty"),
    "select": ("eq", "ne", "in", "empty"), "user": ("eq", "ne", "in", "empty"),
    "boolean": ("eq", "ne", "empty"),
    "multiselect": ("contains", "empty"), "list": ("contains", "empty"), "attachment": ("empty",),
    "barcode": ("eq", "ne", "in", "contains", "empty"),
    "photos": ("empty",), "signature": ("empty",), "location": ("empty",),
}
MAX_DEPTH = 10
MAX_NODES = 200


@dataclass
class Facts:
    """What conditions read: the work order's data and, per finished step, its instances' outcomes and data."""

    data: dict
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    step_data: dict[str, list[dict]] = field(default_factory=dict)


# ---------------------------------------------------------------- evaluation


def holds(condition: dict, facts: Facts) -> bool:
    """Whether `condition` holds (a condition refused on save never reaches here; anything odd answers False)."""
    if not isinstance(condition, dict):
        return False
    if "all" in condition:
        return all(holds(c, facts) for c in condition["all"])
    if "any" in condition:
        return any(holds(c, facts) for c in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], facts)
    if "outcome" in condition:
        body = condition["outcome"]
        found = facts.outcomes.get(body.get("step")) or []
        wanted = set(body.get("in") or [])
        if not found:
            return False
        return all(o in wanted for o in found) if body.get("quantifier") == "all" else any(o in wanted for o in found)
    if "field" in condition:
        return _field_holds(condition, facts)
    return False


def _field_holds(condition: dict, facts: Facts) -> bool:
    name, op, value = condition["field"], condition["op"], condition.get("value")
    if "." in name:
        step, key = name.split(".", 1)
        values = [d.get(key) for d in facts.step_data.get(step) or []] or [None]
    else:
        values = [facts.data.get(name)]
    return any(_compare(op, v, value) for v in values)


def _blank(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _comparable(left, right):
    """Numbers with numbers; dates and times given as ISO text compare as dates and times."""
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left, right
    if isinstance(left, str) and isinstance(right, str):
        for parse in (datetime.fromisoformat, date.fromisoformat):
            try:
                a, b = parse(left), parse(right)
            except ValueError:
                continue
            if isinstance(a, datetime) and (a.tzinfo is None) != (b.tzinfo is None):
                return None
            return a, b
        return left, right
    return None


def _compare(op: str, actual, expected) -> bool:
    if op == "empty":
        return _blank(actual) == (expected is not False)
    if op == "in":
        return isinstance(expected, list) and actual in expected
    if op == "contains":
        if isinstance(actual, list):
            return expected in actual
        return isinstance(actual, str) and isinstance(expected, str) and expected in actual
    if op in ("eq", "ne"):
        pair = _comparable(actual, expected)
        equal = (pair[0] == pair[1]) if pair is not None else actual == expected
        return equal if op == "eq" else not equal
    pair = _comparable(actual, expected)
    if pair is None:
        return False
    a, b = pair
    try:
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    except TypeError:
        return False


# ---------------------------------------------------------------- validation on save


def condition_errors(condition, path: str, *, earlier: dict[str, dict], form: dict[str, dict]) -> dict[str, list[str]]:
    """Problems of a condition, keyed by exact path (`steps.3.when.all.0.field`).

    `earlier`: the steps that precede the conditioned step in the graph (its ancestors), by key; `form`: the
    template's form fields by name. A step's completion fields are read from `earlier[step]["form"]`.
    """
    errors: dict[str, list[str]] = {}
    nodes = [0]

    def add(where: str, message: str) -> None:
        errors.setdefault(where, []).append(message)

    def check(cond, where: str, depth: int) -> None:
        nodes[0] += 1
        if nodes[0] > MAX_NODES:
            if nodes[0] == MAX_NODES + 1:
                add(where, f"a condition has at most {MAX_NODES} parts")
            return
        if depth > MAX_DEPTH:
            add(where, f"conditions nest at most {MAX_DEPTH} deep")
            return
        if not isinstance(cond, dict):
            add(where, "must be an object: outcome, field, all, any or not")
            return
        kinds = [k for k in ("outcome", "field", "all", "any", "not") if k in cond]
        if len(kinds) != 1:
            add(where, "must be exactly one of outcome, field, all, any or not")
            return
        kind = kinds[0]
        if kind in ("all", "any"):
            extra = set(cond) - {kind}
            if extra:
                add(where, f"unknown keys: {', '.join(sorted(extra))}")
            parts = cond[kind]
            if not isinstance(parts, list) or not parts:
                add(f"{where}.{kind}", "must be a non-empty list of conditions")
                return
            for i, part in enumerate(parts):
                check(part, f"{where}.{kind}.{i}", depth + 1)
        elif kind == "not":
            extra = set(cond) - {"not"}
            if extra:
                add(where, f"unknown keys: {', '.join(sorted(extra))}")
            check(cond["not"], f"{where}.not", depth + 1)
        elif kind == "outcome":
            _outcome_errors(cond, where, add)
        else:
            _field_errors(cond, where, add)

    def _outcome_errors(cond, where, add) -> None:
        extra = set(cond) - {"outcome"}
        if extra:
            add(where, f"unknown keys: {', '.join(sorted(extra))}")
        body = cond["outcome"]
        if not isinstance(body, dict):
            add(f"{where}.outcome", "must be an object with step and in")
            return
        extra = set(body) - {"step", "in", "quantifier"}
        if extra:
            add(f"{where}.outcome", f"unknown keys: {', '.join(sorted(extra))}")
        step = body.get("step")
        if not isinstance(step, str) or step not in earlier:
            add(f"{where}.outcome.step", f"must name a step before this one ({', '.join(sorted(earlier)) or 'none'})")
            return
        wanted = body.get("in")
        declared = earlier[step].get("outcomes") or ["done"]
        if not isinstance(wanted, list) or not wanted or not all(isinstance(o, str) for o in wanted):
            add(f"{where}.outcome.in", "must be a non-empty list of outcomes")
        else:
            unknown = [o for o in wanted if o not in declared]
            if unknown:
                add(f"{where}.outcome.in", f"step {step!r} has no outcome {', '.join(map(repr, unknown))} "
                                           f"(it declares {', '.join(map(repr, declared))})")
        if body.get("quantifier", "any") not in QUANTIFIERS:
            add(f"{where}.outcome.quantifier", "must be any or all")

    def _field_errors(cond, where, add) -> None:
        extra = set(cond) - {"field", "op", "value"}
        if extra:
            add(where, f"unknown keys: {', '.join(sorted(extra))}")
        name = cond["field"]
        if not isinstance(name, str) or not name:
            add(f"{where}.field", "must name a form field")
            return
        if "." in name:
            step, key = name.split(".", 1)
            if step not in earlier:
                add(f"{where}.field", f"step {step!r} is not before this one")
                return
            fields = {f["name"]: f for f in earlier[step].get("form") or []}
            spec = fields.get(key)
            if spec is None:
                add(f"{where}.field", f"step {step!r} has no form field {key!r}")
                return
        else:
            spec = form.get(name)
            if spec is None:
                add(f"{where}.field", f"the template's form has no field {name!r}")
                return
        op = cond.get("op")
        if op not in OPERATORS:
            add(f"{where}.op", f"must be one of {', '.join(OPERATORS)}")
            return
        fitting = OPERATORS_BY_TYPE.get(spec["type"], OPERATORS)
        if op not in fitting:
            add(f"{where}.op", f"{op!r} does not fit a {spec['type']} field (use {', '.join(fitting)})")
            return
        problem = _value_problem(op, spec, cond.get("value", ...))
        if problem:
            add(f"{where}.value", problem)

    check(condition, path, 1)
    return errors


def _value_problem(op: str, spec: dict, value) -> str | None:
    kind = spec["type"]
    if op == "empty":
        return None if value is ... or isinstance(value, bool) else "empty takes no value, or true / false"
    if value is ...:
        return "a value is needed"
    values = value if op == "in" else [value]
    if op == "in" and (not isinstance(value, list) or not value):
        return "in needs a non-empty list of values"
    if op == "contains":
        if kind in ("multiselect",) and spec.get("options") and value not in spec["options"]:
            return f"must be one of the field's options ({', '.join(spec['options'])})"
        return None if isinstance(value, (str, int, float)) and not isinstance(value, bool) else "must be a text or a number"
    for v in values:
        if kind in ("number", "integer", "user") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return "must be a number"
        if kind == "boolean" and not isinstance(v, bool):
            return "must be true or false"
        if kind in ("date", "datetime"):
            try:
                (date.fromisoformat if kind == "date" else datetime.fromisoformat)(v)
            except (TypeError, ValueError):
                return f"must be an ISO 8601 {kind}"
        if kind in ("text", "textarea", "barcode") and not isinstance(v, str):
            return "must be a text"
        if kind == "select" and v not in (spec.get("options") or []):
            return f"must be one of the field's options ({', '.join(spec.get('options') or [])})"
    return None
