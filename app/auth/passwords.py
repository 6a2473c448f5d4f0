"""Password hashing with Argon2id (argon2-cffi), the current OWASP recommendation."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified against when the login is unknown, so that response time does not reveal which logins exist.
_DUMMY_HASH = _hasher.hash("baton-timing-equaliser")


def configure(*, time_cost: int | None = None, memory_cost: int | None = None) -> None:
    """Tune the KDF (tests lower it; production keeps the library defaults)."""
    global _hasher, _DUMMY_HASH
    kwargs = {k: v for k, v in {"time_cost": time_cost, "memory_cost": memory_cost}.items() if v}
    _hasher = PasswordHasher(**kwargs)
    _DUMMY_HASH = _hasher.hash("baton-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
