"""VAPID (RFC 8292) for Web Push: key pairs, key loading, the subject check and a cache of signed headers.

No Flask, no database; used by :mod:`app.notify.webpush` and by ``flask push init-vapid``.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

__all__ = ["VapidHeaderCache", "audience_of", "b64url", "b64url_decode", "check_subject", "generate_vapid_keypair", "load_vapid"]

#: How long a signed VAPID header is reused for one audience.
VAPID_CACHE_SECONDS = 600.0
#: ``exp`` claim put in each JWT (RFC 8292 requires <= 24 h; we use 12 h).
VAPID_EXP_SECONDS = 12 * 3600
#: Upper bound on cached audiences (endpoints come from browsers, so the
#: set of origins is not fully under our control).
VAPID_CACHE_MAX_ENTRIES = 1024


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    data = data.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def generate_vapid_keypair() -> tuple[str, str]:
    """Create a new VAPID (P-256) key pair.

    Returns ``(private_key, public_key)``, both base64url without padding:
    the private key as the raw 32-byte scalar (what :class:`WebPushSender`
    takes), the public key as the uncompressed 65-byte point (what a
    browser's ``pushManager.subscribe({applicationServerKey})`` wants).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    private_raw = key.private_numbers().private_value.to_bytes(32, "big")
    public_raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(private_raw), b64url(public_raw)


def load_vapid(private_key: str) -> Vapid:
    """Build a py_vapid object from a raw base64url, DER base64 or PEM key."""
    if not isinstance(private_key, str) or not private_key.strip():
        raise ValueError("vapid_private_key must be a non-empty string")
    text = private_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), None)
            vapid = Vapid(key)
        else:
            compact = "".join(text.split())
            raw = b64url_decode(compact)
            if len(raw) == 32:
                vapid = Vapid.from_raw(compact.rstrip("=").encode("ascii"))
            else:
                vapid = Vapid.from_der(compact.encode("ascii"))
    except Exception as exc:  # noqa: BLE001 - never echo the key itself
        raise ValueError(
            f"vapid_private_key is not a usable P-256 key ({type(exc).__name__})"
        ) from None
    if not isinstance(vapid.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        vapid.private_key.curve, ec.SECP256R1
    ):
        raise ValueError("vapid_private_key must be a P-256 (prime256v1) key")
    # py_vapid's strict "sub" check refuses https: URLs with a path, which
    # RFC 8292 allows; check_subject() validates the subject instead.
    vapid.conf = {"no-strict": True}
    return vapid


def check_subject(subject: str) -> str:
    """Validate the VAPID ``sub`` claim: a mailto: or https: URL."""
    if not isinstance(subject, str):
        raise ValueError("vapid_subject must be a string")
    subject = subject.strip()
    lowered = subject.lower()
    if lowered.startswith("mailto:"):
        address = subject[len("mailto:"):]
        if re.match(r"^[^@\s]+@[^@\s]+$", address):
            return subject
    elif lowered.startswith("https://"):
        parts = urlsplit(subject)
        if parts.netloc and not any(c.isspace() for c in subject):
            return subject
    raise ValueError(
        "vapid_subject must be a mailto: address or an https: URL, "
        "e.g. 'mailto:ops@example.com'"
    )


def audience_of(endpoint: str) -> str:
    """The VAPID ``aud`` for an endpoint: its origin ``scheme://host[:port]``."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass
class CachedHeader:
    value: str
    signed_monotonic: float
    exp: int


class VapidHeaderCache:
    """Signs ``Authorization`` headers and reuses them per audience.

    An entry is reused while it is younger than ``max_age`` seconds
    (monotonic clock, immune to wall-clock jumps) and its ``exp`` is still
    more than ``max_age`` seconds away on the wall clock. Thread-safe; a
    miss signs under the lock, which is cheap (one ECDSA signature) and
    avoids every worker signing the same audience at start-up.

    ``monotonic`` and ``wall`` are the clocks (tests pass their own).
    """

    def __init__(
        self,
        vapid: Vapid,
        subject: str,
        max_age: float = VAPID_CACHE_SECONDS,
        exp_seconds: int = VAPID_EXP_SECONDS,
        max_entries: int = VAPID_CACHE_MAX_ENTRIES,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if max_age < 0 or max_age >= exp_seconds:
            raise ValueError("VAPID cache max_age must be in [0, exp_seconds)")
        if exp_seconds > 24 * 3600:
            raise ValueError("VAPID exp must be at most 24 h ahead (RFC 8292)")
        self._vapid = vapid
        self._subject = subject
        self._max_age = max_age
        self._exp_seconds = exp_seconds
        self._max_entries = max_entries
        self._entries: dict[str, CachedHeader] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._wall = wall

    def _fresh(self, entry: CachedHeader, mono: float, wall: float) -> bool:
        return (
            mono - entry.signed_monotonic < self._max_age
            and entry.exp - wall > self._max_age
        )

    def _sign(self, audience: str, wall: float) -> CachedHeader:
        exp = int(wall) + self._exp_seconds
        # A fresh claims dict on every call: nothing shared is mutated.
        claims = {"sub": self._subject, "aud": audience, "exp": exp}
        headers = self._vapid.sign(claims)
        return CachedHeader(headers["Authorization"], self._monotonic(), exp)

    def header(self, audience: str) -> str:
        with self._lock:
            # Read the clocks under the lock: an entry signed by another
            # thread after an earlier reading would look "from the future".
            mono = self._monotonic()
            wall = self._wall()
            entry = self._entries.get(audience)
            if entry is not None and self._fresh(entry, mono, wall):
                return entry.value
            entry = self._sign(audience, wall)
            if self._max_age > 0:
                if audience not in self._entries and len(self._entries) >= self._max_entries:
                    self._evict(mono, wall)
                self._entries[audience] = entry
            return entry.value

    def _evict(self, mono: float, wall: float) -> None:
        stale = [a for a, e in self._entries.items() if not self._fresh(e, mono, wall)]
        for audience in stale:
            del self._entries[audience]
        while len(self._entries) >= self._max_entries:
            oldest = min(self._entries, key=lambda a: self._entries[a].signed_monotonic)
            del self._entries[oldest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
