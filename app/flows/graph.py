"""The step graph of a template: validation (DAG, references, keys) and navigation."""
import re
from datetime import datetime, timedelta

from graphlib import CycleError, TopologicalSorter

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


# The longest duration a template may name (SLA, reminder lead, escalation interval): a year, leap day included.
# Every due time and timer is then at most a few years ahead, far from the end of the calendar.
MAX_DURATION = timedelta(days=366)
MAX_DURATION_TEXT = "P366D"


def measure_duration(value: str) -> timedelta:
    """The exact length of an ISO 8601 duration of fixed length (weeks, days, hours, minutes, seconds): PT30M, PT2S, P1DT4H.

    Raises ValueError when `value` is not such a duration; a length beyond what a timedelta holds answers
    `timedelta.max` (too long either way), never an OverflowError.
    """
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 duration such as PT30M")
    match = _DURATION.match(value.strip().upper())
    if not match or value.strip().upper().endswith("T"):
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as PT30M, PT2S or P1DT4H (years and months are not fixed lengths)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    try:
        duration = timedelta(**parts)
    except OverflowError:
        return timedelta.max
    if duration <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return duration


def parse_duration(value: str) -> timedelta:
    """A template duration as the engine uses it: `measure_duration`, never longer than MAX_DURATION.

    Templates are refused on save when a duration is longer (`duration_errors`); one stored before that rule
    (or written around it) still computes due times and timers a year ahead at most, instead of overflowing.
    """
    return min(measure_duration(value), MAX_DURATION)


def later(start: datetime, duration: timedelta) -> datetime:
    """`start + duration`, or the last representable moment when that is past the end of the calendar."""
    try:
        return start + duration
    except OverflowError:
        return datetime.max.replace(tzinfo=start.tzinfo)


def duration_errors(steps: list[dict]) -> dict[str, list[str]]:
    """Durations longer than MAX_DURATION, keyed by the field path to blame (steps.0.sla, steps.0.escalation.interval)."""
    errors: dict[str, list[str]] = {}
    too_long = f"must be at most {MAX_DURATION.days} days ({MAX_DURATION_TEXT})"
    for i, step in enumerate(steps):
        fields = {"sla": step.get("sla"), "remind_before": step.get("remind_before"),
                  "escalation.interval": (step.get("escalation") or {}).get("interval")}
        for path, value in fields.items():
            if value and measure_duration(value) > MAX_DURATION:
                errors[f"steps.{i}.{path}"] = [f"{value!r} is too long: {too_long}"]
    return errors


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
