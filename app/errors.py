"""Domain errors, and the JSON error format every failure is answered in (app/error_handlers.py answers them)."""
import marshmallow as ma


class DomainError(Exception):
    """A rule was broken; services raise these, never HTTP exceptions."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None, headers=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}


class Invalid(DomainError):
    status = 422
    code = "validation_error"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable machine-readable code, e.g. validation_error"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for people"})
    details = ma.fields.Dict(required=True, metadata={"description": "Per-field messages, or other context; may be empty"})


class ErrorSchema(ma.Schema):
    """The documented shape of every error answer (OpenAPI `Error`)."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The error payload of docs/design.md §9."""
    return {"error": {"code": code, "message": message, "details": details or {}}}
