"""Sign-in and integration keys."""
from flask import current_app, make_response, request
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.auth import service, throttle
from app.common.guard import auth_required, current_user
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
    signed_in = service.login(
        login=body["login"],
        password=body["password"],
        address=request.remote_addr or "unknown",
        device_token=request.cookies.get(throttle.DEVICE_COOKIE),
        now=utcnow(),
        secret_key=cfg["SECRET_KEY"],
        policy=throttle.ThrottlePolicy.from_config(cfg),
        device_max_age=cfg["DEVICE_COOKIE_MAX_AGE_SECONDS"],
    )
    response = make_response(TokenSchema().dump({"token": signed_in.token, "expires_in": cfg["TOKEN_TTL_SECONDS"],
                                                 "user": signed_in.user}))
    # The device cookie lets this device sign in to this login even while someone elsewhere guesses its password.
    response.set_cookie(throttle.DEVICE_COOKIE, signed_in.device_token, max_age=cfg["DEVICE_COOKIE_MAX_AGE_SECONDS"],
                        path="/api/v1/auth", httponly=True, samesite="Strict", secure=cfg["PRODUCTION"])
    return response


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
