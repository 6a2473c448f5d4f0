"""The Web Push sender as it was before issue 18's last step, for bench_push.py to measure in the same run.

``PreviousWebPushSender`` is today's :class:`WebPushSender` (same checks, threads, VAPID cache and outcomes) with its
last two steps done as before: encrypting with pywebpush's ``WebPusher`` (http_ece) and posting through a tuned
``requests`` session whose adapter checks each endpoint and pins its connection to the checked address (the
``PushSession`` and ``PushAdapter`` of app/notify/pushhttp.py until then). Not used by the app.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
from typing import Any
from urllib.parse import urlsplit

import requests
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from app.notify.endpoints import EndpointPolicy, EndpointRefused, EndpointUnresolvable
from app.notify.pushhttp import HttpResponse
from app.notify.vapid import audience_of
from app.notify.webpush import MAX_PAYLOAD_BYTES, MAX_TTL_SECONDS, PushMessage, PushResult, WebPushSender, normalize_topic


class PushSession(requests.Session):
    """A ``requests.Session`` tuned for many small POSTs from many threads.

    The previous sender used it, always as ``post(endpoint, data=bytes,
    headers=..., timeout=...)`` (from pywebpush's ``WebPusher.send``). Per
    request, a stock Session re-scans ``os.environ`` for proxies, stats
    ``~/.netrc``, builds and merges cookie jars and runs several
    ``typing.Protocol`` isinstance checks. Differences from a stock Session:

    * The environment (``*_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE``/
      ``CURL_CA_BUNDLE``) is honoured, but read once: at construction for
      the CA bundle, once per push-service origin for proxies.
    * No netrc credentials (push services authenticate with VAPID) and no
      cookies (refused by policy; a shared jar is shared mutable state).
    * Redirects are not followed: push services do not redirect, and
      following one would turn the POST into a GET (or send the capability
      URL's payload elsewhere). A 3xx is reported to the caller.
    """

    _MAX_CACHED_ORIGINS = 1024

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        # Only what a push service needs: no Accept / Accept-Encoding (bodies
        # are tiny) and no "Connection: keep-alive" (HTTP/1.1's default).
        self.headers = CaseInsensitiveDict(
            {"User-Agent": f"baton-webpush python-requests/{requests.__version__}"}
        )
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self.verify = ca_bundle
        self._proxy_cache: dict[str, dict[str, str]] = {}

    def _env_proxies(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        proxies = self._proxy_cache.get(origin)
        if proxies is None:
            proxies = dict(get_environ_proxies(url))  # {} when NO_PROXY matches
            if len(self._proxy_cache) >= self._MAX_CACHED_ORIGINS:
                self._proxy_cache.clear()
            self._proxy_cache[origin] = proxies
        return proxies

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        # Same precedence as requests: explicit > environment > session.
        merged = dict(self.proxies or {})
        merged.update(self._env_proxies(url))
        merged.update(proxies or {})
        return {
            "proxies": merged,
            "stream": self.stream if stream is None else stream,
            "verify": self.verify if verify is None else verify,
            "cert": self.cert if cert is None else cert,
        }

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        headers = CaseInsensitiveDict(self.headers)
        for name, value in (request.headers or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=request.method.upper() if request.method else request.method,
            url=request.url,
            headers=headers,
            files=request.files,
            data=request.data,
            json=request.json,
            params=request.params or None,
            auth=request.auth or self.auth,
            cookies=self.cookies,
            hooks=merge_hooks(request.hooks, self.hooks),
        )
        return prepared


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
        return self._classify(ref, audience, HttpResponse(response.status_code, response.reason, response.headers,
                                                          response.content))
