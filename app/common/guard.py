"""Request-level authentication for views: who is calling, and may they call this.

Who a request's credentials name is the auth package's rule (`app.auth.service.authenticate`), handed to
`init_app` by the app factory; this module only asks it once per request and checks roles, permissions and
scopes on the principal it answers (anything with `user`, `api_key`, `has_role`, `can` and `has_scope`).
"""
from functools import wraps

from flask import Flask, current_app, request

from app.errors import Forbidden, Unauthorized

_UNSET = object()


def init_app(app: Flask, *, authenticate) -> None:
    """`authenticate(authorization=, api_key=)` answers the principal the request's credentials name, or None."""
    app.extensions["baton.authenticate"] = authenticate


def current_principal(required: bool = True):
    """The caller of this request, resolved once and cached on the request (not `g`, which can outlive it)."""
    principal = request.environ.get("baton.principal", _UNSET)
    if principal is _UNSET:
        principal = current_app.extensions["baton.authenticate"](
            authorization=request.headers.get("Authorization"),
            api_key=request.headers.get("X-API-Key"),
        )
        request.environ["baton.principal"] = principal
    if principal is None and required:
        raise Unauthorized("Sign in first.", code="unauthorized")
    return principal


def auth_required(*, roles: tuple[str, ...] = (), permission: str | None = None, scope: str | None = None):
    """Allow signed-in users (optionally only some roles or a permission) and, with `scope`, API keys holding it."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if principal.api_key is not None:
                if scope is None or not principal.has_scope(scope):
                    raise Forbidden("This API key may not do that.", code="insufficient_scope")
            elif roles or permission:
                allowed = (roles and principal.has_role(*roles)) or (permission and principal.can(permission))
                if not allowed:
                    raise Forbidden("You are not allowed to do that.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_user():
    """The signed-in person (views guarded by auth_required without scope always have one)."""
    principal = current_principal()
    if principal.user is None:
        raise Forbidden("An API key cannot act as a person.", code="user_required")
    return principal.user
