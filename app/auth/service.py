"""Sign-in, bearer tokens, API keys and sign-in throttling."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from app.auth import throttle
from app.auth.models import ApiKey, Scope
from app.org.passwords import verify_password
from app.auth.principal import Principal
from app.errors import Invalid, NotFound, Unauthorized
from app.extensions import db
from app.org.models import User

TOKEN_SALT = "baton.auth.token"
API_KEY_PREFIX = "bk_"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def issue_token(*, user: User, secret_key: str) -> str:
    """A signed token naming the user and their session version; expiry is checked on use."""
    return _serializer(secret_key).dumps({"u": user.id, "v": user.session_version})


# Every request reads its user: one statement for the person, their roles and their permissions (the relationships'
# selectin default costs two more), built once, and read afresh even when the session already holds the user.
_USER_WITH_GRANTS = (
    select(User).where(User.id == bindparam("user_id"))
    .options(joinedload(User.role_rows), joinedload(User.permission_rows))
    .execution_options(populate_existing=True)
)


def user_from_token(*, token: str, secret_key: str, max_age: int) -> User:
    """The active user a token belongs to, or Unauthorized."""
    try:
        claims = _serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired:
        raise Unauthorized("Your session has expired; sign in again.", code="token_expired")
    except BadSignature:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    if not isinstance(claims, dict) or not isinstance(claims.get("u"), int):
        raise Unauthorized("The token is not valid.", code="invalid_token")
    user = db.session.scalars(_USER_WITH_GRANTS, {"user_id": claims["u"]}).unique().one_or_none()
    # Checked on every request, so deactivation or a password reset ends access at once.
    if user is None or not user.active or user.session_version != claims.get("v"):
        raise Unauthorized("This session is no longer valid.", code="session_revoked")
    return user


@dataclass
class SignIn:
    """A successful sign-in: the bearer token, the person, and the device cookie to leave on their device."""

    token: str
    user: User
    device_token: str


def login(*, login: str, password: str, address: str, device_token: str | None, now: datetime, secret_key: str,
          policy: throttle.ThrottlePolicy, device_max_age: int) -> SignIn:
    """Check credentials under the sign-in throttle; only failures count (see `app.auth.throttle`)."""
    # Logins are unique regardless of case (phone keyboards capitalise), so they are matched and throttled that way.
    login = login.strip().lower()
    user = db.session.scalar(select(User).where(func.lower(User.login) == login))
    device = throttle.read_device(token=device_token, secret_key=secret_key, max_age=device_max_age)
    known = throttle.knows(device, login=login, session_version=user.session_version if user else None)
    counters = throttle.counters_for(login=login, address=address, device=device, known_device=known)
    throttle.reserve_attempt(counters=counters, now=now, policy=policy)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or not user.active:
        db.session.rollback()  # the failure was counted when the attempt was reserved
        raise Unauthorized("Wrong login or password.", code="invalid_credentials")
    throttle.give_back(counters=counters, policy=policy)
    db.session.commit()
    return SignIn(token=issue_token(user=user, secret_key=secret_key), user=user,
                  device_token=throttle.remember_device(device=device, login=login, session_version=user.session_version,
                                                        secret_key=secret_key))


def prune_login_throttles(*, now: datetime, window: int) -> int:
    """Drop sign-in counters that have been quiet for a whole window."""
    return throttle.prune(now=now, window=window)


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(*, name: str, scopes: list[str], created_by: User | None, now: datetime) -> tuple[ApiKey, str]:
    """Create an integration key; the secret is returned once and only its hash is kept."""
    unknown = sorted(set(scopes) - {s.value for s in Scope})
    if unknown:
        raise Invalid("Unknown scope.", details={"scopes": [f"unknown scope: {s}" for s in unknown]})
    if not scopes:
        raise Invalid("A key needs at least one scope.", details={"scopes": ["at least one scope is required"]})
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        key_hash=_hash_key(secret),
        prefix=secret[:10],
        scopes=sorted(set(scopes)),
        created_by_id=created_by.id if created_by else None,
        created_at=now,
    )
    db.session.add(key)
    db.session.commit()
    return key, secret


def revoke_api_key(*, key_id: int, now: datetime) -> ApiKey:
    """Revoke a key; it stops working at once."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = now
        db.session.commit()
    return key


def api_key_from_secret(*, secret: str, now: datetime) -> ApiKey:
    """The live key matching a secret, or Unauthorized."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(secret)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("The API key is not valid.", code="invalid_api_key")
    return key


def authenticate(*, authorization: str | None, api_key: str | None, secret_key: str, token_ttl: int, now: datetime) -> Principal | None:
    """Resolve request credentials to a principal; None when none were sent."""
    if api_key:
        return Principal(api_key=api_key_from_secret(secret=api_key, now=now))
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="invalid_token")
        return Principal(user=user_from_token(token=token.strip(), secret_key=secret_key, max_age=token_ttl))
    return None
