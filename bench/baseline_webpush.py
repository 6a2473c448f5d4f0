"""The Web Push sender as it was before issue 18's last step, for bench_push.py to measure in the same run.

``PreviousWebPushSender`` is today's :class:`WebPushSender` (same checks, threads, VAPID cache and outcomes) with its
last two steps done as before: encrypting with pywebpush's ``WebPusher`` (http_ece) and posting through a tuned
``requests`` session whose adapter checks each endpoint and pins its connection to the checked address (the
``PushAdapter`` of app/notify/pushhttp.py until then). Not used by the app.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter

from app.notify.endpoints import EndpointPolicy, EndpointRefused, EndpointUnresolvable
from app.notify.pushhttp import PushResponse, PushSession
from app.notify.vapid import audience_of
from app.notify.webpush import MAX_PAYLOAD_BYTES, MAX_TTL_SECONDS, PushMessage, PushResult, WebPushSender, normalize_topic


class PinningAdapter(HTTPAdapter):
    """requests' adapter checking every endpoint and keying its pool by the checked address (the previous PushAdapter)."""

    def __init__(self, *args: Any, endpoint_policy: EndpointPolicy, **kwargs: Any) -> None:
        self._policy = endpoint_policy
        super().__init__(*args, **kwargs)
        self._pool_key_cache: dict[tuple, tuple[dict, dict]] = {}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        destination = self._policy.destination(request.url)
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, verify, cert)
        cached = self._pool_key_cache.get(key)
        if cached is None:
            cached = self._pool_key_cache[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params, pool_kwargs = dict(cached[0]), dict(cached[1])
        if (host_params["host"] or "").rstrip(".") != destination.host:
            raise EndpointRefused("not a valid URL")
        host_params["host"] = f"[{destination.address}]" if ":" in destination.address else destination.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = destination.host
            pool_kwargs["assert_hostname"] = destination.host
        request.headers["Host"] = destination.host_header
        return host_params, pool_kwargs


class PreviousWebPushSender(WebPushSender):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session = PushSession()
        adapter = PinningAdapter(endpoint_policy=self.endpoint_policy, pool_connections=64, pool_maxsize=self.max_workers,
                                 max_retries=0, pool_block=False)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        super().close()
        self._session.close()

    def _send(self, message: PushMessage) -> PushResult:
        ref, subscription = message.ref, message.subscription
        data = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        if len(data) > MAX_PAYLOAD_BYTES:
            return PushResult(ref, "failed", error="payload_too_large")
        audience = audience_of(subscription["endpoint"])
        headers = {"Authorization": self._vapid_headers.header(audience), "Urgency": message.urgency or "normal"}
        topic = normalize_topic(message.topic)
        if topic:
            headers["Topic"] = topic
        try:
            response = WebPusher(subscription, requests_session=self._session).send(
                data, headers, ttl=min(message.ttl, MAX_TTL_SECONDS), content_encoding="aes128gcm", timeout=self.timeout)
        except (EndpointRefused, EndpointUnresolvable, requests.RequestException) as exc:
            return PushResult(ref, "retry", error=f"network: {type(exc).__name__}")
        return self._classify(ref, audience, PushResponse(response.status_code, response.reason, response.headers,
                                                          response.content))
