"""Web Push delivery (RFC 8030 / RFC 8291 / RFC 8292).

A pure delivery module: no Flask, no database. The caller (e.g. an outbox
worker) turns rows into :class:`PushMessage` objects, calls
:meth:`WebPushSender.send_many` and acts on each :class:`PushResult`:

* ``"sent"``   -- the push service accepted the message (2xx).
* ``"gone"``   -- 404/410: the subscription no longer exists, delete it.
* ``"retry"``  -- 408/429/5xx or a network error/timeout; try again later,
  not before ``retry_after`` seconds when the service said so.
* ``"failed"`` -- permanent failure (400, 401/403 VAPID rejected, 413,
  invalid subscription, payload too large, ...). Do not retry unchanged.
* ``"refused"`` -- the endpoint's URL breaks the endpoint rules (not https,
  credentials, a host that is not allowed, a non-public address literal; see
  :mod:`app.notify.endpoints`); nothing was sent. Never retry; drop the
  subscription. A host *name* that resolves to a non-public address is
  ``"retry"`` instead: nothing is sent, but DNS may be faulty for a while.

Payloads are JSON-encoded and encrypted with ``aes128gcm`` (RFC 8291 over
RFC 8188, :mod:`app.notify.pushcrypto`: a new ECDH key pair and salt per
message, all primitives from ``cryptography``); requests carry a VAPID
``Authorization: vapid t=..., k=...`` header and go out through urllib3
connection pools (:class:`app.notify.pushhttp.PushPool`). Signed VAPID headers
are cached per push-service origin (audience) for a few minutes, so a batch to
one push service signs once, not once per message.

Nothing secret is logged: no keys, no JWTs, no payloads and no full
endpoint URLs (an endpoint is a capability URL; only its origin is logged).
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from app.notify.endpoints import EndpointPolicy, EndpointRefused, EndpointUnresolvable
from app.notify.pushcrypto import encrypt_aes128gcm
from app.notify.pushhttp import HttpResponse, PushPool, TransportError
from app.notify.vapid import (
    VAPID_CACHE_SECONDS,
    VapidHeaderCache,
    audience_of,
    b64url,
    b64url_decode,
    check_subject,
    generate_vapid_keypair,
    load_vapid,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_TTL_SECONDS",
    "URGENCIES",
    "PushMessage",
    "PushResult",
    "WebPushSender",
    "generate_vapid_keypair",
    "normalize_topic",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

#: Largest accepted JSON payload (UTF-8 bytes, before encryption). Push
#: services accept 4096 bytes of *encrypted* body; aes128gcm adds 103 bytes
#: (86-byte header, 1 delimiter byte, 16-byte tag), so 3000 leaves headroom.
MAX_PAYLOAD_BYTES = 3000

#: Longest TTL sent. FCM and the other major services cap TTL at 4 weeks.
MAX_TTL_SECONDS = 28 * 24 * 3600

#: Valid values of the ``Urgency`` header (RFC 8030 section 5.3).
URGENCIES = frozenset({"very-low", "low", "normal", "high"})


_TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MAX_ERROR_BODY = 200

Outcome = Literal["sent", "gone", "retry", "failed", "refused"]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def normalize_topic(topic: str | None) -> str | None:
    """Return a ``Topic`` header value valid per RFC 8030 section 5.4.

    A topic that already is 1-32 characters of the URL-safe base64 alphabet
    is kept as-is; anything else (too long, spaces, ``:`` ...) is replaced by
    a stable 32-character hash of it, so the same logical topic always
    collapses to the same header. ``None`` or ``""`` means no topic.
    """
    if topic is None or topic == "":
        return None
    if _TOPIC_RE.match(topic):
        return topic
    digest = hashlib.sha256(topic.encode("utf-8")).digest()
    return b64url(digest)[:32]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header into seconds from now.

    Accepts delta-seconds (``"120"``) and an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``). A date in the past gives ``0.0``.
    Returns ``None`` when the header is missing or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return max(0.0, seconds)
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _subscription_keys(subscription: Any) -> tuple[str | None, dict[str, bytes]]:
    """``(problem, keys)``: an error string if the subscription cannot possibly work, else its raw
    ``p256dh`` and ``auth`` keys."""
    if not isinstance(subscription, dict):
        return "subscription is not a dict", {}
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return "missing endpoint", {}
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "endpoint is not an http(s) URL", {}
    keys = subscription.get("keys")
    if not isinstance(keys, dict):
        return "missing keys", {}
    raw_keys: dict[str, bytes] = {}
    for name, size in (("p256dh", 65), ("auth", 16)):
        value = keys.get(name)
        if not isinstance(value, str) or not value:
            return f"missing keys.{name}", {}
        try:
            raw = b64url_decode(value)
        except (ValueError, TypeError):
            return f"keys.{name} is not base64url", {}
        if name == "p256dh" and (len(raw) != size or raw[0] != 0x04):
            return "keys.p256dh is not an uncompressed P-256 point", {}
        if name == "auth" and len(raw) != size:
            return "keys.auth is not 16 bytes", {}
        raw_keys[name] = raw
    return None, raw_keys


def _origin_for_log(subscription: Any) -> str:
    try:
        return audience_of(subscription["endpoint"])
    except Exception:  # noqa: BLE001
        return "?"


# --------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------


@dataclass
class PushMessage:
    """One notification to one subscription.

    ``payload`` is a small JSON object, e.g.
    ``{"title": ..., "body": ..., "url": ..., "tag": ..., "actions": [...]}``;
    it must encode to at most :data:`MAX_PAYLOAD_BYTES` bytes.
    ``topic`` collapses undelivered messages with the same topic on the push
    service; any string is accepted and normalised (see
    :func:`normalize_topic`).
    """

    ref: Any
    subscription: dict
    payload: dict
    ttl: int = 24 * 3600
    urgency: str = "normal"
    topic: str | None = None


@dataclass(frozen=True)
class PushResult:
    ref: Any
    outcome: Outcome
    http_status: int | None = None
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


# --------------------------------------------------------------------------
# Sender
# --------------------------------------------------------------------------


class WebPushSender:
    """Concurrent Web Push sender.

    One instance is meant to live for the whole process (or worker run): it
    owns one :class:`PushPool` (urllib3) whose connection pools hold
    ``max_workers`` keep-alive connections per push-service address, a thread pool of
    ``max_workers`` threads (created on first :meth:`send_many`) and the
    VAPID header cache. Use it as a context manager or call :meth:`close`.

    :param vapid_private_key: the raw 32-byte base64url private key from
        :func:`generate_vapid_keypair` (a base64 DER key or a PEM string is
        accepted as well).
    :param vapid_subject: ``mailto:ops@example.com`` or an ``https:`` URL.
    :param max_workers: concurrent requests in :meth:`send_many`; also the
        connection pool size per host.
    :param timeout: seconds for connect and for each read.
    :param vapid_cache_seconds: reuse a signed VAPID header per push-service
        origin for this long (0 disables caching).
    :param endpoint_policy: which endpoints may be sent to; every request is
        checked and its connection pinned to the checked address. Default:
        https on any host resolving only to public addresses.
    """

    def __init__(
        self,
        vapid_private_key: str,
        vapid_subject: str,
        max_workers: int = 64,
        timeout: float = 10.0,
        *,
        vapid_cache_seconds: float = VAPID_CACHE_SECONDS,
        endpoint_policy: EndpointPolicy | None = None,
    ) -> None:
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError("max_workers must be a positive integer")
        if not timeout or timeout <= 0:
            raise ValueError("timeout must be positive")
        self._vapid = load_vapid(vapid_private_key)
        self._subject = check_subject(vapid_subject)
        self.max_workers = max_workers
        self.timeout = float(timeout)
        self._vapid_headers = VapidHeaderCache(
            self._vapid, self._subject, max_age=vapid_cache_seconds
        )
        self.public_key = b64url(
            self._vapid.public_key.public_bytes(
                serialization.Encoding.X962,
                serialization.PublicFormat.UncompressedPoint,
            )
        )

        self.endpoint_policy = endpoint_policy or EndpointPolicy()
        # Never silently re-POSTs (the caller retries); reads the proxy and CA settings of the environment.
        self._http = PushPool(endpoint_policy=self.endpoint_policy, maxsize=max_workers, timeout=self.timeout)

        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads and close pooled connections."""
        with self._executor_lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> WebPushSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._closed:
                raise RuntimeError("WebPushSender is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix="webpush"
                )
            return self._executor

    # -- sending -----------------------------------------------------------

    def send_many(self, messages: list[PushMessage]) -> list[PushResult]:
        """Send all messages concurrently; results are in input order.

        Per-message problems never raise: each becomes a :class:`PushResult`.
        Up to ``max_workers`` pool threads each take the next unsent message
        until none is left (one task per thread rather than one future per
        message: fewer wake-ups and allocations per message).
        """
        messages = list(messages)
        count = len(messages)
        if count == 0:
            return []
        if count == 1:
            return [self.send(messages[0])]

        results: list[PushResult | None] = [None] * count
        next_index = iter(range(count))
        index_lock = threading.Lock()

        def drain() -> None:
            while True:
                with index_lock:
                    i = next(next_index, None)
                if i is None:
                    return
                results[i] = self.send(messages[i])

        executor = self._get_executor()
        tasks = [executor.submit(drain) for _ in range(min(self.max_workers, count))]
        for task in tasks:
            task.result()  # drain() only raises on BaseException (e.g. KeyboardInterrupt)
        return [
            r if r is not None else self._internal_error(m, RuntimeError("no result"))
            for m, r in zip(messages, results)
        ]

    def send(self, message: PushMessage) -> PushResult:
        """Send one message; never raises for a per-message failure."""
        if self._closed:
            raise RuntimeError("WebPushSender is closed")
        try:
            return self._send(message)
        except Exception as exc:  # noqa: BLE001
            return self._internal_error(message, exc)

    def _internal_error(self, message: Any, exc: Exception) -> PushResult:
        ref = getattr(message, "ref", None)
        logger.warning(
            "webpush: unexpected %s sending ref=%r to %s",
            type(exc).__name__,
            ref,
            _origin_for_log(getattr(message, "subscription", None)),
        )
        return PushResult(ref, "failed", error=f"internal_error: {type(exc).__name__}")

    def _send(self, message: PushMessage) -> PushResult:
        ref = message.ref

        problem, keys = _subscription_keys(message.subscription)
        if problem:
            return PushResult(ref, "failed", error=f"invalid_subscription: {problem}")

        try:
            data = json.dumps(
                message.payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return PushResult(ref, "failed", error=f"payload_not_json: {exc}")
        if len(data) > MAX_PAYLOAD_BYTES:
            return PushResult(ref, "failed", error="payload_too_large")

        ttl = message.ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            return PushResult(ref, "failed", error="invalid_ttl")
        ttl = min(ttl, MAX_TTL_SECONDS)

        urgency = message.urgency or "normal"
        if urgency not in URGENCIES:
            return PushResult(ref, "failed", error="invalid_urgency")

        if message.topic is not None and not isinstance(message.topic, str):
            return PushResult(ref, "failed", error="invalid_topic")
        topic = normalize_topic(message.topic)

        try:
            body = encrypt_aes128gcm(data, keys["p256dh"], keys["auth"])
        except ValueError as exc:  # e.g. a p256dh that is not a point on P-256
            return PushResult(
                ref, "failed", error=f"invalid_subscription: {type(exc).__name__} while encrypting"
            )

        endpoint = message.subscription["endpoint"]
        audience = audience_of(endpoint)
        headers = {
            "Authorization": self._vapid_headers.header(audience),
            "Urgency": urgency,
        }
        if topic:
            headers["Topic"] = topic
        headers["TTL"] = str(ttl)
        headers["Content-Encoding"] = "aes128gcm"

        try:
            response = self._http.post(endpoint, body, headers)
        except EndpointRefused as exc:
            logger.warning("webpush: ref=%r refused: %s", ref, exc.reason)
            if exc.by_address:
                # Nothing was sent. The name may resolve to a public address again (a passing DNS fault): retry later,
                # within the delivery's attempts, and keep the device.
                return PushResult(ref, "retry", error=f"endpoint_refused: {exc.reason}")
            return PushResult(ref, "refused", error=f"endpoint_refused: {exc.reason}")
        except EndpointUnresolvable:
            logger.info("webpush: %s does not resolve ref=%r", audience, ref)
            return PushResult(ref, "retry", error="network: host does not resolve")
        except TransportError as exc:
            if exc.retry:
                logger.info("webpush: %s to %s ref=%r", exc.name, audience, ref)
                return PushResult(ref, "retry", error=f"network: {exc.name}")
            return PushResult(ref, "failed", error=f"request: {exc.name}")

        return self._classify(ref, audience, response)

    @staticmethod
    def _classify(ref: Any, audience: str, response: HttpResponse) -> PushResult:
        status = response.status
        if 200 <= status < 300:
            return PushResult(ref, "sent", http_status=status)

        detail = f"http {status}"
        if response.reason:
            detail += f" {response.reason}"
        # No charset sniffing: push-service error bodies are short ASCII/JSON.
        body = response.body[:_MAX_ERROR_BODY].decode("utf-8", "replace").strip()
        if body:
            detail += f": {body}"

        if status in (404, 410):
            outcome: Outcome = "gone"
        elif status in (408, 429) or 500 <= status < 600:
            outcome = "retry"
        else:  # 400, 401/403 (VAPID), 413, other 4xx, unexpected 1xx/3xx
            outcome = "failed"
        retry_after = (
            parse_retry_after(response.headers.get("Retry-After"))
            if outcome == "retry"
            else None
        )
        log = logger.warning if outcome == "failed" else logger.debug
        log("webpush: ref=%r %s from %s", ref, f"http {status}", audience)
        return PushResult(ref, outcome, http_status=status, retry_after=retry_after, error=detail)
