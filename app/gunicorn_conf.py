"""gunicorn settings for Baton: `gunicorn -c app/gunicorn_conf.py app.wsgi:app` (workers, threads and bind on the
command line or in GUNICORN_CMD_ARGS).

gunicorn answers a request it cannot parse itself, before the app sees it: a request line longer than
`limit_request_line` (414), more than `limit_request_fields` headers or one longer than
`limit_request_field_size` (431), a malformed request line, header or chunk (400). gunicorn 27 has no setting
for the body of those answers and writes an HTML page; here they are written in the API's error format,
{"error": {"code", "message", "details"}}, like every other answer. The limits stay gunicorn's: they are what
keeps a slow or hostile client from holding a worker, and no Baton URL or header comes near them.
"""
import json

from gunicorn import util

wsgi_app = "app.wsgi:app"

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# What gunicorn's own refusals say (its message can echo the raw request, so it stays in gunicorn's log).
_ANSWERS = {
    400: ("bad_request", "The request is not valid HTTP."),
    403: ("forbidden", "The request is not allowed."),
    414: ("uri_too_long", "The request line (method and URL) is too long."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: ("headers_too_large", "The request headers are too many or too large."),
    500: ("internal_error", "Something went wrong on our side."),
    501: ("not_implemented", "The request uses a transfer coding the server does not support."),
}


def json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering in the error format instead of an HTML page."""
    code, message = _ANSWERS.get(status_int, ("bad_request" if status_int < 500 else "internal_error", reason))
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


if not callable(getattr(util, "write_error", None)):  # a gunicorn that no longer writes its errors there
    raise RuntimeError("gunicorn.util.write_error is gone: update app/gunicorn_conf.py for this gunicorn")
util.write_error = json_error  # the workers call it through the module, so every worker answers JSON
