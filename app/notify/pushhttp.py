"""The HTTP session Web Push delivery uses: a ``requests`` Session and adapter tuned for many small POSTs.

No Flask, no database; used only by :class:`app.notify.webpush.WebPushSender`.
"""

from __future__ import annotations

import http.cookiejar
import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from app.notify.endpoints import EndpointPolicy, EndpointRefused

__all__ = ["PushAdapter", "PushSession"]


class PushSession(requests.Session):
    """A ``requests.Session`` tuned for many small POSTs from many threads.

    Only this module uses it, always as ``post(endpoint, data=bytes,
    headers=..., timeout=...)`` (from pywebpush's ``WebPusher.send``). Per
    request, a stock Session re-scans ``os.environ`` for proxies, stats
    ``~/.netrc``, builds and merges cookie jars and runs several
    ``typing.Protocol`` isinstance checks; together that costs more CPU than
    encrypting the message. Differences from a stock Session:

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


class PushAdapter(HTTPAdapter):
    """HTTPAdapter that checks every endpoint and pins its connection to the checked address.

    Before each request the endpoint goes through :class:`EndpointPolicy` (https, allowed host, every
    resolved address public; resolutions cached briefly) and the connection pool is keyed by the
    checked IP address instead of the host name, so urllib3 connects to exactly the address that was
    checked and never resolves the name again (no DNS-rebinding window). The name is kept where it
    belongs: the ``Host`` header, TLS SNI (``server_hostname``) and certificate verification
    (``assert_hostname``). This is the approach of Saleor's requests-hardened ``IPFilterAdapter``.
    Through a proxy, an https CONNECT tunnel is opened to the checked address as well.

    The pool-key attributes requests computes per request (``urlparse`` plus an ``os.path.isdir`` on
    the CA bundle) are memoised per origin; for a handful of push services they never change.
    """

    _MAX_CACHED = 1024

    def __init__(self, *args: Any, endpoint_policy: EndpointPolicy, **kwargs: Any) -> None:
        self._policy = endpoint_policy
        super().__init__(*args, **kwargs)
        self._pool_key_cache: dict[tuple, tuple[dict, dict]] = {}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # Raises EndpointRefused / EndpointUnresolvable, which requests and pywebpush pass through.
        destination = self._policy.destination(request.url)
        host_params, pool_kwargs = self._pool_key_attributes(request, verify, cert)
        if (host_params["host"] or "").rstrip(".") != destination.host:
            raise EndpointRefused("not a valid URL")  # both parse with urllib.parse; never expected
        host_params["host"] = f"[{destination.address}]" if ":" in destination.address else destination.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = destination.host
            pool_kwargs["assert_hostname"] = destination.host
        request.headers["Host"] = destination.host_header
        return host_params, pool_kwargs

    def _pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, verify, cert)
        try:
            cached = self._pool_key_cache.get(key)
        except TypeError:  # unhashable verify/cert: don't cache
            return super().build_connection_pool_key_attributes(request, verify, cert)
        if cached is None:
            cached = super().build_connection_pool_key_attributes(request, verify, cert)
            if len(self._pool_key_cache) >= self._MAX_CACHED:
                self._pool_key_cache.clear()
            self._pool_key_cache[key] = cached
        host_params, pool_kwargs = cached
        return dict(host_params), dict(pool_kwargs)
