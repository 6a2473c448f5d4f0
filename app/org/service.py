"""Organisation rules: the department tree, reporting lines, groups, availability."""
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select

from app.calendars.service import calendar_exists
from app.common.clock import utcnow
from app.org.passwords import hash_password, password_problems
from app.common.text import LIKE_ESCAPE, like_pattern
from app.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.org.duty import is_on_duty, shift_of
from app.org.models import Department, Group, GroupMember, User, UserPermission, UserRole

_UNSET = object()


def get_department(*, department_id: int) -> Department:
    """Get one department or NotFound."""
    dept = db.session.get(Department, department_id)
    if dept is None:
        raise NotFound("No such department.")
    return dept


def get_user(*, user_id: int) -> User:
    """Get one user or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def find_person(reference: int | str) -> User | None:
    """The person an id or a login (any case) names, active or not; None when nobody does."""
    if isinstance(reference, int):
        return db.session.get(User, reference)
    return db.session.scalar(select(User).where(func.lower(User.login) == reference.lower()))


def people_named(user_ids) -> dict[int, dict]:
    """{id: {id, name, login}}, the person reference of every answer (PersonRefSchema), in one query."""
    user_ids = {u for u in user_ids if u}
    if not user_ids:
        return {}
    return {u.id: {"id": u.id, "name": u.name, "login": u.login}
            for u in db.session.execute(select(User.id, User.name, User.login).where(User.id.in_(user_ids)))}


def _require_department(field: str, department_id: int | None) -> None:
    if department_id is None:
        return
    dept = db.session.get(Department, department_id)
    if dept is None or not dept.active:
        raise Invalid("Unknown department.", details={field: [f"department {department_id} does not exist or is inactive"]})


def _require_user(field: str, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise Invalid("Unknown user.", details={field: [f"user {user_id} does not exist or is inactive"]})
    return user


def _department_parents() -> dict[int, int | None]:
    return dict(db.session.execute(select(Department.id, Department.parent_id)).all())


def _require_calendar(calendar_id: int | None) -> None:
    if calendar_id is not None and not calendar_exists(calendar_id):
        raise Invalid("Unknown calendar.", details={"calendar_id": [f"calendar {calendar_id} does not exist"]})


def create_department(*, code: str, name: str, kind: str = "", parent_id: int | None = None, head_id: int | None = None,
                      calendar_id: int | None = None) -> Department:
    """Create a department under an existing parent (or at the root)."""
    if db.session.scalar(select(Department.id).where(Department.code == code)):
        raise Conflict(f"Department code {code} is taken.", code="code_taken", details={"code": ["already in use"]})
    _require_department("parent_id", parent_id)
    _require_user("head_id", head_id)
    _require_calendar(calendar_id)
    dept = Department(code=code, name=name, kind=kind, parent_id=parent_id, head_id=head_id, calendar_id=calendar_id)
    db.session.add(dept)
    db.session.commit()
    return dept


def update_department(*, department_id: int, changes: dict) -> Department:
    """Change a department; the tree may never get a cycle or an orphan."""
    dept = get_department(department_id=department_id)
    if "code" in changes and changes["code"] != dept.code:
        if db.session.scalar(select(Department.id).where(Department.code == changes["code"])):
            raise Conflict(f"Department code {changes['code']} is taken.", code="code_taken", details={"code": ["already in use"]})
    if "parent_id" in changes and changes["parent_id"] != dept.parent_id:
        new_parent = changes["parent_id"]
        _require_department("parent_id", new_parent)
        parents = _department_parents()
        node = new_parent
        while node is not None:
            if node == dept.id:
                raise Invalid("A department cannot sit under itself.", code="department_cycle", details={"parent_id": ["would create a cycle"]})
            node = parents.get(node)
    if "head_id" in changes:
        _require_user("head_id", changes["head_id"])
    if "calendar_id" in changes:
        _require_calendar(changes["calendar_id"])
    if changes.get("active") is False and dept.active:
        children = db.session.scalar(
            select(func.count()).select_from(Department).where(Department.parent_id == dept.id, Department.active.is_(True))
        )
        members = db.session.scalar(
            select(func.count()).select_from(User).where(User.department_id == dept.id, User.active.is_(True))
        )
        if children or members:
            raise Invalid(
                "Move or deactivate its sub-departments and people first.",
                code="department_not_empty",
                details={"active": [f"{children} active sub-departments and {members} active people would be orphaned"]},
            )
    for field in ("code", "name", "kind", "parent_id", "head_id", "calendar_id", "active"):
        if field in changes:
            setattr(dept, field, changes[field])
    db.session.commit()
    return dept


def reader_zone(quiet_hours: dict | None, business_zone: str) -> str:
    """The time zone a person reads times in: the one of their quiet hours, else the business's."""
    return (quiet_hours or {}).get("timezone") or business_zone


def department_calendars() -> dict[int | None, int | None]:
    """{department id: the calendar it works to}, for every department: its own, else its nearest ancestor's, else
    None (24x7); one read of the tree."""
    rows = db.session.execute(select(Department.id, Department.parent_id, Department.calendar_id)).all()
    parents = {dept_id: parent_id for dept_id, parent_id, _ in rows}
    own = {dept_id: calendar_id for dept_id, _, calendar_id in rows}
    answer: dict[int | None, int | None] = {None: None}
    for dept_id in own:
        node, seen = dept_id, set()
        while node is not None and own.get(node) is None and node not in seen:
            seen.add(node)
            node = parents.get(node)
        answer[dept_id] = own.get(node) if node is not None else None
    return answer


def list_departments():
    """All departments, as a select for pagination."""
    return select(Department).order_by(Department.id)


def subtree_ids(department_id: int) -> set[int]:
    """The department and every department below it."""
    children: dict[int | None, list[int]] = {}
    for dept_id, parent_id in _department_parents().items():
        children.setdefault(parent_id, []).append(dept_id)
    found, stack = set(), [department_id]
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found.add(node)
        stack.extend(children.get(node, []))
    return found


def _check_manager(user_id: int | None, manager_id: int | None) -> None:
    if manager_id is None:
        return
    manager = _require_user("manager_id", manager_id)
    if user_id is None:
        return
    node, seen = manager, set()
    while node is not None and node.id not in seen:
        if node.id == user_id:
            raise Invalid("A reporting line cannot loop.", code="manager_cycle", details={"manager_id": ["would create a reporting cycle"]})
        seen.add(node.id)
        node = db.session.get(User, node.manager_id) if node.manager_id else None


def _require_usable_password(password: str, *, login: str, name: str | None) -> None:
    problems = password_problems(password, user_inputs=(login, name or ""))
    if problems:
        raise Invalid("This password cannot be used.", code="weak_password", details={"password": problems})


def _set_grants(user: User, roles: list[str] | None, permissions: list[str] | None) -> None:
    if roles is not None:
        user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    if permissions is not None:
        user.permission_rows = [UserPermission(permission=p) for p in sorted(set(permissions))]


#: A person's user ids on the chat channels (docs/design.md §14; the phone is the SMS channel's).
CHANNEL_IDENTITIES = ("dingtalk_userid", "wecom_userid", "feishu_user_id")


def create_user(
    *,
    login: str,
    password: str,
    name: str,
    department_id: int | None = None,
    manager_id: int | None = None,
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    locale: str = "zh-CN",
    phone: str | None = None,
    email: str | None = None,
    dingtalk_userid: str | None = None,
    wecom_userid: str | None = None,
    feishu_user_id: str | None = None,
) -> User:
    """Create a person with a hashed password, roles and grants."""
    if db.session.scalar(select(User.id).where(func.lower(User.login) == login.lower())):
        raise Conflict(f"Login {login} is taken.", code="login_taken", details={"login": ["already in use"]})
    _require_usable_password(password, login=login, name=name)
    _require_department("department_id", department_id)
    _check_manager(None, manager_id)
    user = User(
        login=login,
        name=name,
        password_hash=hash_password(password),
        department_id=department_id,
        manager_id=manager_id,
        locale=locale,
        phone=phone,
        email=email,
        dingtalk_userid=dingtalk_userid or None,
        wecom_userid=wecom_userid or None,
        feishu_user_id=feishu_user_id or None,
    )
    _set_grants(user, roles if roles is not None else ["staff"], permissions or [])
    db.session.add(user)
    db.session.commit()
    return user


# What must happen when someone is deactivated, in the same transaction (the work-order layer registers handing
# their work back); each hook answers how many tasks it moved.
_deactivation_hooks: list[Callable[[int, datetime, int | None], int]] = []


def register_deactivation_hook(hook: Callable[[int, datetime, int | None], int]) -> None:
    """`hook(user_id, now, actor_id)` runs when a person is deactivated, after they are marked inactive."""
    _deactivation_hooks.append(hook)


def update_user(*, user_id: int, changes: dict, actor_id: int | None = None, now: datetime | None = None) -> User:
    """Change a person; deactivation and password changes end their sessions at once, and deactivation hands
    their work back (`user.handed_back` says how many tasks moved)."""
    user = get_user(user_id=user_id)
    if "department_id" in changes:
        _require_department("department_id", changes["department_id"])
        user.department_id = changes["department_id"]
    if "manager_id" in changes:
        _check_manager(user.id, changes["manager_id"])
        user.manager_id = changes["manager_id"]
    if "password" in changes:
        _require_usable_password(changes["password"], login=user.login, name=changes.get("name", user.name))
        user.password_hash = hash_password(changes["password"])
        user.session_version += 1
    leaving = "active" in changes and changes["active"] is False and user.active
    if "active" in changes and changes["active"] != user.active:
        user.active = changes["active"]
        user.session_version += 1
    for field in ("name", "locale", "phone", "email"):
        if field in changes:
            setattr(user, field, changes[field])
    for field in CHANNEL_IDENTITIES:  # an empty text clears, like null
        if field in changes:
            setattr(user, field, changes[field] or None)
    _set_grants(user, changes.get("roles"), changes.get("permissions"))
    handed_back = 0
    if leaving:
        db.session.flush()
        handed_back = sum(hook(user.id, now or utcnow(), actor_id) for hook in _deactivation_hooks)
    db.session.commit()
    user.handed_back = handed_back if leaving else None
    return user


def set_password_or_create_admin(*, login: str, password: str, name: str | None = None) -> tuple[User, bool]:
    """Create an admin, or reset an existing user's password and make them admin."""
    user = db.session.scalar(select(User).where(func.lower(User.login) == login.lower()))
    if user is None:
        return create_user(login=login, password=password, name=name or login, roles=["admin"]), True
    roles = set(user.roles) | {"admin"}
    return update_user(user_id=user.id, changes={"password": password, "roles": sorted(roles), "active": True}), False


def find_people(*, q: str, limit: int = 20) -> list[dict]:
    """Active people whose name or login contains `q` (case-insensitive), those starting with it first."""
    pattern = like_pattern(q.lower())
    name, login = func.lower(User.name), func.lower(User.login)
    starts = like_pattern(q.lower()).lstrip("%")
    rows = db.session.execute(
        select(User.id, User.name, User.login, Department.name).outerjoin(Department, Department.id == User.department_id)
        .where(User.active.is_(True), name.like(pattern, escape=LIKE_ESCAPE) | login.like(pattern, escape=LIKE_ESCAPE))
        .order_by((name.like(starts, escape=LIKE_ESCAPE) | login.like(starts, escape=LIKE_ESCAPE)).desc(), User.name, User.id)
        .limit(limit)).all()
    return [{"id": i, "name": n, "login": lg, "department": d} for i, n, lg, d in rows]


def list_users(*, department_id: int | None = None, role: str | None = None, active: bool | None = None, q: str | None = None):
    """Users matching filters, as a select for pagination."""
    stmt = select(User).order_by(User.id)
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if role is not None:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if q:
        pattern = like_pattern(q.lower())
        stmt = stmt.where(func.lower(User.login).like(pattern, escape=LIKE_ESCAPE) | func.lower(User.name).like(pattern, escape=LIKE_ESCAPE))
    return stmt


class MeView:
    """The signed-in person as /me answers it (MeSchema): a read model over the row, with their stand-in named."""

    def __init__(self, user: User, now: datetime | None = None):
        self.user = user
        self.delegate = people_named([user.delegate_id]).get(user.delegate_id) if user.delegate_id else None
        # On duty now by the one rule (their switch and their shifts), and the shift that says so or comes next.
        now = now or utcnow()
        self.on_duty_now = is_on_duty(user.id, now)
        found = shift_of(user.id, now)
        self.shift = {"starts_at": found[0], "ends_at": found[1]} if found else None

    def __getattr__(self, name):
        return getattr(self.user, name)


def update_me(*, user: User, changes: dict, now: datetime) -> User:
    """Availability and preferences of the signed-in person."""
    if changes.get("delegate_id") is not None:  # named by id or by login
        stand_in = find_person(changes["delegate_id"])
        if stand_in is None or not stand_in.active:
            raise Invalid("Unknown user.", details={"delegate_id": [f"{changes['delegate_id']} does not exist or is inactive"]})
        if stand_in.id == user.id:
            raise Invalid("You cannot delegate to yourself.", details={"delegate_id": ["must be someone else"]})
        changes = {**changes, "delegate_id": stand_in.id}
    if "on_duty" in changes and changes["on_duty"] != user.on_duty:
        user.off_duty_since = None if changes["on_duty"] else now  # the job hands back what they hold after a while
    for field in ("on_duty", "delegate_id", "locale", "quiet_hours"):
        if field in changes:
            setattr(user, field, changes[field])
    for field in ("phone", *CHANNEL_IDENTITIES):
        if field in changes:
            setattr(user, field, changes[field] or None)
    db.session.commit()
    return MeView(user, now)


def _check_members(members: list[int]) -> None:
    if not members:
        return
    found = set(db.session.scalars(select(User.id).where(User.id.in_(members), User.active.is_(True))))
    missing = sorted(set(members) - found)
    if missing:
        raise Invalid("Unknown members.", details={"members": [f"user {m} does not exist or is inactive" for m in missing]})


def create_group(*, name: str, description: str = "", members: list[int]) -> Group:
    """Create a named set of users across departments."""
    if db.session.scalar(select(Group.id).where(Group.name == name)):
        raise Conflict(f"Group {name} exists.", code="name_taken", details={"name": ["already in use"]})
    _check_members(members)
    group = Group(name=name, description=description, member_rows=[GroupMember(user_id=m) for m in sorted(set(members))])
    db.session.add(group)
    db.session.commit()
    return group


def update_group(*, group_id: int, changes: dict) -> Group:
    """Rename a group, change its members or deactivate it."""
    group = db.session.get(Group, group_id)
    if group is None:
        raise NotFound("No such group.")
    if "name" in changes and changes["name"] != group.name:
        if db.session.scalar(select(Group.id).where(Group.name == changes["name"])):
            raise Conflict(f"Group {changes['name']} exists.", code="name_taken", details={"name": ["already in use"]})
        group.name = changes["name"]
    if "members" in changes:
        _check_members(changes["members"])
        group.member_rows = [GroupMember(user_id=m) for m in sorted(set(changes["members"]))]
    for field in ("description", "active"):
        if field in changes:
            setattr(group, field, changes[field])
    db.session.commit()
    return group


def list_groups():
    """All groups, as a select for pagination."""
    return select(Group).order_by(Group.id)
