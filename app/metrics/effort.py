"""The effort score (费力度, seed §6.1) and its admin-tunable weights.

Effort of one evaluated work order, in points:

    effort = contacts × A  +  wait_hours × B1  +  handling_hours × B2  +  unresolved × B3  +  returns × C

    A   contacts        the customer's contacts about the case (`contact_count`)
    B1  wait_hours      hours from opening to the first pick-up (first claim, or first completion of a task
                        nobody had to claim), by offline-truth time
    B2  handling_hours  hours from that first pick-up to the last completion
    B3  unresolved      1 when the QA resolution score is below 3 (3 is the pass mark), else 0
    C   returns         times the work was sent back a step (reverse flow)

Only work orders with a QA score are scored (B3 needs it). Overall effort follows the seed:

    overall = resolved share × mean effort of resolved + unresolved share × mean effort of unresolved

where "resolved" is score ≥ 3 and the shares are of scored work orders. The split is reported so
leads see what unresolved cases cost. Because the formula is linear, means are computed from
sums that the database adds up.
"""
from datetime import datetime

from app.extensions import db
from app.metrics.models import MetricSetting
from app.org.models import User

SETTING_KEY = "effort_weights"

DEFAULT_WEIGHTS = {
    "contacts": 1.0,
    "wait_hours": 0.5,
    "handling_hours": 0.1,
    "unresolved": 5.0,
    "returns": 2.0,
}

DESCRIPTIONS = {
    "contacts": "points per contact the customer made (A)",
    "wait_hours": "points per hour waited before the first pick-up (B1)",
    "handling_hours": "points per hour from first pick-up to last completion (B2)",
    "unresolved": "points when the QA score is below 3 (B3)",
    "returns": "points per return to a previous step (C)",
}

FORMULA = ("effort = contacts*A + wait_hours*B1 + handling_hours*B2 + unresolved*B3 + returns*C; "
           "overall = resolved_share*mean_resolved + (1-resolved_share)*mean_unresolved (resolved: QA score >= 3)")


def current_weights() -> dict:
    """The weights in force: the stored ones, else the documented defaults."""
    row = db.session.get(MetricSetting, SETTING_KEY)
    stored = row.value if row is not None else {}
    return {name: float(stored.get(name, default)) for name, default in DEFAULT_WEIGHTS.items()}


def weights_view() -> dict:
    row = db.session.get(MetricSetting, SETTING_KEY)
    return {
        "weights": current_weights(),
        "defaults": dict(DEFAULT_WEIGHTS),
        "descriptions": dict(DESCRIPTIONS),
        "formula": FORMULA,
        "updated_at": row.updated_at if row else None,
        "updated_by_id": row.updated_by_id if row else None,
    }


def set_weights(*, weights: dict, user: User, now: datetime) -> dict:
    """Replace the effort weights (admin); every summary uses them from now on, for past periods too."""
    row = db.session.get(MetricSetting, SETTING_KEY, with_for_update=True)
    if row is None:
        row = MetricSetting(key=SETTING_KEY)
        db.session.add(row)
    row.value = {name: float(weights[name]) for name in DEFAULT_WEIGHTS}
    row.updated_at = now
    row.updated_by_id = user.id
    db.session.commit()
    return weights_view()


def mean_effort(sums: dict, weights: dict) -> float | None:
    """Mean effort of a set of work orders from its sums (n, contacts, wait_s, handling_s, returns); None when empty."""
    n = sums["n"]
    if not n:
        return None
    total = (
        weights["contacts"] * sums["contacts"]
        + weights["wait_hours"] * sums["wait_s"] / 3600.0
        + weights["handling_hours"] * sums["handling_s"] / 3600.0
        + weights["returns"] * sums["returns"]
        + weights["unresolved"] * sums["unresolved"]
    )
    return total / n


def effort_figures(resolved: dict, unresolved: dict, weights: dict) -> dict:
    """Overall effort and its split; each argument holds the sums of one side (score ≥ 3, score < 3)."""
    n = resolved["n"] + unresolved["n"]
    mean_resolved = mean_effort({**resolved, "unresolved": 0}, weights)
    mean_unresolved = mean_effort({**unresolved, "unresolved": unresolved["n"]}, weights)
    if not n:
        return {"overall": None, "resolved_share": None, "scored": 0,
                "resolved": {"work_orders": 0, "mean": None}, "unresolved": {"work_orders": 0, "mean": None}}
    share = resolved["n"] / n
    overall = share * (mean_resolved or 0.0) + (1 - share) * (mean_unresolved or 0.0)
    return {
        "overall": overall,
        "resolved_share": share,
        "scored": n,
        "resolved": {"work_orders": resolved["n"], "mean": mean_resolved},
        "unresolved": {"work_orders": unresolved["n"], "mean": mean_unresolved},
    }
