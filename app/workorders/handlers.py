"""Who handles a step: the people an assignee spec names, and who stands in for those who are away.

Set-based, so that a step opening a thousand tasks, each with its own spec, resolves them all in a few queries.
"""
import functools
from datetime import datetime

from sqlalchemy import bindparam, select

from app.common.bulk import among_bound_ids, among_ids, dialect
from app.common.ids import MAX_ID
from app.extensions import db
from app.org.models import Department, GroupMember, User, UserRole
from app.workorders.models import WorkOrder
from app.org.lines import People


def _ids(values) -> set[int]:
    """The integer ids in a list taken from a spec (specs of for_each items come from data: anything may be there)."""
    if not isinstance(values, list):
        return set()
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ID}


@functools.cache
def _named_reads(dialect_name: str) -> dict:
    """The active people of groups, of departments and with roles, and which of some people are active: built once
    per dialect (building and keying a statement costs more than running it), the ids and roles bound."""
    active = User.active.is_(True)
    return {
        "groups": select(GroupMember.group_id, GroupMember.user_id).join(User, User.id == GroupMember.user_id)
        .where(among_bound_ids(GroupMember.group_id, "ids", dialect_name), active),
        "departments": select(User.department_id, User.id)
        .where(among_bound_ids(User.department_id, "ids", dialect_name), active),
        "roles": select(UserRole.role, User.department_id, UserRole.user_id).join(User, User.id == UserRole.user_id)
        .where(UserRole.role.in_(bindparam("roles", expanding=True)), active),
        "people": select(User.id).where(among_bound_ids(User.id, "ids", dialect_name), active),
    }


def resolve_specs(specs: list[dict | None], data: dict) -> list[list[int]]:
    """Active users named by each assignee spec (users, groups, departments, roles, from_data): a query per kind of reference."""
    parsed, groups, departments, roles = [], set(), set(), set()
    for spec in specs:
        spec = spec if isinstance(spec, dict) else {}
        users = _ids(spec.get("users"))
        own_roles = set()
        for role in spec.get("roles") if isinstance(spec.get("roles"), list) else []:
            if isinstance(role, dict) and isinstance(role.get("role"), str):
                department = role.get("department")
                if department is None or _ids([department]):
                    own_roles.add((role["role"], department))
        if isinstance(spec.get("from_data"), str):
            value = data.get(spec["from_data"])
            users |= _ids(value if isinstance(value, list) else [value])
        parsed.append((users, _ids(spec.get("groups")), _ids(spec.get("departments")), own_roles))
        groups |= parsed[-1][1]
        departments |= parsed[-1][2]
        roles |= own_roles
    # Only active people are named: each kind of reference reads its active members in one query, and people named
    # directly are checked in one more only when there are any.
    reads = _named_reads(dialect())
    in_group: dict[int, set[int]] = {}
    if groups:
        for group_id, user_id in db.session.execute(reads["groups"], {"ids": list(groups)}):
            in_group.setdefault(group_id, set()).add(user_id)
    in_department: dict[int, set[int]] = {}
    if departments:
        for department_id, user_id in db.session.execute(reads["departments"], {"ids": list(departments)}):
            in_department.setdefault(department_id, set()).add(user_id)
    with_role: dict[tuple[str, int | None], set[int]] = {}
    if roles:
        for role, department_id, user_id in db.session.execute(reads["roles"], {"roles": sorted({r for r, _ in roles})}):
            with_role.setdefault((role, None), set()).add(user_id)
            with_role.setdefault((role, department_id), set()).add(user_id)
    direct = {u for users, _, _, _ in parsed for u in users}
    active = set(db.session.scalars(reads["people"], {"ids": list(direct)})) if direct else set()
    named = []
    for users, own_groups, own_departments, own_roles in parsed:
        ids = users & active
        for group_id in own_groups:
            ids |= in_group.get(group_id, set())
        for department_id in own_departments:
            ids |= in_department.get(department_id, set())
        for key in own_roles:
            ids |= with_role.get(key, set())
        named.append(sorted(ids))
    return named


def resolve_spec(spec: dict | None, data: dict) -> list[int]:
    """Active users named by an assignee spec (users, groups, departments, roles, from_data)."""
    return resolve_specs([spec], data)[0]


def count_spec(spec: dict, *, now: datetime, sample: int = 20) -> dict:
    """Who an assignee spec names at `now`: {named, on_duty, handlers, people: the first `sample` {id, name, on_duty}}."""
    named = resolve_spec(spec, {})
    people = People(named, now=now)
    on_duty = [u for u in named if people.available(u)]
    handlers, _ = available_handlers_many([named], now)[0] if named else ([], {})
    first = named[:sample]
    names = {row.id: row.name for row in db.session.execute(select(User.id, User.name).where(among_ids(User.id, first)))} if first else {}
    return {"named": len(named), "on_duty": len(on_duty), "handlers": len(handlers),
            "people": [{"id": u, "name": names.get(u), "on_duty": people.available(u)} for u in first]}


def available_handlers_many(named: list[list[int]], now: datetime) -> list[tuple[list[int], dict[int, int]]]:
    """`available_handlers` for many lists of people at once, reading everyone's delegates and managers set-based."""
    people = People({u for ids in named for u in ids}, now=now)
    answers = []
    for user_ids in named:
        result, substitutions = set(), {}
        for user_id in dict.fromkeys(user_ids):
            if not people.exists(user_id):
                continue
            stand_in = people.stand_in(user_id)
            if stand_in is None:
                stand_in = next((m for m in people.chain(user_id, 10) if people.available(m)), None)
            if stand_in is None:
                continue
            if stand_in != user_id:
                substitutions[user_id] = stand_in
            result.add(stand_in)
        answers.append((sorted(result), substitutions))
    return answers


def available_handlers(user_ids: list[int], now: datetime) -> tuple[list[int], dict[int, int]]:
    """Replace people who are away at `now` by their stand-in (delegate, else the first available manager)."""
    if not user_ids:
        return [], {}
    return available_handlers_many([user_ids], now)[0]


def fallback_handlers(work_order: WorkOrder, now: datetime) -> list[int]:
    """Nobody's work waits on nobody: the owning department's head, else the creator — each through the same
    stand-in rule as any handler (their delegate, else the first available manager up their line)."""
    owners = []
    if work_order.department_id:
        head = db.session.scalar(select(Department.head_id).where(Department.id == work_order.department_id))
        if head:
            owners.append(head)
    if work_order.created_by_id:
        owners.append(work_order.created_by_id)
    for owner in owners:
        handlers, _ = available_handlers([owner], now)
        if handlers:
            return handlers
    return owners[:1]  # nobody at all is available: the work still has an owner to reach when someone is back
