"""The reader's language, and the server's error messages said in it.

The language is the request's `Accept-Language`: Chinese for any `zh` tag (zh-CN, zh-Hans, zh-TW, zh), English for
`en`, the first of the two the header prefers (by its q-values); English when it names neither.

Services raise errors in English with stable codes (app/errors.py), and marshmallow writes its field messages in
English. An answer's message, and the field messages in its details, are said in the reader's language here, in one
place: a message is looked up in the catalog (app/common/messages_zh.py) as it is, else matched against the
catalog's templates, whose placeholders (`{max}`) stand for the variable parts; the Chinese template is filled with
what they matched. A placeholder named `{message}` holds a message itself and is said in turn. A message the
catalog does not know stays English: a translation never fails an answer.
"""
import re
from functools import lru_cache

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from app.common.messages_zh import MESSAGES

CHINESE = "zh-CN"
ENGLISH = "en"
LANGUAGES = (CHINESE, ENGLISH)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# A placeholder whose name starts so holds a message itself ("{value} is too long: {message}").
_NESTED = "message"


def negotiate(header: str | None) -> str:
    """"zh-CN" or "en" for an `Accept-Language` header: the first language the reader ranks highest that we speak."""
    if not header:
        return ENGLISH
    ranked = sorted(parse_accept_header(header, LanguageAccept), key=lambda item: -item[1])  # stable: ties keep order
    for tag, quality in ranked:
        if quality <= 0:
            continue
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if primary == "zh":
            return CHINESE
        if primary == "en" or primary == "*":
            return ENGLISH
    return ENGLISH


@lru_cache(maxsize=1)
def _templates() -> tuple[dict[str, str], list[tuple[str, re.Pattern, str]]]:
    """The catalog's literal messages, and its templates compiled once, the most specific (most literal text) first."""
    literal: dict[str, str] = {}
    patterns = []
    for english, chinese in MESSAGES.items():
        if not _PLACEHOLDER.search(english):
            literal[english] = chinese
            continue
        parts, pos = [], 0
        for found in _PLACEHOLDER.finditer(english):
            parts.append(re.escape(english[pos:found.start()]) + f"(?P<{found.group(1)}>.*?)")
            pos = found.end()
        parts.append(re.escape(english[pos:]))
        longest = max(_PLACEHOLDER.sub(" ", english).split(), key=len, default="")  # a word every match contains
        patterns.append((len(_PLACEHOLDER.sub("", english)), longest, re.compile(r"\A" + "".join(parts) + r"\Z", re.DOTALL), chinese))
    patterns.sort(key=lambda p: -p[0])
    return literal, [(longest, pattern, chinese) for _, longest, pattern, chinese in patterns]


@lru_cache(maxsize=4096)
def _to_chinese(message: str) -> str:
    literal, patterns = _templates()
    if message in literal:
        return literal[message]
    for longest, pattern, chinese in patterns:
        if longest not in message:  # cheap: most templates share no word with the message
            continue
        match = pattern.match(message)
        if match:
            values = match.groupdict()

            def fill(placeholder: re.Match) -> str:
                name = placeholder.group(1)
                return _to_chinese(values[name]) if name.startswith(_NESTED) else values[name]

            return _PLACEHOLDER.sub(fill, chinese)
    return message


def translate(message, language: str):
    """`message` in `language`; anything that is not text, or a message the catalog does not know, as it is."""
    if language != CHINESE or not isinstance(message, str) or not message:
        return message
    try:
        return _to_chinese(message)
    except Exception:  # a translation never costs the reader the answer
        return message


def translate_details(details, language: str):
    """An error's details in `language`: every message in them, at any depth — the texts of its lists and the
    `message` of an object in a list; other values (a status, an id, a count) are data and stay as they are."""
    if language != CHINESE:
        return details
    if isinstance(details, list):
        return [translate(item, language) if isinstance(item, str) else translate_details(item, language) for item in details]
    if isinstance(details, dict):
        return {key: translate(value, language) if key == "message" and isinstance(value, str)
                else translate_details(value, language) for key, value in details.items()}
    return details
