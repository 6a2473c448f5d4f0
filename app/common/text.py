"""Text matching shared by every domain."""

LIKE_ESCAPE = "\\"


def like_pattern(q: str) -> str:
    """A LIKE pattern matching `q` anywhere, with `%`, `_` and the escape character taken literally.

    Use it with its escape character on both databases: `column.like(like_pattern(q), escape=LIKE_ESCAPE)`.
    """
    escaped = q.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"
