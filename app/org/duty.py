"""Who is on duty at a moment (docs/design.md §2, §16): one rule, as an SQL expression every reader uses.

- Someone with shifts (their own, or a group's they belong to; any at all) is on duty inside a shift that covers
  the moment, unless they switched themselves off (`users.on_duty`).
- Someone with no shifts at all follows their own on/off switch (Part I).

Whether the person is active is the caller's to add. The planner and dispatch (whom offers go to), the reporting
lines (stand-ins and whom an escalation reaches), transfers and the hand-back of the absent all read it, so a person
is on duty in the same way for all of them. Set-based: the expression is a column of a select over `users`, read
for a whole batch in one statement; each test is a bounded range on the index of shifts by (user or group, start).
"""
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, not_, or_, select, union_all

from app.extensions import db
from app.org.models import GroupMember, Shift, User

MAX_SHIFT = timedelta(days=7)  # no shift is longer: a shift covering now started less than this before it

_SHIFTS = Shift.__table__
_MEMBERS = GroupMember.__table__


def _covering(now, earliest=None):
    earliest = now - MAX_SHIFT if earliest is None else earliest
    return and_(_SHIFTS.c.starts_at > earliest, _SHIFTS.c.starts_at <= now, _SHIFTS.c.ends_at > now)


def on_shift_at(now: datetime, users=None, earliest=None):
    """True for a person inside a shift of theirs or of a group of theirs at `now` (a boolean SQL expression).

    `now` may be a bound parameter, for a statement built once; `earliest` is then `now - MAX_SHIFT`'s."""
    users = User.__table__ if users is None else users
    own = exists().where(_SHIFTS.c.user_id == users.c.id, _covering(now, earliest))
    grouped = exists().where(_MEMBERS.c.user_id == users.c.id, _SHIFTS.c.group_id == _MEMBERS.c.group_id,
                             _covering(now, earliest))
    return or_(own, grouped)


def has_shifts(users=None):
    """True for a person with any shift at all, their own or a group's."""
    users = User.__table__ if users is None else users
    own = exists().where(_SHIFTS.c.user_id == users.c.id)
    grouped = exists().where(_MEMBERS.c.user_id == users.c.id, _SHIFTS.c.group_id == _MEMBERS.c.group_id)
    return or_(own, grouped)


def on_duty_at(now: datetime, users=None, earliest=None):
    """The one rule: on their switch, and inside a shift when they have any (a boolean SQL expression over `users`)."""
    users = User.__table__ if users is None else users
    return and_(users.c.on_duty.is_(True), or_(not_(has_shifts(users)), on_shift_at(now, users, earliest)))


def is_on_duty(user_id: int, now: datetime) -> bool:
    """Whether one person is on duty at `now` by the rule (a transfer's check)."""
    users = User.__table__
    return bool(db.session.scalar(select(on_duty_at(now, users)).where(users.c.id == user_id)))


def shift_of(user_id: int, now: datetime) -> tuple[datetime, datetime] | None:
    """The person's shift (their own or a group's) covering `now`, else their next one within MAX_SHIFT; None if none."""
    own = select(_SHIFTS.c.starts_at, _SHIFTS.c.ends_at).where(_SHIFTS.c.user_id == user_id)
    grouped = (select(_SHIFTS.c.starts_at, _SHIFTS.c.ends_at).join(_MEMBERS, _MEMBERS.c.group_id == _SHIFTS.c.group_id)
               .where(_MEMBERS.c.user_id == user_id))
    window = and_(_SHIFTS.c.ends_at > now, _SHIFTS.c.starts_at > now - MAX_SHIFT, _SHIFTS.c.starts_at <= now + MAX_SHIFT)
    rows = [r for stmt in (own, grouped) for r in db.session.execute(stmt.where(window)).all()]
    return tuple(min(rows, key=lambda r: r[0])) if rows else None


def shifts_near(user_ids: list[int], now: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per person, their shifts (their own and their groups') not ended at `now` that started less than MAX_SHIFT
    before it or start within MAX_SHIFT after it, by start: one statement for a whole team (the team board)."""
    if not user_ids:
        return {}
    window = and_(_SHIFTS.c.ends_at > now, _SHIFTS.c.starts_at > now - MAX_SHIFT, _SHIFTS.c.starts_at <= now + MAX_SHIFT)
    own = (select(_SHIFTS.c.user_id.label("person"), _SHIFTS.c.starts_at, _SHIFTS.c.ends_at)
           .where(_SHIFTS.c.user_id.in_(user_ids), window))
    grouped = (select(_MEMBERS.c.user_id.label("person"), _SHIFTS.c.starts_at, _SHIFTS.c.ends_at)
               .join(_MEMBERS, _MEMBERS.c.group_id == _SHIFTS.c.group_id).where(_MEMBERS.c.user_id.in_(user_ids), window))
    found: dict[int, list[tuple[datetime, datetime]]] = {}
    for person, starts_at, ends_at in db.session.execute(union_all(own, grouped)):
        found.setdefault(person, []).append((starts_at, ends_at))
    return {person: sorted(times) for person, times in found.items()}


def current_and_next(times: list[tuple[datetime, datetime]], now: datetime):
    """From one person's shifts by start (`shifts_near`): the stretch of shifts covering `now`, back to back or
    overlapping shifts joined (so "on shift until" names the real end), else None; and the next shift starting after
    that stretch (or after now), else None. Each a (starts_at, ends_at)."""
    current = None
    for starts_at, ends_at in times:
        if current is None:
            if starts_at <= now < ends_at:
                current = (starts_at, ends_at)
        elif starts_at <= current[1] < ends_at:
            current = (current[0], ends_at)
    after = current[1] if current else now
    upcoming = next(((s, e) for s, e in times if s > after), None)
    return current, upcoming
