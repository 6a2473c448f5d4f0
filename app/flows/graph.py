"""The step graph of a template: validation (DAG, references, keys) and navigation."""
import re
from datetime import timedelta

from graphlib import CycleError, TopologicalSorter

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta:
    """An ISO 8601 duration of fixed length (weeks, days, hours, minutes, seconds): PT30M, PT2S, P1DT4H."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 duration such as PT30M")
    match = _DURATION.match(value.strip().upper())
    if not match or value.strip().upper().endswith("T"):
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as PT30M, PT2S or P1DT4H (years and months are not fixed lengths)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return duration


def graph_errors(steps: list[dict]) -> dict[str, list[str]]:
    """Duplicate keys, dangling `after` references and cycles, keyed by the field path to blame."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        key = step["key"]
        if key in seen:
            errors.setdefault(f"steps.{i}.key", []).append(f"duplicate step key {key!r} (also step {seen[key]})")
        else:
            seen[key] = i
    for i, step in enumerate(steps):
        for ref in step.get("after") or []:
            if ref not in seen:
                errors.setdefault(f"steps.{i}.after", []).append(f"unknown step {ref!r}")
            elif ref == step["key"]:
                errors.setdefault(f"steps.{i}.after", []).append("a step cannot come after itself")
    if errors:
        return errors
    sorter = TopologicalSorter({s["key"]: set(s.get("after") or []) for s in steps})
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = exc.args[1]
        errors["steps"] = [f"the steps form a cycle: {' -> '.join(cycle)}"]
    return errors


def roots(steps: list[dict]) -> list[str]:
    """Steps with no predecessor: they start with the work order."""
    return [s["key"] for s in steps if not s.get("after")]


def successors(steps: list[dict], key: str) -> list[str]:
    """Steps that name `key` among their predecessors."""
    return [s["key"] for s in steps if key in (s.get("after") or [])]
