"""Conditions and the router (app/flows/conditions.py, app/flows/routing.py): pure rules, no database."""
import pytest

from app.flows.conditions import Facts, condition_errors, holds
from app.flows.routing import ancestors, descendants, route, routing_errors


def _facts(**data):
    return Facts(data=data)


@pytest.mark.parametrize("op, actual, value, expected", [
    ("eq", 5, 5, True), ("eq", 5, 6, False), ("eq", "a", "a", True), ("eq", None, "a", False),
    ("ne", 5, 6, True), ("ne", 5, 5, False), ("ne", None, "a", True),
    ("gt", 10, 5, True), ("gt", 5, 5, False), ("gte", 5, 5, True), ("lt", 4, 5, True), ("lte", 6, 5, False),
    ("gt", "2026-10-02", "2026-10-01", True), ("lt", "2026-10-01T08:00:00+08:00", "2026-10-01T01:00:00+00:00", True),
    ("gt", None, 5, False), ("gt", "x", 5, False), ("gt", True, 0, False),
    ("in", "b", ["a", "b"], True), ("in", "c", ["a", "b"], False), ("in", None, ["a"], False),
    ("contains", ["x", "y"], "y", True), ("contains", ["x"], "y", False), ("contains", "broken seal", "seal", True),
    ("contains", 5, "5", False),
    ("empty", None, True, True), ("empty", "", True, True), ("empty", [], True, True), ("empty", "x", True, False),
    ("empty", "x", False, True), ("empty", None, False, False),
])
def test_each_operator(op, actual, value, expected):
    condition = {"field": "f", "op": op, "value": value}
    assert holds(condition, _facts(f=actual)) is expected


def test_all_any_not_and_missing_fields():
    big = {"field": "value", "op": "gte", "value": 1000}
    phone = {"field": "channel", "op": "eq", "value": "phone"}
    assert holds({"all": [big, phone]}, _facts(value=1000, channel="phone"))
    assert not holds({"all": [big, phone]}, _facts(value=999, channel="phone"))
    assert holds({"any": [big, phone]}, _facts(value=1, channel="phone"))
    assert not holds({"any": [big, phone]}, _facts())
    assert holds({"not": big}, _facts(value=5)) and holds({"not": {"not": big}}, _facts(value=5000))


def test_outcomes_of_single_and_multi_instance_steps():
    facts = Facts(data={}, outcomes={"inspect": ["pass", "fail", "pass"]}, step_data={"inspect": [{"n": 1}, {"n": 7}]})
    assert holds({"outcome": {"step": "inspect", "in": ["fail"]}}, facts)  # any instance (the default)
    assert not holds({"outcome": {"step": "inspect", "in": ["fail"], "quantifier": "all"}}, facts)
    assert holds({"outcome": {"step": "inspect", "in": ["pass", "fail"], "quantifier": "all"}}, facts)
    assert not holds({"outcome": {"step": "pack", "in": ["done"]}}, facts)  # not finished: nothing held
    assert holds({"field": "inspect.n", "op": "gt", "value": 5}, facts)  # any instance's completion data
    assert not holds({"field": "inspect.n", "op": "gt", "value": 7}, facts)


STEPS = [
    {"key": "inspect", "outcomes": ["pass", "fail"]},
    {"key": "restock", "after": ["inspect"], "when": {"outcome": {"step": "inspect", "in": ["pass"]}}},
    {"key": "dispose", "after": ["inspect"], "when": {"outcome": {"step": "inspect", "in": ["fail"]}}},
    {"key": "label", "after": ["dispose"]},
    {"key": "close", "after": ["restock", "label"]},
]


def test_an_exclusive_choice_skips_the_branch_not_taken_and_the_join_waits_only_for_the_branch_taken():
    status = {"inspect": "completed", "restock": "pending", "dispose": "pending", "label": "pending", "close": "pending"}
    facts = Facts(data={}, outcomes={"inspect": ["pass"]})
    decisions = route(STEPS, status, facts)
    assert [(d.key, d.start) for d in decisions] == [("restock", True), ("dispose", False), ("label", False)]
    assert decisions[2].reason == {"by": "no_branch_taken", "after": ["dispose"]}  # the skip propagated
    assert decisions[1].reason == {"by": "when", "when": STEPS[2]["when"], "held": False}
    # restock is running: the join is not ready yet; once it completes, the join starts (one predecessor completed).
    status.update({"restock": "completed", "dispose": "skipped", "label": "skipped"})
    assert [(d.key, d.start) for d in route(STEPS, status, facts)] == [("close", True)]


def test_a_diamond_whose_branches_are_all_skipped_skips_the_join_too():
    steps = [{"key": "a"}, {"key": "b", "after": ["a"], "when": {"field": "x", "op": "eq", "value": 1}},
             {"key": "c", "after": ["a"], "when": {"field": "x", "op": "eq", "value": 2}}, {"key": "d", "after": ["b", "c"]}]
    status = {"a": "completed", "b": "pending", "c": "pending", "d": "pending"}
    assert [(d.key, d.start) for d in route(steps, status, Facts(data={"x": 3}))] == [("b", False), ("c", False), ("d", False)]


def test_a_default_branch_starts_only_when_no_sibling_condition_holds():
    steps = [{"key": "triage", "outcomes": ["refund", "replace", "other"]},
             {"key": "refund", "after": ["triage"], "when": {"outcome": {"step": "triage", "in": ["refund"]}}},
             {"key": "replace", "after": ["triage"], "when": {"outcome": {"step": "triage", "in": ["replace"]}}},
             {"key": "manual", "after": ["triage"], "default": True}]
    status = {"triage": "completed", "refund": "pending", "replace": "pending", "manual": "pending"}
    other = route(steps, status, Facts(data={}, outcomes={"triage": ["other"]}))
    assert [(d.key, d.start) for d in other] == [("refund", False), ("replace", False), ("manual", True)]
    assert other[2].reason == {"by": "default", "taken": []}
    refund = route(steps, status, Facts(data={}, outcomes={"triage": ["refund"]}))
    assert [(d.key, d.start) for d in refund] == [("refund", True), ("replace", False), ("manual", False)]
    assert refund[2].reason == {"by": "default", "taken": ["refund"]}


def test_graph_navigation():
    assert ancestors(STEPS)["close"] == {"inspect", "restock", "dispose", "label"}
    assert descendants(STEPS, "dispose") == {"label", "close"}


# ---------------------------------------------------------------- validation on save, by exact path

FORM = [{"name": "value", "type": "number"}, {"name": "channel", "type": "select", "options": ["phone", "app"]},
        {"name": "tags", "type": "multiselect", "options": ["a", "b"]}, {"name": "sealed", "type": "boolean"},
        {"name": "note", "type": "text"}, {"name": "on", "type": "date"}]
EARLIER = {"inspect": {"key": "inspect", "outcomes": ["pass", "fail"], "form": [{"name": "score", "type": "integer"}]}}


@pytest.mark.parametrize("condition, path, words", [
    ({"outcome": {"step": "later", "in": ["pass"]}}, "w.outcome.step", "before this one"),
    ({"outcome": {"step": "inspect", "in": ["maybe"]}}, "w.outcome.in", "no outcome 'maybe'"),
    ({"outcome": {"step": "inspect", "in": []}}, "w.outcome.in", "non-empty"),
    ({"outcome": {"step": "inspect", "in": ["pass"], "quantifier": "most"}}, "w.outcome.quantifier", "any or all"),
    ({"field": "nope", "op": "eq", "value": 1}, "w.field", "no field 'nope'"),
    ({"field": "inspect.nope", "op": "eq", "value": 1}, "w.field", "no form field 'nope'"),
    ({"field": "ghost.score", "op": "eq", "value": 1}, "w.field", "not before"),
    ({"field": "value", "op": "like", "value": 1}, "w.op", "must be one of"),
    ({"field": "channel", "op": "gt", "value": "phone"}, "w.op", "does not fit a select field"),
    ({"field": "tags", "op": "eq", "value": "a"}, "w.op", "does not fit a multiselect field"),
    ({"field": "value", "op": "gt", "value": "ten"}, "w.value", "must be a number"),
    ({"field": "sealed", "op": "eq", "value": "yes"}, "w.value", "true or false"),
    ({"field": "channel", "op": "eq", "value": "fax"}, "w.value", "options"),
    ({"field": "on", "op": "lt", "value": "tomorrow"}, "w.value", "ISO 8601 date"),
    ({"field": "value", "op": "in", "value": 5}, "w.value", "non-empty list"),
    ({"field": "value", "op": "eq"}, "w.value", "a value is needed"),
    ({"all": []}, "w.all", "non-empty list"),
    ({"all": [{"field": "value", "op": "eq", "value": 1}, {"bogus": 1}]}, "w.all.1", "exactly one of"),
    ({"not": {"any": [{"field": "note", "op": "gt", "value": "x"}]}}, "w.not.any.0.op", "does not fit a text field"),
    ("value > 5", "w", "must be an object"),
])
def test_every_condition_problem_is_named_by_its_exact_path(condition, path, words):
    errors = condition_errors(condition, "w", earlier=EARLIER, form={f["name"]: f for f in FORM})
    assert path in errors and any(words in m for m in errors[path]), errors


def test_valid_conditions_pass():
    good = {"all": [{"outcome": {"step": "inspect", "in": ["fail"], "quantifier": "all"}},
                    {"field": "inspect.score", "op": "lt", "value": 3}, {"field": "tags", "op": "contains", "value": "a"},
                    {"not": {"field": "note", "op": "empty"}}, {"field": "channel", "op": "in", "value": ["phone", "app"]}]}
    assert condition_errors(good, "w", earlier=EARLIER, form={f["name"]: f for f in FORM}) == {}


def test_nesting_is_bounded():
    deep = {"field": "value", "op": "eq", "value": 1}
    for _ in range(12):
        deep = {"not": deep}
    errors = condition_errors(deep, "w", earlier={}, form={"value": {"name": "value", "type": "number"}})
    assert any("nest at most" in m for messages in errors.values() for m in messages)


def test_default_branches_are_checked_with_their_siblings():
    steps = [{"key": "a"}, {"key": "b", "after": ["a"], "default": True},
             {"key": "c", "after": ["a"], "default": True}, {"key": "d", "after": ["c"], "default": True},
             {"key": "e", "after": ["a"], "default": True, "when": {"field": "value", "op": "eq", "value": 1}}]
    errors = routing_errors(steps, [{"name": "value", "type": "number"}])
    assert "steps.1.default" not in errors
    assert any("at most one default" in m for m in errors["steps.2.default"])
    assert any("needs sibling steps" in m for m in errors["steps.3.default"])
    assert any("no condition of its own" in m for m in errors["steps.4.default"])
