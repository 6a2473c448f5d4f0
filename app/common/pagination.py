"""Lists answer {"items", "total", "page", "per_page"} (docs/design.md §9)."""
from functools import lru_cache

import marshmallow as ma
from sqlalchemy import func, select

from app.extensions import db

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=DEFAULT_PER_PAGE, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


@lru_cache(maxsize=None)
def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A response schema for a page of `item_schema` (one class per item schema, for OpenAPI)."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(
        name,
        (ma.Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "total": ma.fields.Integer(),
            "page": ma.fields.Integer(),
            "per_page": ma.fields.Integer(),
        },
    )


def paginate(stmt, *, page: int, per_page: int, scalars: bool = True) -> dict:
    """Run a select for one page and count the whole result."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    paged = stmt.limit(per_page).offset((page - 1) * per_page)
    result = db.session.execute(paged)
    items = list(result.scalars()) if scalars else list(result)
    return {"items": items, "total": total or 0, "page": page, "per_page": per_page}
