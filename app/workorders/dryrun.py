"""The dry run of a template (docs/design.md §11): which steps a work order would start or skip, who would be
offered each, and when each would be due, with nothing written.

The same rules as a real work order: the router (flows.routing) decides, the activation planner names the
candidates (with stand-ins for people who are away), flows.timing gives due times. A started step is taken as
completed at its due time (or at once without an SLA) with the outcome given, else its first outcome, and the
completion data given, so the steps after it are planned too.
"""
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.common.bulk import among_ids
from app.errors import Invalid
from app.extensions import db
from app.flows.conditions import Facts
from app.flows.forms import validate_values
from app.flows.models import FlowTemplate
from app.flows.service import check_template
from app.flows.routing import COMPLETED, PENDING, SKIPPED, route
from app.flows.timing import due_at, explain_due
from app.org.models import Department, User
from app.workorders.planner import ActivationPlanner


def dry_run(*, template: FlowTemplate, user: User, data: dict, outcomes: dict, step_data: dict, start_at: datetime,
            department_id: int | None, zone: str) -> dict:
    """{"steps": [{key, title, status: started|skipped|not_reached, reason, outcome, candidates, started_at, due_at,
    due_explained}]}, in the order the steps would be decided (started or skipped), the steps never reached last."""
    data, step_values = _checked(template, data, outcomes, step_data, department_id)
    reader_zone = ZoneInfo(zone)
    status = {s["key"]: PENDING for s in template.steps}
    finished_at: dict[str, datetime] = {}
    facts = Facts(data=dict(data))
    work_order = SimpleNamespace(data=facts.data, department_id=department_id or template.owner_department_id, created_by_id=user.id)
    planner = ActivationPlanner(now=start_at)
    answer = []
    while True:
        decisions = route(template.steps, status, facts)
        if not decisions:
            break
        for decision in decisions:
            step = template.step(decision.key)
            if not decision.start:
                status[step["key"]] = SKIPPED
                answer.append(_entry(step, "skipped", reason=decision.reason))
                continue
            started = max((finished_at[p] for p in step.get("after") or [] if status[p] == COMPLETED), default=start_at)
            clock = planner.clock(step, work_order.department_id)
            due = due_at(step, started, clock)
            planned = planner.plan(work_order=work_order, step=step)
            outcome = outcomes.get(step["key"]) or (step.get("outcomes") or ["done"])[0]
            values = step_values.get(step["key"]) or {}
            status[step["key"]] = COMPLETED
            finished_at[step["key"]] = due or started
            facts.outcomes[step["key"]] = [outcome] * max(len(planned), 1)
            facts.step_data[step["key"]] = [values]
            if step.get("mode") != "each" and values:
                facts.data.update(values)
            answer.append(_entry(step, "started", reason=decision.reason, outcome=outcome,
                                 candidates=sorted({u for p in planned for u in p.members}), started_at=started, due_at=due,
                                 due_explained=explain_due(step, started, user.locale, reader_zone, clock)))
    answer.extend(_entry(s, "not_reached") for s in template.steps if status[s["key"]] == PENDING)
    named = sorted({u for entry in answer for u in entry["candidates"]})
    people = [{"id": i, "name": n} for i, n in db.session.execute(select(User.id, User.name).where(among_ids(User.id, named)).order_by(User.id))] \
        if named else []
    return {"template": template.key, "version": template.version, "steps": answer, "people": people}


def draft_template(*, key: str, body: dict) -> FlowTemplate:
    """A template body not published (yet), checked as publishing checks it, as a template the dry run can read; never
    added to the session. Its version is null."""
    if body["key"] != key:
        raise Invalid("The draft's key must be the template's.", details={"template.key": [f"must be {key!r}"]})
    try:
        check_template(body=body)
    except Invalid as exc:
        exc.details = {f"template.{path}": messages for path, messages in (exc.details or {}).items()}
        raise
    return FlowTemplate(key=key, version=None, name=body["name"], form=body.get("form") or [], steps=body["steps"],
                        owner_department_id=body.get("owner_department_id"))


def _entry(step: dict, status: str, **known) -> dict:
    """One step of the answer: what is not known of it (a skipped step has no due time) is null."""
    return {"key": step["key"], "title": step["title"], "status": status, "reason": None, "outcome": None, "candidates": [],
            "started_at": None, "due_at": None, "due_explained": None, **known}


def _checked(template: FlowTemplate, data: dict, outcomes: dict, step_data: dict, department_id: int | None) -> tuple[dict, dict]:
    """The sample data, outcomes and completion data checked as a real work order would check them (422, exact paths)."""
    clean, errors = validate_values(template.form, data)
    if department_id is not None and db.session.scalar(
            select(Department.id).where(Department.id == department_id, Department.active.is_(True))) is None:
        errors["department_id"] = [f"department {department_id} does not exist or is inactive"]
    steps = {s["key"]: s for s in template.steps}
    for key, outcome in outcomes.items():
        if key not in steps:
            errors.setdefault(f"outcomes.{key}", []).append("no such step")
        elif outcome not in (steps[key].get("outcomes") or ["done"]):
            errors.setdefault(f"outcomes.{key}", []).append(f"must be one of {steps[key].get('outcomes') or ['done']}")
    values = {}
    for key, given in step_data.items():
        if key not in steps:
            errors.setdefault(f"step_data.{key}", []).append("no such step")
            continue
        values[key], problems = validate_values(steps[key].get("form") or [], given, prefix=f"step_data.{key}")
        errors.update(problems)
    if errors:
        raise Invalid("The sample is not valid for this template.", details=errors)
    return clean, values
