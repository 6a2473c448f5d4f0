"""A lead's team board (docs/design.md §16): who of their departments is on duty and why (their shift and until when,
their switch), their next shift, how much open work each holds (overdue among it, and per template against a
dispatched step's capacity), and the offers waiting for someone with room. Five set-based reads, whatever the team's
size."""
from datetime import datetime

from sqlalchemy import and_, case, func, select

from app.errors import Forbidden
from app.extensions import db
from app.flows.models import FlowTemplate
from app.org.duty import current_and_next, has_shifts, on_duty_at, shifts_near
from app.org.models import Department, User
from app.org.service import subtree_ids
from app.workorders.dispatch import WAITING
from app.workorders.models import Task, TaskCandidate, TaskStatus
from app.workorders.policy import lead_department_ids

# A board shows at most this many people (a department of thousands is read through the people directory).
MAX_PEOPLE = 500


def _departments(user: User, department_id: int | None) -> set[int]:
    """The departments a board shows: `department_id` and those below it, which the reader must lead (admins: any);
    by default every department the reader leads."""
    led = lead_department_ids(user)
    if department_id is None:
        if led:
            return led
        if user.has_role("admin"):
            return set(db.session.scalars(select(Department.id)))
        raise Forbidden("Only leads see a team board.", code="not_a_lead")
    wanted = subtree_ids(department_id)
    if not user.has_role("admin") and not wanted <= led:
        raise Forbidden("You do not lead this department.", code="not_your_department")
    return wanted


def _templates(keys: set[str]) -> dict[str, dict]:
    """Per template key, from its current version: its name, the largest capacity of its dispatched steps (None:
    none), and its steps' titles."""
    found = {}
    if keys:
        for key, name, steps in db.session.execute(select(FlowTemplate.key, FlowTemplate.name, FlowTemplate.steps)
                                                   .where(FlowTemplate.key.in_(sorted(keys)), FlowTemplate.is_current.is_(True))):
            limits = [s["capacity"] for s in steps or [] if s.get("capacity")]
            found[key] = {"name": name, "capacity": max(limits) if limits else None,
                          "titles": {s["key"]: s.get("title") or s["key"] for s in steps or []}}
    return found


def _template(templates: dict, key: str) -> dict:
    return templates.get(key) or {"name": key, "capacity": None, "titles": {}}


def _reason(*, on_duty: bool, switch: bool, has_shifts: bool) -> str:
    """Why someone is on or off duty by the one rule (app/org/duty.py)."""
    if on_duty:
        return "shift" if has_shifts else "switch"
    return "off_shift" if switch else "switched_off"


def _times(found):
    return {"starts_at": found[0], "ends_at": found[1]} if found else None


def team_board(*, user: User, department_id: int | None, now: datetime) -> dict:
    departments = _departments(user, department_id)
    people = db.session.execute(
        # On duty now by the one rule (their switch, and their shifts: app/org/duty.py).
        select(User.id, User.name, on_duty_at(now).label("on_duty"), User.on_duty.label("switch"),
               has_shifts().label("has_shifts"), User.department_id, Department.name.label("department"))
        .join(Department, Department.id == User.department_id)
        .where(User.active.is_(True), User.department_id.in_(sorted(departments)))
        .order_by(Department.name, User.name, User.id).limit(MAX_PEOPLE)
    ).all()
    ids = [p.id for p in people]
    near = shifts_near(ids, now)
    loads: dict[int, dict[str, list[int]]] = {}
    if ids:
        for assignee, key, count, overdue in db.session.execute(
            select(Task.assignee_id, Task.template_key, func.count(),
                   func.sum(case((and_(Task.due_at.is_not(None), Task.due_at < now), 1), else_=0)))
            .where(Task.assignee_id.in_(ids), Task.status == TaskStatus.CLAIMED.value)
            .group_by(Task.assignee_id, Task.template_key)
        ):
            loads.setdefault(assignee, {})[key] = [count, int(overdue or 0)]
    waiting_rows = db.session.execute(
        select(Task.template_key, Task.step, func.count(func.distinct(Task.id)))
        .join(TaskCandidate, TaskCandidate.task_id == Task.id)
        .where(WAITING, TaskCandidate.user_id.in_(ids or [0]))
        .group_by(Task.template_key, Task.step)
    ).all()
    keys = {k for by in loads.values() for k in by} | {row[0] for row in waiting_rows}
    templates = _templates(keys)
    board = []
    for p in people:
        mine = loads.get(p.id, {})
        current, upcoming = current_and_next(near.get(p.id, []), now)
        board.append({
            "id": p.id, "name": p.name, "on_duty": bool(p.on_duty), "switch": bool(p.switch),
            "duty_reason": _reason(on_duty=bool(p.on_duty), switch=bool(p.switch), has_shifts=bool(p.has_shifts)),
            "shift": _times(current), "next_shift": _times(upcoming),
            "department": {"id": p.department_id, "name": p.department},
            "open": sum(c for c, _ in mine.values()), "overdue": sum(o for _, o in mine.values()),
            "by_template": [{"template": key, "name": _template(templates, key)["name"], "open": count,
                             "capacity": _template(templates, key)["capacity"]}
                            for key, (count, _) in sorted(mine.items(), key=lambda kv: (-kv[1][0], kv[0]))],
        })
    waiting = [{"template": key, "name": _template(templates, key)["name"], "step": step,
                "step_title": _template(templates, key)["titles"].get(step, step), "count": count,
                "capacity": _template(templates, key)["capacity"]} for key, step, count in waiting_rows]
    return {"people": board, "on_duty": sum(1 for p in board if p["on_duty"]),
            "open": sum(p["open"] for p in board), "waiting": waiting, "truncated": len(people) == MAX_PEOPLE}
