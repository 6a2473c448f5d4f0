"""QR entry points (docs/design.md §15): printed codes that open a prefilled new work order.

An admin keeps them (a shelf, a vehicle, a store counter), each naming a template and what a work order of it starts
with. The printed code is the admin's grant: any signed-in person who scans it may start that template, and only that
one, with the prefill under what they entered, as source `qr`. A withdrawn code answers 410 `entry_point_inactive`.
"""
import re
import secrets
from datetime import datetime

from sqlalchemy import select

from app.errors import DomainError, Invalid, NotFound
from app.extensions import db
from app.flows.forms import validate_values
from app.flows.models import FlowTemplate
from app.flows.service import get_template
from app.notify.messages import entry_point_url
from app.org.models import Department, User
from app.org.service import people_named
from app.workorders import service
from app.workorders.models import QrEntryPoint, WorkOrder

CODE_BYTES = 12  # 96 random bits, 16 characters
_CODE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
PREFILL_KEYS = ("title", "description", "priority", "location", "product_sku", "batch_no", "tags", "data")


class EntryPointGone(DomainError):
    """The printed code was withdrawn, or the template it starts was retired."""

    status = 410
    code = "entry_point_inactive"


def qr_url(*, origin: str, code: str) -> str:
    """What the QR encodes: the app at the entry point's route (its address is the catalogue's, like every link)."""
    return entry_point_url(origin=origin, code=code)


# -- keeping them (admins) ----------------------------------------------------------------------------------------

def list_entry_points(*, active: bool | None = None):
    """The select of entry points by name, for pagination."""
    stmt = select(QrEntryPoint).order_by(QrEntryPoint.name, QrEntryPoint.id)
    return stmt if active is None else stmt.where(QrEntryPoint.active.is_(active))


def get_entry_point(*, entry_point_id: int) -> QrEntryPoint:
    """One entry point, or NotFound."""
    entry_point = db.session.get(QrEntryPoint, entry_point_id)
    if entry_point is None:
        raise NotFound(f"Entry point {entry_point_id} does not exist.", code="entry_point_not_found")
    return entry_point


def entry_points_to_print(*, ids: list[int] | None, max_codes: int) -> list[QrEntryPoint]:
    """The entry points of a sheet, in the order asked (every active one without `ids`); withdrawn ones are refused,
    since their labels would only answer 410."""
    if not ids:
        every = list(db.session.scalars(list_entry_points(active=True)))
        if not every:
            raise Invalid("There is no active entry point to print.", details={"ids": ["no active entry point"]})
        if len(every) > max_codes:
            raise Invalid(f"More than {max_codes} entry points are active: choose which to print.",
                          details={"ids": [f"choose at most {max_codes}"]})
        return every
    found = {e.id: e for e in db.session.scalars(select(QrEntryPoint).where(QrEntryPoint.id.in_(set(ids))))}
    errors = {}
    for i, entry_point_id in enumerate(ids):
        if entry_point_id not in found:
            errors[f"ids.{i}"] = [f"entry point {entry_point_id} does not exist"]
        elif not found[entry_point_id].active:
            errors[f"ids.{i}"] = [f"entry point {entry_point_id} is withdrawn"]
    if errors:
        raise Invalid("Some of these entry points cannot be printed.", details=errors)
    return [found[i] for i in dict.fromkeys(ids)]


def _usable_template(key: str, field: str = "template") -> FlowTemplate:
    try:
        template = get_template(key=key)
    except NotFound:
        raise Invalid("Unknown template.", details={field: [f"no template {key!r}"]}) from None
    if not template.active:
        raise Invalid("This template is retired.", details={field: ["inactive"]})
    return template


def _prefill(given: dict) -> dict:
    """The stored form of a checked prefill: only what was given and is not empty."""
    return {k: given[k] for k in PREFILL_KEYS if given.get(k) not in (None, "", [], {})}


def _prefill_errors(template: FlowTemplate, prefill: dict) -> dict[str, list[str]]:
    """The prefill's mistakes against the template's form, by path. Only the values given are checked (the person
    scanning fills in the rest, and required fields are checked when they start it)."""
    fields = {f["name"]: f for f in template.form or []}
    data = prefill.get("data") or {}
    errors: dict[str, list[str]] = {}
    if prefill.get("location") and "location" in fields:
        errors["prefill.location"] = ["the template has its own `location` field: prefill it in `data`"]
    for name in data:
        if fields.get(name, {}).get("type") == "attachment":
            errors[f"prefill.data.{name}"] = ["an attachment belongs to one work order and cannot be prefilled"]
    given = [{**f, "required": False} for name, f in fields.items() if name in data]
    _, found = validate_values(given, data, prefix="prefill.data")
    for path, messages in found.items():
        errors.setdefault(path, []).extend(messages)
    return errors


def _check(*, template: FlowTemplate, prefill: dict, department_id: int | None) -> None:
    errors = _prefill_errors(template, prefill)
    if department_id is not None:
        department = db.session.get(Department, department_id)
        if department is None or not department.active:
            errors["department_id"] = [f"department {department_id} does not exist or is inactive"]
    if errors:
        raise Invalid("The entry point is not valid.", details=errors)


def create_entry_point(*, body: dict, created_by: User, now: datetime) -> QrEntryPoint:
    """Create an entry point with a new random code."""
    template = _usable_template(body["template"])
    prefill = _prefill(body.get("prefill") or {})
    _check(template=template, prefill=prefill, department_id=body.get("department_id"))
    entry_point = QrEntryPoint(code=secrets.token_urlsafe(CODE_BYTES), name=body["name"], template_key=template.key,
                               prefill=prefill, department_id=body.get("department_id"), active=True,
                               created_by_id=created_by.id, created_at=now, updated_at=now)
    db.session.add(entry_point)
    db.session.commit()
    return entry_point


def update_entry_point(*, entry_point_id: int, changes: dict, now: datetime) -> QrEntryPoint:
    """Change an entry point; the code stays, so printed labels keep working (or stop, with `active: false`)."""
    entry_point = get_entry_point(entry_point_id=entry_point_id)
    key = changes.get("template", entry_point.template_key)
    prefill = _prefill(changes["prefill"]) if "prefill" in changes else entry_point.prefill or {}
    department_id = changes["department_id"] if "department_id" in changes else entry_point.department_id
    active = changes.get("active", entry_point.active)
    if active and ({"template", "prefill", "department_id"} & set(changes) or not entry_point.active):
        # What a scan would start is checked again; a withdrawn one may keep what no longer fits.
        _check(template=_usable_template(key), prefill=prefill,
               department_id=department_id if "department_id" in changes else None)
    entry_point.name = changes.get("name", entry_point.name)
    entry_point.template_key, entry_point.prefill = key, prefill
    entry_point.department_id, entry_point.active = department_id, active
    entry_point.updated_at = now
    db.session.commit()
    return entry_point


def describe(entry_points: list[QrEntryPoint], *, origin: str) -> list[dict]:
    """Entry points as an admin reads them: with their URL, their template's title and who made them."""
    keys = {e.template_key for e in entry_points}
    names = {key: name for key, name in db.session.execute(select(FlowTemplate.key, FlowTemplate.name).where(
        FlowTemplate.key.in_(keys), FlowTemplate.is_current.is_(True), FlowTemplate.active.is_(True)))} if keys else {}
    people = people_named(e.created_by_id for e in entry_points)
    return [{
        "id": e.id, "name": e.name, "template": e.template_key, "template_name": names.get(e.template_key),
        "prefill": e.prefill or {}, "department_id": e.department_id, "active": e.active, "code": e.code,
        "url": qr_url(origin=origin, code=e.code), "created_by": people.get(e.created_by_id),
        "created_at": e.created_at, "updated_at": e.updated_at,
    } for e in entry_points]


# -- scanning (anyone signed in) ----------------------------------------------------------------------------------

def scanned(*, code: str) -> tuple[QrEntryPoint, FlowTemplate]:
    """The entry point a code names and the template it starts; 404 for no such code, 410 when withdrawn."""
    entry_point = db.session.scalar(select(QrEntryPoint).where(QrEntryPoint.code == code)) if _CODE.match(code) else None
    if entry_point is None:
        raise NotFound("No entry point has this code.", code="entry_point_not_found")
    if not entry_point.active:
        raise EntryPointGone("This QR code was withdrawn by an administrator.")
    template = db.session.scalar(select(FlowTemplate).where(FlowTemplate.key == entry_point.template_key,
                                                            FlowTemplate.is_current.is_(True)))
    if template is None or not template.active:
        raise EntryPointGone("The flow this QR code starts was retired.", code="entry_point_template_retired")
    return entry_point, template


def scan(*, code: str) -> dict:
    """What a scanned code opens: the entry point's name, its template (title and form) and the prefill."""
    entry_point, template = scanned(code=code)
    return {"name": entry_point.name, "code": entry_point.code, "prefill": entry_point.prefill or {},
            "department_id": entry_point.department_id,
            "template": {"key": template.key, "name": template.name, "description": template.description,
                         "priority": template.priority, "form": template.form or []}}


def start_from_entry_point(*, code: str, body: dict, user: User, now: datetime, tz: str) -> WorkOrder:
    """Open a work order from a scanned code: its template, its prefill under what the person entered, source `qr`,
    in the entry point's department (else the person's)."""
    entry_point, template = scanned(code=code)
    prefill = entry_point.prefill or {}
    title = (body.get("title") or "").strip() or prefill.get("title")
    if not title:
        raise Invalid("The work order needs a title.", details={"title": ["required: this entry point gives none"]})
    data = {"location": prefill["location"]} if prefill.get("location") else {}
    data.update(prefill.get("data") or {})
    data.update(body.get("data") or {})
    order = {
        "template": template.key, "title": title, "source": "qr",
        "description": body.get("description") or prefill.get("description") or "",
        "priority": prefill.get("priority"), "tags": prefill.get("tags") or [],
        "product_sku": body.get("product_sku") or prefill.get("product_sku"),
        "batch_no": body.get("batch_no") or prefill.get("batch_no"), "data": data,
    }
    return service.create_work_order(body=order, created_by=user, department_id=entry_point.department_id or user.department_id,
                                     now=now, tz=tz, source_default="qr")
