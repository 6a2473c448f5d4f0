"""Importing shifts from a spreadsheet (docs/design.md §16): CSV or XLSX, read like people's (app/org/importing.py).

Columns: `login` (a person) or `group` (a group's name) — exactly one per row —, `starts_at`, `ends_at` and
optionally `handover` (yes/no, true/false, 1/0, 是/否; empty: no). Times are ISO 8601 (`2026-12-07 22:00`, with
or without an offset; Excel's own date cells too); a time without an offset is in the business time zone. Every row
is checked like a shift sent to `POST /shifts`, including whether the importer may plan it (a lead: people and
groups of their departments); every problem is answered at once, by row and column, and nothing is written unless
every row is right (all or nothing).
"""
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.common.bulk import lookup_ci
from app.common.messages_zh import SPREADSHEET_NO, SPREADSHEET_YES
from app.errors import Forbidden, Invalid
from app.extensions import db
from app.org.importing import _problem, read_table
from app.org.models import Group, Shift, User
from app.org.shifts import check_shift, overlap, require_planner

COLUMNS = ("login", "group", "starts_at", "ends_at", "handover")
YES = {"yes", "y", "true", "1", "x"} | SPREADSHEET_YES
NO = {"", "no", "n", "false", "0"} | SPREADSHEET_NO
FIELD_COLUMN = {"user_id": "login", "group_id": "group", "starts_at": "starts_at", "ends_at": "ends_at"}


def _moment(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(ZoneInfo("UTC"))


def import_shifts(*, user: User, filename: str, data: bytes, dry_run: bool, tz: str, now: datetime) -> dict:
    """Check every row of the file and, unless `dry_run`, plan its shifts in one transaction."""
    table = read_table(filename, data, columns=COLUMNS, keys=("login", "group"))
    zone = ZoneInfo(tz)
    logins = lookup_ci(User.login, User.id, {r.values.get("login", "") for r in table.rows} - {""})
    groups = dict(db.session.execute(select(func.lower(Group.name), Group.id)).all())
    problems, shifts, plan = [], [], []
    for row in table.rows:
        values = row.values
        login, group, found = values.get("login", ""), values.get("group", ""), []
        user_id = logins.get(login.lower()) if login else None
        group_id = groups.get(group.lower()) if group else None
        if login and group:
            found.append(("group", "name either a login or a group"))
        elif not login and not group:
            found.append(("login", "required (or group)"))
        elif login and user_id is None:
            found.append(("login", f"no person with login {login}"))
        elif group and group_id is None:
            found.append(("group", f"no group named {group}"))
        starts_at, ends_at = _moment(values.get("starts_at", ""), zone), _moment(values.get("ends_at", ""), zone)
        for column, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
            if moment is None:
                found.append((column, "not a time such as 2026-12-07 22:00"))
        handover = values.get("handover", "").lower()
        if handover not in YES | NO:
            found.append(("handover", "yes or no"))
        if not found:
            for field, messages in check_shift(user_id=user_id, group_id=group_id, starts_at=starts_at, ends_at=ends_at).items():
                found.extend((FIELD_COLUMN[field], m) for m in messages)
        if not found:
            try:
                require_planner(user, user_id=user_id, group_id=group_id)
            except Forbidden:
                found.append(("group" if group else "login", "not of a department you lead"))
            else:
                for field, messages in overlap(user_id=user_id, group_id=group_id, starts_at=starts_at, ends_at=ends_at).items():
                    found.extend((FIELD_COLUMN[field], m) for m in messages)
        problems.extend(_problem(row.number, column, message) for column, message in found)
        if not found:
            shifts.append(Shift(user_id=user_id, group_id=group_id, starts_at=starts_at, ends_at=ends_at,
                                handover=handover in YES, created_by_id=user.id, created_at=now))
            plan.append({"row": row.number, "action": "create"})
    if problems:
        raise Invalid(f"{len(problems)} problems in the file; nothing was imported.", code="import_invalid",
                      details={"rows": problems})
    if not dry_run:
        db.session.add_all(shifts)
        db.session.commit()
    return {"dry_run": dry_run, "created": len(shifts), "rows": plan, "ignored_columns": table.ignored_columns}
