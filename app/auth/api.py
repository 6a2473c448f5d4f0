"""Sign-in and integration keys."""
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth import service
from app.auth.guard import auth_required, current_user
from app.auth.models import ApiKey
from app.auth.schemas import ApiKeyCreatedSchema, ApiKeySchema, LoginSchema, TokenSchema
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from sqlalchemy import select

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in and API keys")


@blp.route("/auth/login", methods=["POST"])
@blp.doc(security=[])  # the one operation that needs no credentials
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
def login(body):
    """Sign in with login and password; answers a bearer token."""
    cfg = current_app.config
    token, user = service.login(
        login=body["login"],
        password=body["password"],
        address=request.remote_addr or "unknown",
        now=utcnow(),
        secret_key=cfg["SECRET_KEY"],
        window=cfg["LOGIN_FAILURE_WINDOW_SECONDS"],
        max_login=cfg["LOGIN_MAX_FAILURES_PER_LOGIN"],
        max_address=cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"],
    )
    return {"token": token, "expires_in": cfg["TOKEN_TTL_SECONDS"], "user": user}


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @auth_required(roles=("admin",))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(ApiKeySchema))
    def get(self, page):
        """List integration keys (secrets are never shown again)."""
        return paginate(select(ApiKey).order_by(ApiKey.id), **page)

    @auth_required(roles=("admin",))
    @blp.arguments(ApiKeySchema)
    @blp.response(201, ApiKeyCreatedSchema)
    def post(self, body):
        """Create an integration key; the secret `key` appears only in this answer."""
        key, secret = service.create_api_key(name=body["name"], scopes=body["scopes"], created_by=current_user(), now=utcnow())
        key.key = secret  # transient: never stored
        return key


@blp.route("/api-keys/<int:key_id>", methods=["DELETE"])
@auth_required(roles=("admin",))
@blp.response(200, ApiKeySchema)
def revoke(key_id):
    """Revoke an integration key."""
    return service.revoke_api_key(key_id=key_id, now=utcnow())
