"""Flow templates: create, read, list, and versioned edits."""
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update

from app.calendars.service import calendar_exists
from app.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.flows import diff
from app.flows.forms import ATTACHMENT_TYPES
from app.flows.graph import duration_errors, graph_errors
from app.flows.routing import routing_errors
from app.flows.models import FlowTemplate
from app.org.models import Department, Group, User


def _reference_errors(body: dict) -> dict[str, list[str]]:
    """Assignee specs must name users, groups and departments that exist."""
    wanted = {"users": set(), "groups": set(), "departments": set()}
    where: dict[tuple[str, int], list[str]] = {}
    for i, step in enumerate(body["steps"]):
        spec = step.get("assignees") or {}
        for kind in wanted:
            for ref in spec.get(kind) or []:
                wanted[kind].add(ref)
                where.setdefault((kind, ref), []).append(f"steps.{i}.assignees.{kind}")
        for j, role in enumerate(spec.get("roles") or []):
            if role.get("department") is not None:
                wanted["departments"].add(role["department"])
                where.setdefault(("departments", role["department"]), []).append(f"steps.{i}.assignees.roles.{j}")
    if body.get("owner_department_id") is not None:
        wanted["departments"].add(body["owner_department_id"])
        where.setdefault(("departments", body["owner_department_id"]), []).append("owner_department_id")
    models = {"users": User, "groups": Group, "departments": Department}
    errors: dict[str, list[str]] = {}
    for kind, ids in wanted.items():
        if not ids:
            continue
        model = models[kind]
        found = set(db.session.scalars(select(model.id).where(model.id.in_(ids), model.active.is_(True))))
        for missing in sorted(ids - found):
            for path in where[(kind, missing)]:
                errors.setdefault(path, []).append(f"{kind[:-1]} {missing} does not exist or is inactive")
    for i, step in enumerate(body["steps"]):
        if isinstance(step.get("sla_calendar"), int) and not calendar_exists(step["sla_calendar"]):
            errors.setdefault(f"steps.{i}.sla_calendar", []).append(f"calendar {step['sla_calendar']} does not exist")
    return errors


def _check(body: dict) -> None:
    errors = graph_errors(body["steps"])
    errors.update(duration_errors(body["steps"]))
    errors.update(_reference_errors(body))
    if not any(path.endswith((".key", ".after")) or path == "steps" for path in errors):  # routes need a sound graph
        for path, messages in routing_errors(body["steps"], body.get("form") or []).items():
            errors.setdefault(path, []).extend(messages)
    form_names = [f["name"] for f in body.get("form") or []]
    if len(set(form_names)) != len(form_names):
        errors.setdefault("form", []).append("field names must be distinct")
    for i, field in enumerate(body.get("form") or []):
        if field.get("type") == "attachment" and field.get("required"):
            # A work order's attachments are added after it is opened: its opening form can never hold one.
            errors.setdefault(f"form.{i}.required", []).append(
                "an attachment cannot be required when the work order is opened; ask for it in a step's form")
        elif field.get("type") in ATTACHMENT_TYPES and field.get("required"):
            errors.setdefault(f"form.{i}.required", []).append(
                f"a {field['type']} field cannot be required when the work order is opened; ask for it in a step's form")
        if field.get("must_match"):
            # The scan is checked against the work order when a step is completed; the opening form has no work order yet.
            errors.setdefault(f"form.{i}.must_match", []).append(
                "a barcode is checked against the work order when a step is completed; put it in a step's form")
    for i, step in enumerate(body["steps"]):
        names = [f["name"] for f in step.get("form") or []]
        if len(set(names)) != len(names):
            errors.setdefault(f"steps.{i}.form", []).append("field names must be distinct")
    if errors:
        raise Invalid("The template is not valid.", code="invalid_template", details=errors)


def check_template(*, body: dict) -> dict:
    """Check a draft exactly as publishing would, writing nothing (the designer's live validation)."""
    _check(body)
    return {"valid": True}


def get_template(*, key: str, version: int | None = None) -> FlowTemplate:
    """The current version of a template, or a given version."""
    stmt = select(FlowTemplate).where(FlowTemplate.key == key)
    stmt = stmt.where(FlowTemplate.version == version) if version else stmt.where(FlowTemplate.is_current.is_(True))
    template = db.session.scalar(stmt)
    if template is None:
        raise NotFound(f"No template {key!r}" + (f" version {version}." if version else "."))
    return template


def list_templates(*, include_inactive: bool = False):
    """Current versions of templates, as a select for pagination."""
    stmt = select(FlowTemplate).where(FlowTemplate.is_current.is_(True)).order_by(FlowTemplate.key)
    if not include_inactive:
        stmt = stmt.where(FlowTemplate.active.is_(True))
    return stmt


def create_template(*, body: dict, created_by: User | None, now: datetime, system: bool = False) -> FlowTemplate:
    """Create version 1 of a template after checking its graph and references (`system`: one Baton starts itself)."""
    if db.session.scalar(select(FlowTemplate.id).where(FlowTemplate.key == body["key"])):
        raise Conflict(f"Template {body['key']!r} exists; PUT /templates/{body['key']} makes a new version.", code="template_exists")
    _check(body)
    template = FlowTemplate(**_columns(body), key=body["key"], version=1, created_by_id=created_by.id if created_by else None, created_at=now,
                            system=system)
    db.session.add(template)
    db.session.commit()
    return template


def _columns(body: dict) -> dict:
    return {
        "name": body["name"],
        "description": body.get("description", ""),
        "priority": body.get("priority", "P3"),
        "classification": body.get("classification") or {},
        "owner_department_id": body.get("owner_department_id"),
        "form": body.get("form") or [],
        "steps": body["steps"],
    }


# Whether something runs on a template version: work orders (app.workorders registers its check), which this
# package, below them, does not know.
_usage_checks: list[Callable[[int], bool]] = []


def register_usage_check(check: Callable[[int], bool]) -> None:
    """`check(template_id)` says whether something runs on that template version (it must then be kept as it is)."""
    _usage_checks.append(check)


# How many running work orders a template version has (app.workorders registers it): what a publish leaves behind.
_running_counts: list[Callable[[int], int]] = []


def register_running_count(count: Callable[[int], int]) -> None:
    """`count(template_id)` says how many unfinished things run on that template version."""
    _running_counts.append(count)


def running_on(template_id: int) -> int:
    return sum(count(template_id) for count in _running_counts)


def replace_template(*, key: str, body: dict, created_by: User | None, now: datetime) -> FlowTemplate:
    """Edit a template: a new version when work orders already run on the current one, else in place."""
    current = get_template(key=key)
    _check(body)
    if not any(check(current.id) for check in _usage_checks):
        for field, value in _columns(body).items():
            setattr(current, field, value)
        db.session.commit()
        current.left_running = 0
        return current
    left_running = running_on(current.id)
    db.session.execute(update(FlowTemplate).where(FlowTemplate.key == key).values(is_current=False))
    template = FlowTemplate(
        **_columns(body), key=key, version=current.version + 1, created_by_id=created_by.id if created_by else None, created_at=now,
        system=current.system, active=current.active,
    )
    db.session.add(template)
    db.session.commit()
    template.left_running = left_running  # said in the answer: the work orders that stay on the version before
    return template


def template_diff(*, key: str, before: int | None, after: int | None) -> dict:
    """What changed from version `before` (default: the one before `after`) to `after` (default: the current one)."""
    newer = get_template(key=key, version=after)
    older = get_template(key=key, version=before if before else max(newer.version - 1, 1))
    return diff.template_diff(older, newer)


def set_template_active(*, key: str, active: bool) -> FlowTemplate:
    """Deactivate a template (no new work order opens on it; running ones carry on) or activate it again."""
    current = get_template(key=key)
    if not active and current.system:
        # Baton opens these itself (andon, recall, restock): without them those features stop.
        raise Conflict(f"Template {key!r} is a flow Baton opens itself; edit it to route it instead of deactivating it.",
                       code="system_template", details={"active": ["a system flow stays active"]})
    current.active = active
    db.session.commit()
    return current
