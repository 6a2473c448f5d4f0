"""Text matching shared by every domain."""

LIKE_ESCAPE = "\\"


def like_pattern(q: str) -> str:
    """A LIKE pattern matching `q` anywhere, with `%`, `_` and the escape character taken literally.

    Use it with its escape character on both databases: `column.like(like_pattern(q), escape=LIKE_ESCAPE)`.
    """
    escaped = q.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


FORMULA_STARTS = ("=", "+", "-", "@")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula: one starting like a formula gets the apostrophe that marks
    text (CSV injection). `from_spreadsheet` takes it off again."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def from_spreadsheet(text: str) -> str:
    """A cell as it was meant: the apostrophe that marks formula-like text as text taken off."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text
