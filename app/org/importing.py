"""Importing people from a spreadsheet as HR systems export it (docs/design.md §13): CSV or XLSX.

`read_table` turns the file into rows: XLSX through openpyxl (read-only, values only; rows above the header — a
title banner, merged cells — are passed over, and so are empty rows), CSV through the standard csv module after
decoding it as UTF-8 (with or without a BOM) or, failing that, GB18030, as Chinese Excel saves "CSV" (a superset
of GBK and GB2312: decoding is exact, not guessed). The header row is the first that names `login`; columns the
import does not know are left aside and listed in the answer.

`plan_import` checks every row against the organisation and the rest of the file and says, by login, what would
happen (`create`, `update`, `unchanged`) or, naming the row and column, what is wrong; `apply_import` writes a
checked plan in one transaction. Rows are matched to people by login (case-insensitive). In an update an empty cell
leaves that field as it is. A manager may be a row of the same file; reporting lines that would loop are refused
naming the rows. New people without a `password` column cannot sign in until an admin sets their password.
"""
import csv
import io
import re
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select

from app.common.bulk import lookup_ci
from app.common.text import from_spreadsheet
from app.errors import Invalid
from app.extensions import db
from app.org.models import LOCALES, Department, Permission, Role, User, UserPermission, UserRole
from app.org.passwords import hash_password, password_problems
from app.org.schemas import EMAIL as EMAIL_PATTERN, PHONE as PHONE_PATTERN

# The channel identities (docs/design.md §14) come after phone and email; the password stays last (never exported).
IDENTITIES = ("dingtalk_userid", "wecom_userid", "feishu_user_id")
COLUMNS = ("login", "name", "department", "manager", "roles", "permissions", "locale", "phone", "email", *IDENTITIES,
           "password")
EXPORTED = COLUMNS[:-1]  # the export leaves passwords out
MAX_ROWS = 10_000
LOGIN = re.compile(r"^\S{1,64}$")
PHONE = re.compile(PHONE_PATTERN)
EMAIL = re.compile(EMAIL_PATTERN)
ROLES = {r.value for r in Role}
PERMISSIONS = {p.value for p in Permission}
UNUSABLE = "!"  # a password hash no password matches (imported people sign in once an admin sets one)


@dataclass
class Row:
    number: int  # the row in the spreadsheet, counting the header as it appears in the file
    values: dict


@dataclass
class Table:
    rows: list[Row]
    ignored_columns: list[str] = field(default_factory=list)


def _problem(row: int, column: str, message: str) -> dict:
    return {"row": row, "column": column, "message": message}


def _text(value) -> str:
    """A cell as text: numbers without a trailing .0 (phone numbers come out of Excel as floats), trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # Spreadsheets (and Baton's own export) mark text that looks like a formula with a leading apostrophe.
    return from_spreadsheet(str(value).strip())


def read_table(filename: str, data: bytes, *, columns: tuple[str, ...] = COLUMNS, keys: tuple[str, ...] = ("login",)) -> Table:
    """The file's rows under its header (the first row naming one of `keys`), keeping `columns`, or 422 naming what
    cannot be read. People by default; shifts (app/org/shift_import.py) read their own columns the same way."""
    if data[:4] == b"PK\x03\x04" or (filename or "").lower().endswith(".xlsx"):
        lines = _xlsx_lines(data)
    else:
        lines = _csv_lines(data)
    header_at = next((i for i, (_, cells) in enumerate(lines) if set(keys) & {_text(c).lower() for c in cells}), None)
    if header_at is None and keys != ("login",):
        raise Invalid("The file has no header row naming the columns (login or group, starts_at, ends_at).",
                      code="import_unreadable", details={"file": ["no header row with a login or group column"]})
    if header_at is None:
        raise Invalid("The file has no header row naming the columns (login, name, department, …).",
                      code="import_unreadable", details={"file": ["no header row with a login column"]})
    header_number, header = lines[header_at]
    names = [_text(c).lower() for c in header]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in columns and name in seen:
            raise Invalid("A column is named twice.", details={"rows": [_problem(header_number, name, "named twice")]})
        seen.setdefault(name, index)
    ignored = sorted({n for n in names if n and n not in columns})
    rows = []
    for number, cells in lines[header_at + 1:]:
        values = {name: _text(cells[index]) if index < len(cells) else "" for name, index in seen.items() if name in columns}
        if any(values.values()):
            rows.append(Row(number, values))
    if len(rows) > MAX_ROWS:
        raise Invalid(f"At most {MAX_ROWS:,} people in one file.", details={"file": [f"{len(rows)} rows"]})
    return Table(rows, ignored)


def _xlsx_lines(data: bytes) -> list[tuple[int, tuple]]:
    from openpyxl import load_workbook  # only when a spreadsheet comes in

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the sender's problem, named in the answer
        raise Invalid("The spreadsheet cannot be read.", code="import_unreadable", details={"file": [f"not a readable XLSX file ({type(exc).__name__})"]})
    try:
        sheet = book.worksheets[0]
        return [(number, tuple(cells)) for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


def _csv_lines(data: bytes) -> list[tuple[int, tuple]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise Invalid("The file is neither UTF-8 nor GB18030 text.", code="import_unreadable",
                          details={"file": ["save it as CSV UTF-8 or as an Excel workbook"]})
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [(number, tuple(cells)) for number, cells in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]


def _split(value: str) -> list[str]:
    return sorted({part.strip() for part in re.split(r"[,;，；]", value) if part.strip()})


def plan_import(table: Table) -> tuple[list[dict], list[dict]]:
    """(plan, problems): per row what would happen — {row, login, action, changes} — and every problem found."""
    rows = table.rows
    problems: list[dict] = []
    wanted = {r.values.get("login", "").lower() for r in rows} | {r.values.get("manager", "").lower() for r in rows}
    wanted.discard("")
    existing = _people(wanted)
    everyone = Everyone()
    codes = dict(db.session.execute(select(Department.code, Department.id).where(Department.active.is_(True))).all())
    in_file: dict[str, int] = {}
    for row in rows:
        login = row.values.get("login", "")
        if not login:
            problems.append(_problem(row.number, "login", "required"))
        elif not LOGIN.match(login):
            problems.append(_problem(row.number, "login", "at most 64 characters, no spaces"))
        elif login.lower() in in_file:
            problems.append(_problem(row.number, "login", f"also on row {in_file[login.lower()]}"))
        else:
            in_file[login.lower()] = row.number
    plan = []
    managers: dict[str, str | None] = {}  # login (lower) -> manager login (lower) after the import, for the file's rows
    for row in rows:
        v = row.values
        login = v.get("login", "")
        user = existing.get(login.lower())
        changes: dict = {}
        name = v.get("name", "")
        if not name and user is None:
            problems.append(_problem(row.number, "name", "required for a new person"))
        elif len(name) > 200:
            problems.append(_problem(row.number, "name", "at most 200 characters"))
        elif name and (user is None or user.name != name):
            changes["name"] = name
        if v.get("department"):
            department_id = codes.get(v["department"])
            if department_id is None:
                problems.append(_problem(row.number, "department", f"no active department with code {v['department']}"))
            elif user is None or user.department_id != department_id:
                changes["department_id"] = department_id
        manager = v.get("manager", "").lower()
        if manager:
            if manager == login.lower():
                problems.append(_problem(row.number, "manager", "cannot be the person themselves"))
            elif manager not in in_file and (existing.get(manager) is None or not existing[manager].active):
                problems.append(_problem(row.number, "manager", f"{v['manager']} is neither an active person nor a row of this file"))
            else:
                managers[login.lower()] = manager
                if user is None or everyone.login_of(user.manager_id) != manager:
                    changes["manager"] = manager
        for column, allowed, key in (("roles", ROLES, "roles"), ("permissions", PERMISSIONS, "permissions")):
            if v.get(column):
                given = _split(v[column])
                unknown = [g for g in given if g not in allowed]
                if unknown:
                    problems.append(_problem(row.number, column, f"unknown: {', '.join(unknown)}; use {', '.join(sorted(allowed))}"))
                elif user is None or sorted(user.roles if key == "roles" else _granted(user)) != given:
                    changes[key] = given
        if v.get("locale"):
            if v["locale"] not in LOCALES:
                problems.append(_problem(row.number, "locale", f"use {' or '.join(LOCALES)}"))
            elif user is None or user.locale != v["locale"]:
                changes["locale"] = v["locale"]
        for column, pattern, what in (("phone", PHONE, "a phone number such as +86 138 0000 0000"), ("email", EMAIL, "an email address")):
            if v.get(column):
                if not pattern.match(v[column]) or len(v[column]) > (32 if column == "phone" else 254):
                    problems.append(_problem(row.number, column, f"not {what}"))
                elif user is None or getattr(user, column) != v[column]:
                    changes[column] = v[column]
        for column in IDENTITIES:
            if v.get(column):
                if len(v[column]) > 64 or any(c.isspace() for c in v[column]):
                    problems.append(_problem(row.number, column, "at most 64 characters, no spaces"))
                elif user is None or getattr(user, column) != v[column]:
                    changes[column] = v[column]
        if v.get("password"):
            found = password_problems(v["password"], user_inputs=(login, name))
            if found:
                problems.append(_problem(row.number, "password", " ".join(found)))
            else:
                changes["password"] = v["password"]
        action = "create" if user is None else "update" if changes else "unchanged"
        plan.append({"row": row.number, "login": login, "action": action, "changes": changes, "user_id": user.id if user else None})
    problems.extend(_cycles(rows, managers, everyone))
    return plan, sorted(problems, key=lambda p: (p["row"], COLUMNS.index(p["column"]) if p["column"] in COLUMNS else 99))


def _granted(user: User) -> list[str]:
    return sorted(p.permission for p in user.permission_rows)


class Everyone:
    """Every person's login and manager, read once: reporting lines are walked through the whole organisation."""

    def __init__(self):
        rows = db.session.execute(select(User.id, func.lower(User.login), User.manager_id)).all()
        self.logins = {user_id: login for user_id, login, _ in rows}
        self.manager_ids = {login: manager_id for _, login, manager_id in rows}

    def login_of(self, user_id: int | None) -> str | None:
        return self.logins.get(user_id) if user_id else None

    def manager_of(self, login: str) -> str | None:
        return self.login_of(self.manager_ids.get(login))


def _people(logins: set[str]) -> dict[str, User]:
    """The people with these logins (case-insensitive), by lower-cased login, read in chunks."""
    found: dict[str, User] = {}
    ordered = sorted(logins)
    for start in range(0, len(ordered), 1000):
        part = ordered[start:start + 1000]
        found.update({u.login.lower(): u for u in db.session.scalars(select(User).where(func.lower(User.login).in_(part)))})
    return found


def _cycles(rows: list[Row], managers: dict[str, str], everyone: Everyone) -> list[dict]:
    """Rows whose reporting line would come back to them, each named with the rows the loop runs through."""
    numbers = {r.values.get("login", "").lower(): r.number for r in rows}

    def manager_of(login: str) -> str | None:
        return managers[login] if login in managers else everyone.manager_of(login)

    problems, reported = [], set()
    for start in managers:
        if start in reported:
            continue
        path, node = [], start
        while node is not None and node not in path:
            path.append(node)
            node = manager_of(node)
        if node is None:
            continue
        loop = path[path.index(node):]
        reported.update(loop)
        on_rows = sorted(numbers[n] for n in loop if n in numbers)
        for login in loop:
            if login in numbers:
                problems.append(_problem(numbers[login], "manager", f"reporting line loops through rows {', '.join(map(str, on_rows))}"))
    return problems


def apply_import(plan: list[dict]) -> None:
    """Write a checked plan (no problems) in the caller's transaction: people first, then their managers."""
    created: dict[str, User] = {}
    for entry in plan:
        if entry["action"] == "unchanged":
            continue
        changes = entry["changes"]
        if entry["action"] == "create":
            user = User(login=entry["login"], name=changes["name"], locale=changes.get("locale", "zh-CN"),
                        password_hash=hash_password(changes["password"]) if "password" in changes else UNUSABLE + secrets.token_hex(8))
            user.role_rows = [UserRole(role=r) for r in changes.get("roles", ["staff"])]
            db.session.add(user)
            created[entry["login"].lower()] = user
        else:
            user = db.session.get(User, entry["user_id"])
            if "password" in changes:
                user.password_hash = hash_password(changes["password"])
                user.session_version += 1
            if "roles" in changes:
                user.role_rows = [UserRole(role=r) for r in changes["roles"]]
            for column in ("name", "locale"):
                if column in changes:
                    setattr(user, column, changes[column])
        for column in ("department_id", "phone", "email", *IDENTITIES):
            if column in changes:
                setattr(user, column, changes[column])
        if "permissions" in changes:
            user.permission_rows = [UserPermission(permission=p) for p in changes["permissions"]]
    db.session.flush()
    wanted = {e["changes"]["manager"] for e in plan if "manager" in e["changes"]}
    ids = {login: user.id for login, user in created.items()}
    ids.update({k: v for k, v in lookup_ci(User.login, User.id, wanted - set(ids)).items()})
    for entry in plan:
        if "manager" in entry["changes"]:
            user = created.get(entry["login"].lower()) or db.session.get(User, entry["user_id"])
            user.manager_id = ids[entry["changes"]["manager"]]


def import_people(*, filename: str, data: bytes, dry_run: bool) -> dict:
    """The import as `POST /users/import` answers it: read, check every row, and unless `dry_run` write it all (or,
    with any problem, nothing: 422 naming every one by row and column)."""
    table = read_table(filename, data)
    plan, problems = plan_import(table)
    if problems:
        raise Invalid(f"{len(problems)} problems in the file; nothing was imported.", code="import_invalid",
                      details={"rows": problems})
    if not dry_run:
        apply_import(plan)
        db.session.commit()
    counts = {action: sum(1 for e in plan if e["action"] == action) for action in ("create", "update", "unchanged")}
    return {"dry_run": dry_run, "created": counts["create"], "updated": counts["update"], "unchanged": counts["unchanged"],
            "rows": [{"row": e["row"], "login": e["login"], "action": e["action"], "changes": sorted(e["changes"])} for e in plan],
            "ignored_columns": table.ignored_columns}


def export_rows() -> list[list[str]]:
    """Everyone, in the import's columns (a file that imports back unchanged)."""
    people = db.session.scalars(select(User).order_by(User.login)).all()
    codes = dict(db.session.execute(select(Department.id, Department.code)).all())
    logins = {u.id: u.login for u in people}
    return [[u.login, u.name, codes.get(u.department_id, ""), logins.get(u.manager_id, ""), ",".join(u.roles), ",".join(_granted(u)),
             u.locale, u.phone or "", u.email or "", *(getattr(u, c) or "" for c in IDENTITIES)] for u in people]
