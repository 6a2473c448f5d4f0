"""Set-based statements shared by the quality services: dialect-aware upserts and chunked look-ups."""
from collections.abc import Iterable, Iterator

from sqlalchemy import Integer, String, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.errors import Invalid
from app.extensions import db

# Well under SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
IN_CHUNK = 5_000
# A bulk request reports at most this many bad items (the first ones).
MAX_REPORTED_ERRORS = 100


def dialect() -> str:
    return db.session.get_bind().dialect.name


def insert(table):
    """INSERT with ON CONFLICT support for the current database."""
    return (postgresql.insert if dialect() == "postgresql" else sqlite.insert)(table)


def in_list(column, values):
    """`column IN (values)`; on PostgreSQL `= ANY(:array)`, one parameter however long the list (no giant SQL to parse)."""
    values = list(values)
    if dialect() == "postgresql":
        item_type = Integer() if all(isinstance(v, int) for v in values) else String()
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(item_type)))
    return column.in_(values)


def chunks(values: Iterable, size: int = IN_CHUNK) -> Iterator[list]:
    batch = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def lookup(column_key, column_value, wanted: Iterable, *extra_where) -> dict:
    """{key: value} for the wanted keys, read in chunks."""
    found = {}
    wanted = sorted({w for w in wanted if w is not None})
    for part in chunks(wanted):
        stmt = select(column_key, column_value).where(in_list(column_key, part), *extra_where)
        found.update(dict(db.session.execute(stmt).all()))
    return found


def lookup_ci(column_key, column_value, wanted: Iterable, *extra_where) -> dict:
    """Like `lookup`, matching keys case-insensitively (logins); answers {lower-cased key: value}."""
    found = {}
    wanted = sorted({w.lower() for w in wanted if w is not None})
    for part in chunks(wanted):
        stmt = select(func.lower(column_key), column_value).where(in_list(func.lower(column_key), part), *extra_where)
        found.update(dict(db.session.execute(stmt).all()))
    return found


class ErrorList:
    """Collects per-item errors by dotted path; raises one 422 naming them, before anything is written."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS or path in self.errors:
            self.errors.setdefault(path, []).append(message)

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            raise Invalid(f"The {what} were not accepted: fix the items named and post them again; nothing was written.",
                          details=self.errors)
