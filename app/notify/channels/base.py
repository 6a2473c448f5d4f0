"""What every chat or SMS channel shares: the message, the result, access tokens, the vendors' rate limits.

No Flask, no database (like app/notify/webpush.py): the caller turns rows into :class:`ChannelMessage` objects, calls a
provider's ``send_many`` and acts on each result, as it does for Web Push. Outcomes are Web Push's:

* ``"sent"``  -- the vendor accepted the message.
* ``"gone"``  -- the vendor does not know this person (no such user id, not in the app's visible range, a phone
  number that cannot be texted): the identity is broken; a ladder goes on down to the next channel.
* ``"retry"`` -- the vendor is down, slow or rate limited: try again later (not before ``retry_after`` seconds).
* ``"failed"`` -- anything else (bad credentials, a refused body): retrying unchanged would not help.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

from app.notify.pushhttp import HttpPool, HttpResponse, TransportError

log = logging.getLogger("baton.channels")

Outcome = Literal["sent", "gone", "retry", "failed"]

#: A vendor's token is refreshed this long before the expiry it announced (at most a tenth of its lifetime).
REFRESH_MARGIN_SECONDS = 300.0
#: How long to hold off after a vendor's rate limit said no without saying for how long (their windows are a minute).
RATE_LIMIT_PAUSE_SECONDS = 60.0


@dataclass
class ChannelMessage:
    """One notification to one person on one channel: ``to`` is their identity there (user id, phone number)."""

    ref: Any
    to: str
    title: str
    body: str
    url: str = ""
    actions: list | None = None  # [{"action", "title"}], as on the push (app.notify.messages.buttons)
    links: dict | None = None  # {"claim"|"open": the signed, expiring link of that button} (app.notify.links)


@dataclass(frozen=True)
class ChannelResult:
    ref: Any
    outcome: Outcome
    code: str | None = None  # the vendor's error code (errcode, code, an AWS error code, an HTTP status)
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


class VendorError(Exception):
    """A vendor's answer that is not a success: its code, its words, and how to treat it."""

    def __init__(self, outcome: Outcome, code, detail: str = "", retry_after: float | None = None):
        super().__init__(f"{code}: {detail}")
        self.outcome, self.code, self.detail, self.retry_after = outcome, str(code), detail, retry_after


class TokenExpired(Exception):
    """The vendor says the access token is invalid or expired: fetch a new one once and send again."""

    def __init__(self, code):
        super().__init__(str(code))
        self.code = str(code)


class AccessToken:
    """A vendor access token cached per provider (so per process) and refreshed before it expires."""

    def __init__(self, fetch: Callable[[], tuple[str, float]], clock: Callable[[], float] = time.monotonic):
        self._fetch, self._clock = fetch, clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                token, expires_in = self._fetch()
                margin = min(REFRESH_MARGIN_SECONDS, expires_in / 10)
                self._token, self._refresh_at = token, self._clock() + max(expires_in - margin, 0)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (not a newer one another thread fetched meanwhile)."""
        with self._lock:
            if self._token == token:
                self._token = None


class VendorChannel:
    """A chat vendor over HTTPS with an access token: send one message per request, never more than its limits.

    Subclasses give ``fetch_token()`` (answers the token and its lifetime in seconds) and ``post_message(token,
    message)`` (answers nothing, or raises :class:`TokenExpired` / :class:`VendorError`).
    """

    name = "?"
    #: The vendor's documented limit on this call for one app, per minute (the client holds itself below it).
    per_minute = 1000

    def __init__(self, *, base_url: str, timeout: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 per_minute: int | None = None, max_workers: int = 16):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        # Proxies and CA bundle from the environment, no retries, no redirects followed, no cookies.
        self.http = HttpPool(maxsize=max_workers, timeout=timeout, num_pools=4)
        self.token = AccessToken(self._fetch_token, clock)
        self._limiter = Limiter(InMemoryBucket([Rate(per_minute or self.per_minute, Duration.MINUTE)]))
        self._paused_until = 0.0
        self._pause_lock = threading.Lock()

    # -- the vendor's protocol (subclasses) --------------------------------

    def fetch_token(self) -> tuple[str, float]:
        raise NotImplementedError

    def post_message(self, token: str, message: ChannelMessage) -> None:
        raise NotImplementedError

    # -- sending -------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        return self.fetch_token()

    def send_many(self, messages: list[ChannelMessage]) -> list[ChannelResult]:
        """Send the messages concurrently (``max_workers`` at a time, one connection each); results in input order.
        A vendor's rate limit holds back what is not sent yet (answered ``retry``)."""
        messages = list(messages)
        if len(messages) <= 1 or self.max_workers <= 1:
            return [self.send(m) for m in messages]
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=f"channel-{self.name}")
            executor = self._executor
        return list(executor.map(self.send, messages))

    def send(self, message: ChannelMessage) -> ChannelResult:
        """One message; never raises for a per-message failure."""
        paused = self._paused_until - self._clock()
        if paused > 0:
            return ChannelResult(message.ref, "retry", code="rate_limited", error="held back: the vendor's rate limit",
                                 retry_after=paused)
        if not self._limiter.try_acquire(self.name, blocking=False):
            return ChannelResult(message.ref, "retry", code="rate_limited", error=f"over {self.name}'s limit per minute",
                                 retry_after=RATE_LIMIT_PAUSE_SECONDS)
        try:
            try:
                token = self.token.get()
                try:
                    self.post_message(token, message)
                except TokenExpired:
                    # The vendor may expire a token early (another server fetched a new one, a secret rotated): once.
                    self.token.invalidate(token)
                    self.post_message(self.token.get(), message)
            except TokenExpired as exc:
                raise VendorError("retry", exc.code, "access token refused twice")
        except VendorError as exc:
            if exc.code and exc.outcome == "retry" and exc.retry_after is not None:
                self._pause(exc.retry_after)
            level = logging.WARNING if exc.outcome == "failed" else logging.INFO
            log.log(level, "%s: ref=%r %s %s", self.name, message.ref, exc.code, exc.detail[:200])
            return ChannelResult(message.ref, exc.outcome, code=exc.code, error=exc.detail[:300] or None,
                                 retry_after=exc.retry_after)
        except TransportError as exc:  # named as requests named them: network: ConnectTimeout, request: InvalidURL
            kind = "network" if exc.retry else "request"
            return ChannelResult(message.ref, "retry", code="network", error=f"{kind}: {exc.name}")
        except Exception as exc:  # noqa: BLE001 - a vendor answering something unexpected must not stop the batch
            log.warning("%s: unexpected %s for ref=%r", self.name, type(exc).__name__, message.ref)
            return ChannelResult(message.ref, "failed", code="internal", error=f"internal_error: {type(exc).__name__}")
        return ChannelResult(message.ref, "sent")

    def _pause(self, seconds: float) -> None:
        with self._pause_lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    # -- helpers for subclasses ----------------------------------------------

    def request_json(self, method: str, path: str, **kwargs) -> tuple[HttpResponse, dict]:
        """One call to the vendor (``params``, ``json``, ``headers``); a 5xx or a body that is not JSON is the vendor
        being down (``retry``)."""
        response = self.http.request(method, self.base_url + path, **kwargs)
        if response.status_code >= 500:
            raise VendorError("retry", response.status_code, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise VendorError("retry" if response.status_code in (408, 429) else "failed", response.status_code,
                              f"HTTP {response.status_code}: not JSON")
        if not isinstance(body, dict):
            raise VendorError("failed", response.status_code, "not a JSON object")
        return response, body


    def errcode_token(self, path: str, params: dict, *, retry_codes: set[str]) -> tuple[str, float]:
        """An access token from a `gettoken`-style call answering {errcode, errmsg, access_token, expires_in}
        (DingTalk's and WeCom's); an errcode in `retry_codes` is worth trying again later."""
        _, body = self.request_json("GET", path, params=params)
        code = str(body.get("errcode", -1))
        if code != "0":
            raise VendorError("retry" if code in retry_codes else "failed", code, str(body.get("errmsg") or ""))
        return body["access_token"], float(body.get("expires_in") or 7200)


def button_title(message: ChannelMessage, action: str, default: str = "") -> str:
    """The words of a card's button in the reader's language (the push's buttons), or `default`."""
    return next((a["title"] for a in message.actions or [] if a.get("action") == action), default)


def claim_and_open(message: ChannelMessage, base_url: str = "") -> list[tuple[str, str]]:
    """A card's buttons as (words, link): "Claim" and "Open" for an offer with signed links, else "Open" alone."""
    if (message.links or {}).get("claim"):
        return [(button_title(message, "claim", "Claim"), message.links["claim"]),
                (button_title(message, "open", "Open"), card_link(message, base_url))]
    return [(button_title(message, "open", "Open"), card_link(message, base_url))]


def card_link(message: ChannelMessage, base_url: str = "", action: str = "open") -> str:
    """The absolute link of a card's button: its signed link when the message has one, else the notification's
    deep link in the app (a test message, a server without a public address)."""
    if (message.links or {}).get(action):
        return message.links[action]
    url = message.url or "/"
    return url if url.startswith(("http://", "https://")) or not base_url else base_url.rstrip("/") + url
