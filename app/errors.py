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


# A bulk request reports at most this many bad items (the first ones).
MAX_REPORTED_ERRORS = 100


class ErrorList:
    """Collects per-item errors by dotted path; raises one 422 naming them, before anything is written."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS or path in self.errors:
            self.errors.setdefault(path, []).append(message)

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            raise Invalid(f"The {what} were not accepted: fix the items named and post them again; nothing was written.",
                          details=self.errors)


def field_paths(messages, prefix: str = "") -> dict[str, list]:
    """Validation messages as one level of dotted paths, the form every 422 `details` takes (docs/design.md §9).

    marshmallow nests them ({"orders": {3: {"lines": {0: {"sku": [...]}}}}}); the answer names the path
    ("orders.3.lines.0.sku"), so a bad item in a list or a step of a template is named by its index. A schema-level
    message of a nested object belongs to that object's path; at the top it stays under "_schema".
    """
    if isinstance(messages, dict):
        flat: dict[str, list] = {}
        for key, value in messages.items():
            path = prefix if key == "_schema" and prefix else f"{prefix}.{key}" if prefix else str(key)
            for name, found in field_paths(value, path).items():
                flat.setdefault(name, []).extend(found)
        return flat
    if isinstance(messages, list) and any(isinstance(m, dict) for m in messages):
        flat = {}  # a list field's schema-level message beside its items' messages
        for message in messages:
            for name, found in field_paths(message, prefix).items():
                flat.setdefault(name, []).extend(found)
        return flat
    return {prefix or "_schema": list(messages) if isinstance(messages, list) else [messages]}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The error payload of docs/design.md §9."""
    return {"error": {"code": code, "message": message, "details": details or {}}}
