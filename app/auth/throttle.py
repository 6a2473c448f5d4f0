"""Sign-in throttling that slows the guesser, not the person whose login is guessed.

The rules (README "Security"), after OWASP's authentication guidance and its "device cookies":

- **One login from one address** (`pair`): the first `free_attempts` failures cost nothing; after that
  each failure doubles the wait before the next attempt (1 s, 2 s, 4 s … up to `max_delay`). The same
  person signing in from anywhere else is not slowed.
- **One login from a device it signed in on before** (`device`): a signed, HttpOnly cookie that a
  successful sign-in leaves on the device. Such a device has its own progressive delay and skips the
  counters below, so the owner of a login under attack still signs in from their own phone.
- **One login from unknown devices anywhere** (`login`): the last resort against guessing spread over
  many addresses; after `max_per_login` failures in a window, unknown devices wait for the window's end.
- **One address, unknown devices, any login** (`address`): against spraying one password over many
  logins; `max_per_address` failures in a window. Successful sign-ins never count, so a warehouse of
  200 people behind one NAT address all sign in at the start of a shift.

Counting is atomic: an attempt reserves its failure (row locks on PostgreSQL, the database lock on
SQLite) before the password is checked, and a success gives it back. Concurrent guesses therefore
check at most `free_attempts` passwords, however many arrive at once.
"""
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import case, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from app.auth.models import LoginThrottle, ThrottleKind
from app.errors import TooManyRequests
from app.extensions import db

DEVICE_SALT = "baton.auth.device"
DEVICE_COOKIE = "baton_device"
MAX_LOGINS_PER_DEVICE = 8  # a shared warehouse phone remembers its last few people


@dataclass(frozen=True)
class ThrottlePolicy:
    """How sign-in failures are counted; built from the BATON_LOGIN_* settings."""

    window: int = 15 * 60
    free_attempts: int = 5
    max_delay: int = 15 * 60
    max_per_login: int = 100
    max_per_address: int = 200

    @classmethod
    def from_config(cls, config) -> "ThrottlePolicy":
        return cls(window=config["LOGIN_FAILURE_WINDOW_SECONDS"], free_attempts=config["LOGIN_FREE_ATTEMPTS"],
                   max_delay=config["LOGIN_MAX_DELAY_SECONDS"], max_per_login=config["LOGIN_MAX_FAILURES_PER_LOGIN"],
                   max_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"])

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after the `failures`-th failure of one login from one place."""
        if failures < self.free_attempts:
            return 0
        return min(2 ** min(failures - self.free_attempts, 30), self.max_delay)


# --- devices that signed in before ----------------------------------------------------------------


def _device_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=DEVICE_SALT)


def read_device(*, token: str | None, secret_key: str, max_age: int) -> dict | None:
    """The claims of a device cookie (`{"d": device id, "l": [[login, session version], …]}`), or None when absent or
    not genuine. A login's entry holds the session version of its sign-in, so a password reset or a deactivation
    ends the device's standing with that login, as it ends the login's tokens."""
    if not token:
        return None
    try:
        claims = _device_serializer(secret_key).loads(token, max_age=max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(claims, dict) and isinstance(claims.get("d"), str) and isinstance(claims.get("l"), list)):
        return None
    return claims


def remember_device(*, device: dict | None, login: str, session_version: int, secret_key: str) -> str:
    """A device cookie that also vouches for `login` at its current session version (a fresh device id when there was none)."""
    others = [entry for entry in (device or {}).get("l", []) if isinstance(entry, list) and entry[:1] != [login]]
    claims = {"d": (device or {}).get("d") or secrets.token_hex(16),
              "l": (others + [[login, session_version]])[-MAX_LOGINS_PER_DEVICE:]}
    return _device_serializer(secret_key).dumps(claims)


def knows(device: dict | None, *, login: str, session_version: int | None) -> bool:
    """Whether the device signed in to `login` since that login's last password change or deactivation."""
    return bool(device) and session_version is not None and [login, session_version] in device["l"]


def address_key(address: str) -> str:
    """How an address is counted: an IPv6 address by its /64, which one subscriber (or one attacker) usually holds whole."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


# --- the counters ---------------------------------------------------------------------------------


def counters_for(*, login: str, address: str, device: dict | None, known_device: bool) -> list[tuple[str, str]]:
    """The counters one sign-in attempt touches, in lock order."""
    address = address_key(address)
    if known_device:
        keys = [(ThrottleKind.DEVICE.value, f"{login}|{device['d']}")]
    else:
        keys = [(ThrottleKind.ADDRESS.value, address), (ThrottleKind.LOGIN.value, login),
                (ThrottleKind.PAIR.value, f"{login}|{address}")]
    return sorted((kind, key[:200]) for kind, key in keys)


def _lock(counters: list[tuple[str, str]], now: datetime) -> list[LoginThrottle]:
    """Create the missing counters and lock all of them for this transaction, always in the same order."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(LoginThrottle).values(
        [{"kind": k, "key": key, "failures": 0, "window_start": now, "last_at": now} for k, key in counters]
    ).on_conflict_do_nothing(index_elements=["kind", "key"]))
    stmt = (select(LoginThrottle).where(tuple_(LoginThrottle.kind, LoginThrottle.key).in_(counters))
            .order_by(LoginThrottle.kind, LoginThrottle.key).with_for_update().execution_options(populate_existing=True))
    return list(db.session.scalars(stmt))


def _progressive(kind: str) -> bool:
    return kind in (ThrottleKind.PAIR, ThrottleKind.DEVICE)


def _start_again_if_quiet(row: LoginThrottle, now: datetime, window: timedelta) -> None:
    # Pair and device counters forget after a whole window without attempts once their wait is over (so waiting out
    # one delay does not start the doubling again); login and address counters count per window.
    if _progressive(row.kind):
        expired = max(row.last_at, row.blocked_until or row.last_at) + window <= now
    else:
        expired = row.window_start + window <= now
    if expired and (row.blocked_until is None or row.blocked_until <= now):
        row.failures, row.window_start, row.blocked_until = 0, now, None


def reserve_attempt(*, counters: list[tuple[str, str]], now: datetime, policy: ThrottlePolicy) -> None:
    """Count this attempt as a failure before the password is checked, or refuse it (429) while a counter waits."""
    window = timedelta(seconds=policy.window)
    rows = _lock(counters, now)
    for row in rows:
        _start_again_if_quiet(row, now, window)
    wait = max(((row.blocked_until - now).total_seconds() for row in rows if row.blocked_until and row.blocked_until > now),
               default=0)
    if wait > 0:
        db.session.commit()
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests("Too many failed sign-in attempts; wait and try again.", code="too_many_attempts",
                              details={"retry_after": seconds}, headers={"Retry-After": str(seconds)})
    for row in rows:
        row.failures += 1
        row.last_at = now
        if _progressive(row.kind):
            delay = policy.delay_after(row.failures)
            row.blocked_until = now + timedelta(seconds=delay) if delay else None
        elif row.failures >= (policy.max_per_login if row.kind == ThrottleKind.LOGIN else policy.max_per_address):
            row.blocked_until = row.window_start + window
    db.session.commit()


def give_back(*, counters: list[tuple[str, str]], policy: ThrottlePolicy) -> None:
    """A successful sign-in: its reserved failure is taken back, and its own login's delay ends (caller commits)."""
    for kind, key in counters:  # in lock order, as `reserve_attempt` took them: two sign-ins at once cannot deadlock
        if _progressive(kind):
            db.session.execute(delete(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key))
            continue
        limit = policy.max_per_login if kind == ThrottleKind.LOGIN else policy.max_per_address
        db.session.execute(update(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key,
                                                       LoginThrottle.failures > 0).values(
            failures=LoginThrottle.failures - 1,
            # the reservation that reached the limit was this success: nothing is blocked after all
            blocked_until=case((LoginThrottle.failures - 1 >= limit, LoginThrottle.blocked_until), else_=None)))


def prune(*, now: datetime, window: int) -> int:
    """Drop counters that are quiet for a window and wait for nothing."""
    result = db.session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_at <= now - timedelta(seconds=window),
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now)))
    db.session.commit()
    return result.rowcount or 0
