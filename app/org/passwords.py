"""Password hashing with Argon2id (argon2-cffi), the current OWASP recommendation, and the rule for new passwords."""
import unicodedata

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


MIN_LENGTH = 8
MAX_LENGTH = 200
# zxcvbn's score: 0 and 1 are "too guessable" (fewer than 10^6 guesses: the common-password lists, keyboard
# walks, repeats, dates, the person's own login or name). Scoring only reads the first characters: a longer
# password is never weaker than its beginning, and matching cost grows with the square of the length.
MIN_SCORE = 2
SCORED_CHARACTERS = 64


def password_problems(password: str, *, user_inputs: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a new password (empty when it may be used): length, control characters, guessability."""
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        return ["Control characters (such as NUL, tab or a line break) are not allowed."]
    from zxcvbn import zxcvbn  # 0.8 MB of word lists, loaded the first time someone sets a password

    inputs = [value for value in user_inputs if value] + ["baton"]
    if zxcvbn(password[:SCORED_CHARACTERS], user_inputs=inputs)["score"] < MIN_SCORE:
        return ["This password is too common or too easy to guess; use a longer phrase of unrelated words."]
    return []
