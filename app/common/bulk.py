"""Many rows in one statement, on PostgreSQL and SQLite alike: the rows travel as one JSON parameter.

An executemany costs a statement per row, and a VALUES or IN list a parameter per value; for the thousands
of rows a sweep writes, both cost far more to send than to run.
"""
from sqlalchemy import JSON, Table, any_, bindparam, column, func, insert, literal, select
from sqlalchemy.types import TypeEngine, UserDefinedType

from app.extensions import db


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
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=IdArray()))
    return column.in_(ids)


def rows_table(rows: list[dict], **types: TypeEngine):
    """JSON-ready `rows` as a table with the named, typed columns, to join in an UPDATE or an INSERT ... SELECT."""
    document = bindparam(None, rows, type_=JSON)
    if db.session.get_bind().dialect.name == "postgresql":
        return (func.json_to_recordset(document).table_valued(*[column(name, type_) for name, type_ in types.items()])
                .render_derived(with_types=True))
    each = func.json_each(document).table_valued("value")
    return select(*[func.json_extract(each.c.value, f"$.{name}").label(name) for name in types]).subquery()


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
