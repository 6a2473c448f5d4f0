"""Which ready steps start and which are skipped: the one routing rule of every writer and of the dry run.

A step is *ready* when every step in its `after` has finished (completed or skipped). A ready step **starts**
when its `when` holds (no `when`: always) and at least one predecessor completed (or it has none); otherwise
it is **skipped**, with the reason recorded. Skips propagate, so a whole branch not taken is skipped, and a
join after an exclusive choice waits only for the branch taken. A step marked `default` starts when none of
its siblings' conditions hold (siblings share the same `after`). A work order is resolved when every step is
completed or skipped.

Pure: statuses and facts in, decisions out. The engine (one work order), the bulk writer (thousands) and the
dry run all call `route`.
"""
from typing import NamedTuple

from app.flows.conditions import Facts, condition_errors, holds

PENDING, SKIPPED, COMPLETED = "pending", "skipped", "completed"
FINISHED = (COMPLETED, SKIPPED)


class Decision(NamedTuple):
    """A ready step started or skipped, and why: None for a step without conditions; else {"by": "when", "when":
    the condition, "held": bool}, {"by": "default", "taken": [siblings whose condition held]} or
    {"by": "no_branch_taken", "after": [its predecessors, all skipped]}."""

    key: str
    start: bool
    reason: dict | None


def branches(steps: list[dict]) -> bool:
    """Whether any step routes (has `when` or is a `default`): only then do conditions need facts."""
    return any(s.get("when") is not None or s.get("default") for s in steps)


def siblings(steps: list[dict], step: dict) -> list[dict]:
    """The other steps with the same `after` as `step` (the other roots, for a root)."""
    after = set(step.get("after") or [])
    return [s for s in steps if s["key"] != step["key"] and set(s.get("after") or []) == after]


def route(steps: list[dict], status: dict[str, str], facts: Facts | None) -> list[Decision]:
    """Decide every ready pending step, in template order; a skip makes its successors ready in the same call."""
    status = dict(status)
    decisions: list[Decision] = []
    changed = True
    while changed:
        changed = False
        for step in steps:
            key = step["key"]
            if status.get(key) != PENDING:
                continue
            after = step.get("after") or []
            if any(status.get(p) not in FINISHED for p in after):
                continue
            decision = _decide(steps, step, status, facts)
            decisions.append(decision)
            status[key] = "active" if decision.start else SKIPPED
            changed = changed or not decision.start
    return decisions


def _decide(steps: list[dict], step: dict, status: dict[str, str], facts: Facts | None) -> Decision:
    after = step.get("after") or []
    if after and all(status.get(p) == SKIPPED for p in after):
        return Decision(step["key"], False, {"by": "no_branch_taken", "after": list(after)})
    facts = facts or Facts(data={})
    if step.get("default"):
        taken = [s["key"] for s in siblings(steps, step) if s.get("when") is None or holds(s["when"], facts)]
        return Decision(step["key"], not taken, {"by": "default", "taken": taken})
    if step.get("when") is not None:
        held = holds(step["when"], facts)
        return Decision(step["key"], held, {"by": "when", "when": step["when"], "held": held})
    return Decision(step["key"], True, None)


def ancestors(steps: list[dict]) -> dict[str, set[str]]:
    """Every step's ancestors (the steps it comes after, directly or not); tolerant of bad graphs."""
    after = {s["key"]: [p for p in (s.get("after") or []) if isinstance(p, str)] for s in steps}
    found: dict[str, set[str]] = {}

    def walk(key: str, seen: frozenset) -> set[str]:
        if key in found:
            return found[key]
        result: set[str] = set()
        for parent in after.get(key, []):
            if parent in seen or parent not in after:
                continue
            result |= {parent} | walk(parent, seen | {parent})
        found[key] = result
        return result

    for key in after:
        walk(key, frozenset({key}))
    return found


def descendants(steps: list[dict], key: str) -> set[str]:
    """The steps that come after `key`, directly or not."""
    return {k for k, above in ancestors(steps).items() if key in above}


def routing_errors(steps: list[dict], form: list[dict]) -> dict[str, list[str]]:
    """Save-time checks of conditions and default branches, by exact path."""
    errors: dict[str, list[str]] = {}
    above = ancestors(steps)
    by_key = {s["key"]: s for s in steps}
    fields = {f["name"]: f for f in form or []}
    for i, step in enumerate(steps):
        if step.get("when") is not None:
            earlier = {k: by_key[k] for k in sorted(above.get(step["key"], set())) if k in by_key}
            for path, messages in condition_errors(step["when"], f"steps.{i}.when", earlier=earlier, form=fields).items():
                errors.setdefault(path, []).extend(messages)
        if step.get("default"):
            if step.get("when") is not None:
                errors.setdefault(f"steps.{i}.default", []).append("a default branch has no condition of its own")
            others = siblings(steps, step)
            if not others:
                errors.setdefault(f"steps.{i}.default", []).append(
                    "a default branch needs sibling steps (steps with the same after) to be the other case of")
            elif any(s.get("default") for s in others if steps.index(s) < i):
                errors.setdefault(f"steps.{i}.default", []).append("at most one default among steps with the same after")
    return errors
