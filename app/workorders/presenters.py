"""Tasks as the API shows them: with their work order, step, candidates and people's names, in a few queries."""
from datetime import datetime
from zoneinfo import ZoneInfo
from typing import NamedTuple

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm.util import identity_key

from app.calendars.service import clock as calendar_clock
from app.extensions import db
from app.flows.timing import explain_due
from app.notify.messages import calendar_name
from app.flows.models import FlowTemplate
from app.flows.versions import HELD
from app.org.models import User
from app.org.service import people_named
from app.workorders import service
from app.flows.routing import ancestors
from app.workorders.models import REFERENCES, Attachment, Task, TaskCandidate, TaskStatus, WorkOrder, WorkOrderStep

class WorkOrderSummary(NamedTuple):
    """What an inbox item shows of its work order (WorkOrderSummarySchema), without loading the whole row."""

    id: int
    number: str
    title: str
    description: str
    priority: str
    status: str
    template_key: str
    template_id: int
    order_no: str | None
    customer_ref: str | None
    product_sku: str | None
    batch_no: str | None


def load_templates(ids: set[int]) -> dict[int, FlowTemplate]:
    """Template versions by id, read once per session (versions.held: a version work orders run on never changes)."""
    found = _by_id(FlowTemplate, ids)
    db.session().info.setdefault(HELD, {}).update(found)
    return found


def _by_id(model, ids: set[int]) -> dict:
    """Rows by id: those the session already holds, loaded and unexpired, as they are; the others in one query."""
    found, missing = {}, set()
    identity_map = db.session.identity_map
    for id_ in ids:
        obj = identity_map.get(identity_key(model, id_))
        if obj is not None and not inspect(obj).expired_attributes:
            found[id_] = obj
        else:
            missing.add(id_)
    if missing:
        found.update((row.id, row) for row in db.session.scalars(select(model).where(model.id.in_(missing))))
    return found


def present_task(task: Task, work_order: WorkOrder, template: FlowTemplate, now: datetime, candidates: list | None = None) -> dict:
    """A task as the API shows it, with what a phone needs to act on it."""
    step = template.step(task.step)
    view = {column: getattr(task, column) for column in TASK_FIELDS}
    view.update(
        step_title=step["title"],
        outcomes=step.get("outcomes") or ["done"],
        step_titles=step.get("titles") or {},
        outcome_labels=step.get("outcome_labels") or {},
        form=step.get("form") or [],
        allow_return=bool(step.get("allow_return")) and bool(step.get("after")),
        capacity=step.get("capacity") if task.dispatch else None,
        overdue=bool(task.due_at and task.due_at < now and task.status in (TaskStatus.OPEN, TaskStatus.CLAIMED)),
        work_order=work_order,
    )
    if candidates is not None:
        view["candidates"] = candidates
    return view


TASK_FIELDS = (
    "id", "work_order_id", "step", "mode", "dispatch", "status", "assignee_id", "due_at", "escalation_level", "priority",
    "instance", "instance_label", "created_at", "claimed_at", "completed_at", "completed_by_id", "outcome", "note",
    "data", "version", "device_time_untrusted", "claimed_effective_at", "completed_effective_at",
)


def present_one(task: Task, now: datetime) -> dict:
    """A single task with its work order, template step and candidates."""
    return present_many([task], now)[0]


_CANDIDATE_PEOPLE = (
    select(TaskCandidate.task_id, User.id, User.name, User.login).join(User, User.id == TaskCandidate.user_id)
    .where(TaskCandidate.task_id.in_(bindparam("task_ids", expanding=True))).order_by(TaskCandidate.user_id)
)


def present_many(tasks: list[Task], now: datetime) -> list[dict]:
    """Tasks with their work orders, steps, candidates and people's names, in a fixed number of queries."""
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    work_orders = _by_id(WorkOrder, {t.work_order_id for t in tasks})
    templates = load_templates({w.template_id for w in work_orders.values()})
    candidates: dict[int, list[int]] = {}
    people: dict[int, dict] = {}
    for task_id, user_id, name, login in db.session.execute(_CANDIDATE_PEOPLE, {"task_ids": ids}):
        candidates.setdefault(task_id, []).append(user_id)
        people[user_id] = {"id": user_id, "name": name, "login": login}
    people.update(people_named({t.assignee_id for t in tasks if t.assignee_id and t.assignee_id not in people}))
    views = []
    for task in tasks:
        work_order = work_orders[task.work_order_id]
        view = present_task(task, work_order, templates[work_order.template_id], now, candidates.get(task.id, []))
        view["assignee"] = people.get(task.assignee_id)
        view["candidate_people"] = [people[u] for u in candidates.get(task.id, []) if u in people]
        views.append(view)
    return views


# Keys of timeline details that hold a person's id: the answer names them (`people`), so nobody reads an id.
PEOPLE_IN_DETAILS = ("to_user", "from_user", "reassigned_to", "reassigned_from")


class WorkOrderView:
    """A work order as its reader sees it (WorkOrderDetailSchema): its columns, the first tasks they may see with
    their total and, on the detail, the timeline with people named and whatever higher packages add (the
    evaluation). A read model: the ORM row is read, never decorated."""

    def __init__(self, work_order: WorkOrder, *, tasks: list[dict], tasks_total: int, timeline: list[dict] | None = None,
                 parts: dict | None = None):
        self.work_order = work_order
        self.tasks = tasks
        self.tasks_total = tasks_total
        self.timeline = timeline or []
        self.parts = parts or {}

    def __getattr__(self, name):
        if name in self.parts:
            return self.parts[name]
        return getattr(self.work_order, name)


def work_order_view(*, user: User, work_order: WorkOrder, now: datetime, with_timeline: bool = True,
                    zone: str | None = None, link=None) -> WorkOrderView:
    """The work order `user` opened or asked for, as they may see it (due times explained in `zone`), in a fixed
    number of queries."""
    detail = service.work_order_detail(user=user, work_order=work_order, with_timeline=with_timeline, zone=zone)
    events = detail.pop("timeline")
    named = {e.actor_id for e in events} | {v for e in events for k, v in (e.details or {}).items()
                                             if k in PEOPLE_IN_DETAILS and isinstance(v, int)}
    people = people_named(named)
    timeline = [{"id": e.id, "kind": e.kind, "task_id": e.task_id, "actor_id": e.actor_id, "actor": people.get(e.actor_id),
                 "at": e.at, "occurred_at": e.occurred_at, "details": e.details,
                 "people": {str(v): people[v] for k, v in (e.details or {}).items()
                            if k in PEOPLE_IN_DETAILS and isinstance(v, int) and v in people}} for e in events]
    tasks, total = present_many(detail.pop("tasks"), now), detail.pop("tasks_total")
    if with_timeline:
        detail["attachments"] = attachments_of(work_order.id, link)
    return WorkOrderView(work_order, tasks=tasks, tasks_total=total, timeline=timeline, parts=detail)


def due_of(task: Task, reader: User, zone: str) -> dict:
    """`due_explained` and `calendar` of a task for its reader: why it is due when it is, in their language and zone."""
    work_order = db.session.get(WorkOrder, task.work_order_id)
    step = load_templates({work_order.template_id})[work_order.template_id].step(task.step)
    clock = calendar_clock(task.calendar_id) if task.calendar_id else None
    return {
        "due_explained": explain_due(step, task.created_at, reader.locale, ZoneInfo(zone), clock),
        "calendar": {"id": clock.calendar_id, "name": calendar_name(clock.key, clock.name, reader.locale)} if clock else None,
    }


def case_of(task: Task, link=None) -> dict:
    """What the handler of `task` needs to know of the case: the work order's references and data (with their
    form labels), and what the steps before this one found (outcome, note, data, who and when).

    The handler may see this much of the work order whatever tasks they hold: the work is theirs to do.
    """
    work_order = db.session.get(WorkOrder, task.work_order_id)
    template = load_templates({work_order.template_id})[work_order.template_id]
    refs = {k: getattr(work_order, k) for k in REFERENCES if getattr(work_order, k)}
    # The work order's data holds what its form asked and what steps added (a photo, findings): label each by the form
    # that declared it.
    data = _labelled(work_order.data, [*template.form, *(f for step in template.steps for f in step.get("form") or [])])
    before = ancestors(template.steps).get(task.step)
    steps = {s["key"]: s for s in template.steps}
    rows = db.session.execute(
        select(Task.step, Task.instance_label, Task.outcome, Task.note, Task.data, Task.completed_by_id, Task.completed_at)
        .join(WorkOrderStep, WorkOrderStep.id == Task.step_id)
        .where(Task.work_order_id == work_order.id, Task.activation == WorkOrderStep.activation,
               Task.status == TaskStatus.COMPLETED, Task.step.in_(before))
        .order_by(Task.completed_at, Task.id)).all() if before else []
    people = people_named({r.completed_by_id for r in rows})
    filled = [_labelled(row.data, steps[row.step].get("form")) for row in rows]
    # Photos, signatures and files named in the data become what to show, with the reader's view link (this work
    # order's only).
    files = _attachments({i for values in [data, *filled] for v in values for i in _attachment_ids(v)}, link, work_order_id=work_order.id)

    def shown(values: list[dict]) -> list[dict]:
        return [{**v, "value": _with_files(v, files)} for v in values]

    return {"refs": refs, "data": shown(data), "earlier": [{
        "step": row.step, "title": steps[row.step]["title"], "instance": row.instance_label, "outcome": row.outcome,
        "note": row.note, "completed_by": people.get(row.completed_by_id), "completed_at": row.completed_at,
        "data": shown(values),
        "attachments": [files[i] for i in dict.fromkeys(i for v in values for i in _attachment_ids(v)) if i in files],
    } for row, values in zip(rows, filled)]}


def task_detail(task: Task, now: datetime, link=None) -> dict:
    """A task as `GET /tasks/{id}` answers it: the task, its work order with references and data, the steps before it
    with their attachments (`previous`), and the same as `case`."""
    view, case = present_one(task, now), case_of(task, link)
    summary = view["work_order"]
    work_order = {**{field: getattr(summary, field) for field in WorkOrderSummary._fields}, "data": case["data"]}
    return {**view, "work_order": work_order, "previous": case["earlier"], "case": case}


def _labelled(values: dict | None, form: list[dict] | None) -> list[dict]:
    """Filled-in values with their form's label and type (None for a key the form does not declare); where several
    forms declare a name, the first one's."""
    fields: dict[str, dict] = {}
    for f in form or []:
        fields.setdefault(f["name"], f)
    return [{"name": name, "label": fields.get(name, {}).get("label"), "type": fields.get(name, {}).get("type"), "value": value}
            for name, value in (values or {}).items() if value not in (None, "", [], {})]


def _attachment_ids(value: dict) -> list[int]:
    """The attachment ids a labelled value holds: one for an attachment or a signature, several for photos."""
    found = value["value"]
    if value["type"] in ("attachment", "signature") and isinstance(found, int):
        return [found]
    if value["type"] == "photos" and isinstance(found, list):
        return [i for i in found if isinstance(i, int)]
    return []


def _with_files(value: dict, files: dict):
    """The value to show: attachments as {id, filename, content_type, …, view_url}, anything else as it is."""
    found = value["value"]
    if value["type"] in ("attachment", "signature") and isinstance(found, int):
        return files.get(found, found)
    if value["type"] == "photos" and isinstance(found, list):
        return [files.get(i, i) for i in found]
    return found


def _attachments(ids: set[int], link=None, *, work_order_id: int) -> dict:
    """{attachment id: {id, filename, content_type, size, task_id, created_at, view_url}} of a work order, in one query;
    `link` signs each reader's view link (None: no link)."""
    if not ids:
        return {}
    return {a.id: _attachment_ref(a, link) for a in db.session.scalars(
        select(Attachment).where(Attachment.id.in_(ids), Attachment.work_order_id == work_order_id))}


def _attachment_ref(a: Attachment, link) -> dict:
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size, "task_id": a.task_id,
            "created_at": a.created_at, "view_url": link(a.id) if link else None}


def attachments_of(work_order_id: int, link=None) -> list[dict]:
    """A work order's stored photos and files, oldest first, each with its reader's view link."""
    return [_attachment_ref(a, link) for a in db.session.scalars(
        select(Attachment).where(Attachment.work_order_id == work_order_id, Attachment.status == "stored").order_by(Attachment.id))]
