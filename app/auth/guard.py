"""Request-level authentication for views: who is calling, and may they call this."""
from functools import wraps

from flask import current_app, request

from app.auth.principal import Principal
from app.auth.service import authenticate
from app.common.clock import utcnow
from app.errors import Forbidden, Unauthorized

_UNSET = object()


def current_principal(required: bool = True) -> Principal | None:
    """The caller of this request, resolved once and cached on the request (not `g`, which can outlive it)."""
    principal = request.environ.get("baton.principal", _UNSET)
    if principal is _UNSET:
        principal = authenticate(
            authorization=request.headers.get("Authorization"),
            api_key=request.headers.get("X-API-Key"),
            secret_key=current_app.config["SECRET_KEY"],
            token_ttl=current_app.config["TOKEN_TTL_SECONDS"],
            now=utcnow(),
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
