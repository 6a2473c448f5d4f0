"""Shifts (docs/design.md §16): who works when, per person or per group, planned by leads and admins.

A shift belongs to the departments of the people it covers: a person's department, or the departments of a
group's active members. An admin plans any shift; a lead plans the shifts of people and groups wholly within the
departments they lead (their own and those below it) and sees every shift touching one of them. Who is on duty
because of them is `app.org.duty`; what happens at a shift's end is `app.workorders.shiftend`.
"""
from datetime import datetime

from sqlalchemy import select

from app.errors import Forbidden, Invalid, NotFound
from app.extensions import db
from app.org.duty import MAX_SHIFT
from app.org.models import Group, GroupMember, Shift, User
from app.org.service import subtree_ids


def _departments(*, user_id: int | None, group_id: int | None) -> set[int | None]:
    """The departments a shift's people belong to (None: someone in no department)."""
    if user_id is not None:
        return {db.session.scalar(select(User.department_id).where(User.id == user_id))}
    return set(db.session.scalars(select(User.department_id).join(GroupMember, GroupMember.user_id == User.id)
                                  .where(GroupMember.group_id == group_id, User.active.is_(True))))


def led_departments(user: User) -> set[int] | None:
    """The departments whose shifts `user` plans: None for an admin (all of them)."""
    if user.has_role("admin"):
        return None
    if not user.has_role("lead") or user.department_id is None:
        return set()
    return subtree_ids(user.department_id)


def require_planner(user: User, *, user_id: int | None, group_id: int | None) -> None:
    led = led_departments(user)
    if led is None:
        return
    departments = _departments(user_id=user_id, group_id=group_id)
    if not departments or not departments <= led:
        raise Forbidden("Only a lead of their department plans this shift.", code="not_your_department")


def check_shift(*, user_id: int | None, group_id: int | None, starts_at: datetime, ends_at: datetime) -> dict[str, list[str]]:
    """What is wrong with a shift, by field (empty: nothing)."""
    problems: dict[str, list[str]] = {}
    if (user_id is None) == (group_id is None):
        problems["user_id"] = ["name either user_id or group_id"]
    elif user_id is not None and db.session.scalar(select(User.id).where(User.id == user_id, User.active.is_(True))) is None:
        problems["user_id"] = [f"user {user_id} does not exist or is inactive"]
    elif group_id is not None and db.session.scalar(select(Group.id).where(Group.id == group_id, Group.active.is_(True))) is None:
        problems["group_id"] = [f"group {group_id} does not exist or is inactive"]
    if ends_at <= starts_at:
        problems["ends_at"] = ["must be after starts_at"]
    elif ends_at - starts_at > MAX_SHIFT:
        problems["ends_at"] = [f"a shift lasts at most {MAX_SHIFT.days} days"]
    return problems


def overlap(*, user_id: int | None, group_id: int | None, starts_at: datetime, ends_at: datetime,
            exclude_id: int | None = None) -> dict[str, list[str]]:
    """A shift of the same person or group it would overlap (`exclude_id`: the shift being moved), by field. Asked
    only once the planner may plan for that person or group, so it tells nobody of other departments' shifts."""
    holder = Shift.user_id == user_id if user_id is not None else Shift.group_id == group_id
    clash = db.session.scalar(select(Shift.id).where(holder, Shift.starts_at < ends_at, Shift.ends_at > starts_at,
                                                     Shift.id != (exclude_id or 0)).order_by(Shift.starts_at).limit(1))
    return {} if clash is None else {"starts_at": [f"overlaps shift {clash} of the same person or group"]}


def create_shift(*, user: User, body: dict, now: datetime) -> Shift:
    """Plan a shift for a person or a group."""
    problems = check_shift(user_id=body.get("user_id"), group_id=body.get("group_id"), starts_at=body["starts_at"],
                           ends_at=body["ends_at"])
    if problems:
        raise Invalid("The shift is not valid.", details=problems)
    require_planner(user, user_id=body.get("user_id"), group_id=body.get("group_id"))
    problems = overlap(user_id=body.get("user_id"), group_id=body.get("group_id"), starts_at=body["starts_at"], ends_at=body["ends_at"])
    if problems:
        raise Invalid("The shift is not valid.", details=problems)
    shift = Shift(user_id=body.get("user_id"), group_id=body.get("group_id"), starts_at=body["starts_at"],
                  ends_at=body["ends_at"], handover=body.get("handover", False), created_by_id=user.id, created_at=now)
    db.session.add(shift)
    db.session.commit()
    return shift


def get_shift(*, user: User, shift_id: int) -> Shift:
    """One shift the user may see."""
    shift = db.session.get(Shift, shift_id)
    if shift is None or not _may_see(user, shift):
        raise NotFound("No such shift.")
    return shift


def _may_see(user: User, shift: Shift) -> bool:
    led = led_departments(user)
    return led is None or bool(_departments(user_id=shift.user_id, group_id=shift.group_id) & led)


def update_shift(*, user: User, shift_id: int, changes: dict) -> Shift:
    """Move a shift, change whose it is or whether it hands over."""
    shift = get_shift(user=user, shift_id=shift_id)
    require_planner(user, user_id=shift.user_id, group_id=shift.group_id)
    holder = {"user_id": shift.user_id, "group_id": shift.group_id}
    if "user_id" in changes or "group_id" in changes:
        holder = {"user_id": changes.get("user_id"), "group_id": changes.get("group_id")}
    wanted = {**holder, "starts_at": changes.get("starts_at", shift.starts_at), "ends_at": changes.get("ends_at", shift.ends_at)}
    problems = check_shift(**wanted)
    if problems:
        raise Invalid("The shift is not valid.", details=problems)
    require_planner(user, **holder)
    problems = overlap(**wanted, exclude_id=shift.id)
    if problems:
        raise Invalid("The shift is not valid.", details=problems)
    for field, value in wanted.items():
        setattr(shift, field, value)
    if "handover" in changes:
        shift.handover = changes["handover"]
    if changes.keys() & {"ends_at", "user_id", "group_id"}:
        shift.handed_over_at = None  # a shift that ends anew (or is someone else's) hands over at its end
    db.session.commit()
    return shift


def delete_shift(*, user: User, shift_id: int) -> None:
    """Remove a shift."""
    shift = get_shift(user=user, shift_id=shift_id)
    require_planner(user, user_id=shift.user_id, group_id=shift.group_id)
    db.session.delete(shift)
    db.session.commit()


def list_shifts(*, user: User, user_id: int | None = None, group_id: int | None = None, starts_before: datetime | None = None,
                ends_after: datetime | None = None):
    """Shifts the user may see, by start, as a select for pagination; optionally of one person (their own and their
    groups') or group, and overlapping [ends_after, starts_before)."""
    stmt = select(Shift).order_by(Shift.starts_at, Shift.id)
    if user_id is not None:
        groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
        stmt = stmt.where((Shift.user_id == user_id) | Shift.group_id.in_(groups))
    if group_id is not None:
        stmt = stmt.where(Shift.group_id == group_id)
    if starts_before is not None:
        stmt = stmt.where(Shift.starts_at < starts_before)
    if ends_after is not None:
        stmt = stmt.where(Shift.ends_at > ends_after)
    led = led_departments(user)
    if led is not None:
        mine = select(User.id).where(User.department_id.in_(led))
        groups_of_mine = select(GroupMember.group_id).where(GroupMember.user_id.in_(mine))
        stmt = stmt.where(Shift.user_id.in_(mine) | Shift.group_id.in_(groups_of_mine))
    return stmt

