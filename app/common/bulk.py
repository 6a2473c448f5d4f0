"""The set-based SQL toolkit, on PostgreSQL and SQLite alike: every package writes and reads many rows through it.

- `among_ids` / `in_list`: `IN` with one parameter however long the list (`= ANY(:array)` on PostgreSQL);
- `insert_rows`: many rows in ONE statement, the rows travelling as one JSON parameter (`INSERT … SELECT` from
  `rows_table`), with constants and RETURNING: for the hundreds of rows one use case writes;
- `load_rows` / `load_rows_returning_ids`: bulk loading (COPY on PostgreSQL, batched executemany on SQLite) for
  the hundreds of thousands of rows a fan-out writes;
- `upsert`: INSERT with ON CONFLICT for the current database; `chunks`, `lookup`, `lookup_ci`: chunked look-ups.

An executemany costs a statement per row, and a VALUES or IN list a parameter per value; for the thousands
of rows a sweep or a recall writes, both cost far more to send than to run.
"""
import json
from collections.abc import Iterable, Iterator
from datetime import UTC

from sqlalchemy import JSON, String, Table, any_, bindparam, column, func, insert, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine, UserDefinedType

from app.common.database import note_write
from app.extensions import db

# Well under SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
IN_CHUNK = 5_000
# Rows per executemany batch when bulk loading on SQLite.
PAGE = 2_000


def dialect() -> str:
    return db.session.get_bind().dialect.name


def upsert(table, dialect_name: str | None = None):
    """INSERT with ON CONFLICT support for the current database (or, for a statement built once per dialect, for
    `dialect_name`)."""
    return (postgresql.insert if (dialect_name or dialect()) == "postgresql" else sqlite.insert)(table)


class IdArray(UserDefinedType):
    """An INTEGER[] parameter sent in its text form, '{1,2,3}': psycopg adapts a long list element by element,
    which cost more than the queries that used it."""

    cache_ok = True
    render_bind_cast = True  # `%(ids)s::INTEGER[]`: the server reads the text as an array constant

    def get_col_spec(self, **kw):
        return "INTEGER[]"

    def bind_processor(self, dialect):
        return lambda ids: "{" + ",".join(str(int(i)) for i in ids) + "}"


def among_ids(column, ids):
    """`column IN ids` in one parameter however many ids: on PostgreSQL `= ANY(:array)`."""
    ids = list(ids)
    if dialect() == "postgresql":
        return column == any_(bindparam(None, ids, type_=IdArray()))
    return column.in_(ids)


def among_bound_ids(column, name: str, dialect_name: str):
    """`among_ids` for a statement built once (per dialect) and run many times: the ids are bound at execution, as
    `name`: one array on PostgreSQL, an expanded list on SQLite."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=IdArray()))
    return column.in_(bindparam(name, expanding=True))


def in_list(column, values):
    """`column IN (values)` for ids or text; on PostgreSQL `= ANY(:array)`, one parameter however long the list."""
    values = list(values)
    if all(isinstance(v, int) for v in values):
        return among_ids(column, values)
    if dialect() == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(String())))
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


def rows_table(rows: list[dict], **types: TypeEngine):
    """JSON-ready `rows` as a table with the named, typed columns, to join in an UPDATE or an INSERT ... SELECT."""
    document = bindparam(None, rows, type_=JSON)
    if dialect() == "postgresql":
        return (func.json_to_recordset(document).table_valued(*[column(name, type_) for name, type_ in types.items()])
                .render_derived(with_types=True))
    each = func.json_each(document).table_valued("value")
    return select(*[func.json_extract(each.c.value, f"$.{name}").label(name) for name in types]).subquery()


def time_text(moment):
    """A UTC datetime as `rows_table` carries it in its JSON: ISO 8601 for PostgreSQL to parse into its column
    type; on SQLite the very text the DateTime type stores (naive UTC), since json_extract hands it over as is."""
    if moment is None:
        return None
    if dialect() == "postgresql":
        return moment.isoformat()
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_rows(table: Table, rows: list[dict], *, returning=(), **constants):
    """INSERT `rows` (all with the same keys) in one statement; `constants` go into every row.

    Answers the result, whose rows are the `returning` columns (in no particular order) when some are asked for.
    """
    names = list(rows[0])
    source = rows_table(rows, **{name: table.c[name].type for name in names})
    stmt = insert(table).from_select(
        names + list(constants),
        select(*[source.c[name] for name in names], *[literal(value, table.c[name].type) for name, value in constants.items()]),
    )
    if returning:
        stmt = stmt.returning(*returning)
    return db.session.execute(stmt)


def load_rows_returning_ids(table: Table, rows: list[dict]) -> list[int]:
    """Bulk-load rows and answer their ids in row order."""
    if dialect() == "postgresql":
        # Ids drawn from the table's own sequence in one statement, then the rows COPY in: no RETURNING, no per-row SQL.
        ids = list(db.session.execute(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                                      {"table": table.name, "n": len(rows)}).scalars())
        for row, row_id in zip(rows, ids):
            row["id"] = row_id
        _copy(table, rows)
        return ids
    ids: list[int] = []
    stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    for part in chunks(rows, PAGE):
        ids.extend(db.session.execute(stmt, part).scalars())
    return ids


def load_rows(table: Table, rows: list[dict]) -> None:
    """Bulk-load many rows: COPY on PostgreSQL, batched executemany elsewhere."""
    if not rows:
        return
    if dialect() == "postgresql":
        _copy(table, rows)
        return
    for part in chunks(rows, PAGE):
        db.session.execute(table.insert(), part)


def _copy(table: Table, rows: list[dict]) -> None:
    """COPY rows into a table on the session's own connection, so they commit or roll back with its transaction."""
    if not rows:
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    dumped: dict[int, str] = {}

    def dumps(value):
        # Rows of a batch share their identical details objects: each is serialised once.
        text_value = dumped.get(id(value))
        if text_value is None:
            text_value = dumped[id(value)] = json.dumps(value, default=str)
        return text_value

    note_write(db.session)
    raw = db.session.connection().connection.driver_connection
    quoted = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([dumps(row[c]) if c in json_columns and row[c] is not None else row[c] for c in columns])
