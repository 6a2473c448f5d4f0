"""Every request body is judged once, before any view or hook reads it.

- A chunked body is read whole here: its framing errors (a bad chunk size) are the client's, answered 400, and
  one longer than MAX_CONTENT_LENGTH is answered 413, not cut at the limit and parsed as broken JSON.
- A JSON body may be at most MAX_JSON_BYTES long and nest at most MAX_JSON_DEPTH arrays and objects deep
  (the parser recurses once per level, and the schemas after it).
- A JSON string may not hold a lone UTF-16 surrogate ("\\ud800"): JSON can escape one, but it is not a
  character, and no database or encoder can store it. The answer is 422 naming the field.
- A number longer than Python parses (4,300 digits) is 400, like any JSON the parser refuses.
- A JSON body is UTF-8, as RFC 8259 asks of JSON exchanged between systems; UTF-16 or UTF-32 is 400.

The checks run on the raw bytes with C-speed byte operations, so a phone's small body costs about a microsecond
and a bulk import a fraction of its parse; only a body that holds a surrogate escape or a very long run of
digits is parsed here as well.
"""
import json
import re
import sys
from itertools import accumulate

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.errors import DomainError, Invalid

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_DEPTH_STEP = [1 if chr(b) in "[{" else -1 for b in range(256)]
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_DIGITS_AS_ZEROS = bytes(ord("0") if chr(b) in "0123456789" else ord(" ") for b in range(256))
_TOO_MANY_DIGITS = b"0" * (_MAX_DIGITS + 1)
MAX_REPORTED_FIELDS = 20


class MalformedBody(DomainError):
    status = 400
    code = "malformed_json"


def _read_body() -> bytes:
    """The whole body, cached on the request for every later reader (webargs, the idempotency hash, forms)."""
    environ = request.environ
    chunked = request.content_length is None and environ.get("wsgi.input_terminated")
    try:
        data = request.get_data(cache=True)
        limit = request.max_content_length
        if chunked and limit is not None and len(data) >= limit and environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()  # werkzeug stops reading at the limit; more was on its way
    except HTTPException:
        raise
    except Exception as error:  # the server's body reader: a bad chunk size, a missing terminator, a cut stream
        raise MalformedBody("The request body could not be read: its framing is invalid (" + type(error).__name__ + ").",
                            code="malformed_body") from error
    return data


def too_deep(data: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` levels deep; brackets in strings are text."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # too few brackets to reach the limit: every phone's request, decided at C speed
    # Drop escaped backslashes, then escaped quotes: every quote left opens or closes a string, as the parser sees
    # it. Keep only quotes and brackets, and drop what lies between each pair of quotes.
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data
    brackets = b"".join(text.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    return len(brackets) > limit and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > limit


def _has_long_number(data: bytes) -> bool:
    """Whether a run of digits is longer than Python parses as an integer (digits in strings count too: rare)."""
    return len(data) > _MAX_DIGITS and _TOO_MANY_DIGITS in data.translate(_DIGITS_AS_ZEROS)


def _surrogate_paths(document) -> dict:
    """Field paths (nested like marshmallow's errors) of the strings and keys that hold a lone surrogate."""
    found: dict = {}
    reported = 0

    def unencodable(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    def report(path):
        nonlocal reported
        reported += 1
        node = found
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return
        node[path[-1] if path else "_schema"] = ["Contains a lone UTF-16 surrogate, which is not a character."]

    def visit(value, path):
        if reported >= MAX_REPORTED_FIELDS:
            return
        if isinstance(value, str):
            if unencodable(value):
                report(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if unencodable(key):
                    report(path + (key.encode("utf-8", "backslashreplace").decode(),))
                    continue
                visit(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, path + (str(index),))

    visit(document, ())
    return found


def check_body():
    """before_request: refuse a body no view could handle (see the module docstring)."""
    chunked = request.content_length is None and request.environ.get("wsgi.input_terminated")
    if not chunked and not request.is_json:
        return None
    data = _read_body()
    if not request.is_json or not data:
        return None
    config = current_app.config
    if len(data) > config["MAX_JSON_BYTES"]:
        raise RequestEntityTooLarge(f"A JSON body may be at most {config['MAX_JSON_BYTES']} bytes.")
    if not data.isascii():
        # JSON between systems is UTF-8 (RFC 8259 §8.1). The parser would also guess UTF-16 and UTF-32, which the
        # byte-level checks below do not read: refuse them rather than let a body slip past its depth check.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("A JSON body must be encoded as UTF-8.") from None
    max_depth = config["MAX_JSON_DEPTH"]
    if too_deep(data, max_depth):
        raise MalformedBody(f"The JSON body nests arrays and objects more than {max_depth} levels deep.",
                            details={"max_depth": max_depth})
    if not _SURROGATE_ESCAPE.search(data) and not _has_long_number(data):
        return None
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # the view's parser answers 400 malformed_json
    except ValueError as error:  # an integer longer than Python's limit for parsing numbers
        raise MalformedBody(f"A number in the JSON body has more than {_MAX_DIGITS} digits.") from error
    except Exception:  # undecodable bytes and the like: also the view parser's 400
        return None
    details = _surrogate_paths(document)
    if details:
        raise Invalid("Text in the request is not valid Unicode: it contains a lone UTF-16 surrogate.", details=details)
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_body)
