"""The one place that turns every failure into the JSON error format (docs/design.md §9).

Domain errors (app/errors.py), validation errors, HTTP errors, and the database going away: no input
yields a 500, and nothing leaks as an HTML page or a trace. Every answer is said in the reader's language
(`Accept-Language`, app/common/i18n.py): its message and the field messages of its details; the code stays.
"""
import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from app.common import database, i18n
from app.errors import DomainError, error_body, field_paths

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_error",
    429: "too_many_requests",
    431: "headers_too_large",
    501: "not_implemented",
}


def error_response(code: str, message: str, details: dict | None = None, status: int = 400, headers=None):
    """An error answer in the reader's language, which it names (Content-Language) and varies by."""
    language = i18n.negotiate(request.headers.get("Accept-Language"))
    response = jsonify(error_body(code, i18n.translate(message, language), i18n.translate_details(details or {}, language)))
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Content-Language"] = language
    response.vary.add("Accept-Language")
    return response


def _webargs_paths(messages) -> dict:
    """webargs nests errors by location ({"json": {...}, "query": {...}}): the fields keep their dotted paths."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [messages]}
    details: dict = {}
    for location, errs in messages.items():
        if isinstance(errs, dict):
            for name, found in field_paths(errs).items():
                details.setdefault(name, []).extend(found)
        else:
            details["_" + str(location)] = errs
    return details


def http_error_response(error: HTTPException):
    """Turn a werkzeug/webargs HTTPException into the JSON error format."""
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    headers = dict(data.get("headers") or {})
    if status == 400 and data.get("messages", {}).get("json") == ["Invalid JSON body."]:
        return error_response("malformed_json", "The request body is not valid JSON.", status=400, headers=headers)
    if "messages" in data:
        details = _webargs_paths(data["messages"])
        return error_response("validation_error", "The request is not valid.", details, 422 if status == 422 else status, headers)
    if status >= 500:
        kind = database.failure_kind(getattr(error, "original_exception", None))
        if kind is not None:  # raised after the view, while finishing the answer: too late to run it again
            return unavailable_response(kind)
        log.exception("unhandled error", exc_info=error)
        return error_response("internal_error", "Something went wrong on our side.", status=500, headers=headers)
    code = _HTTP_CODES.get(status, "http_error")
    message = data.get("message") or error.description or error.name
    if status == 413:
        message = "The request body is too large."
    if status == 405:
        headers.update({"Allow": ", ".join(error.valid_methods or [])})
    return error_response(code, message, status=status, headers=headers)


def unavailable_response(kind: str):
    """503 when the database is away or overloaded, with Retry-After; the phone retries with the same key."""
    request.environ[database.ANSWERED_503] = True
    retry_after = {"Retry-After": str(current_app.config.get("DB_RETRY_AFTER_SECONDS", 5))}
    if kind == database.UNAVAILABLE:
        return error_response("database_unavailable", "The database is not available right now; try again in a few seconds.",
                              status=503, headers=retry_after)
    return error_response("database_busy", "The database is too busy right now; try again in a few seconds.",
                          status=503, headers=retry_after)


def _server_body_error(error: Exception) -> bool:
    """An error of the WSGI server's body reader (gunicorn: a bad chunk size), met while reading the request."""
    return type(error).__module__.startswith("gunicorn.http")


def register_error_handlers(app: Flask, *, session) -> None:
    """Every failure becomes the JSON error format; nothing leaks as an HTML page or a 500 trace."""

    def rollback():
        database.rollback_quietly(session)  # the connection may be the thing that failed

    def database_failure(error: Exception, kind: str):
        # Run the request once more when that cannot apply a change twice (app.common.database), else 503.
        retry = database.may_retry(kind)
        log.warning("database %s on %s %s%s: %s", kind, request.method, request.path, "; running it again" if retry else "",
                    database.describe(error))
        if retry:
            return database.retry_request(session)
        rollback()
        return unavailable_response(kind)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        rollback()
        return error_response(error.code, error.message, error.details, error.status, error.headers)

    from marshmallow import ValidationError

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        rollback()
        details = field_paths(error.messages)
        return error_response("validation_error", "The request is not valid.", details, 422)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        rollback()
        return http_error_response(error)

    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database_error(error: Exception):
        # The database went away (restart, failover), or is overloaded: run the request again when that is safe,
        # else 503 with Retry-After (app.common.database). Any other database error is a bug: 500.
        kind = database.failure_kind(error)
        if kind is not None:
            return database_failure(error, kind)
        return _unexpected(error)

    @app.errorhandler(IntegrityError)
    def _integrity_error(error: IntegrityError):
        # A concurrent request won the race past the service's own uniqueness check.
        rollback()
        log.warning("integrity error on %s %s: %s", request.method, request.path, str(error).splitlines()[0])
        return error_response("conflict", "This conflicts with a change made at the same time; reload and try again.", status=409)

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def _unstorable_value(error: Exception):
        # An id beyond the column's range or a NUL character in text: the database refuses the input itself.
        rollback()
        log.warning("unstorable value on %s %s: %s", request.method, request.path, str(error).splitlines()[0])
        return error_response(
            "invalid_value", "A value in the request is out of range or contains characters that cannot be stored.", status=422)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        kind = database.failure_kind(error)
        if kind is not None:
            return database_failure(error, kind)
        rollback()
        if _server_body_error(error):
            log.warning("unreadable body on %s %s: %s", request.method, request.path, error)
            return error_response("malformed_body", "The request body could not be read: its framing is invalid.", status=400)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal_error", "Something went wrong on our side.", status=500)
