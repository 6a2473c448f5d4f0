"""HTTP for Baton's outgoing notifications: urllib3 connection pools used directly, the layer ``requests`` sits on.

* :class:`HttpPool` -- requests to a vendor's API (the chat and SMS channels, :mod:`app.notify.channels`).
* :class:`PushPool` -- what :class:`app.notify.webpush.WebPushSender` posts through: every endpoint checked by
  :class:`EndpointPolicy` and its connection pinned to the checked address.

Both behave as the tuned ``requests`` session they replace (a ``Session`` that read the environment once, kept no
cookies, never followed a redirect, with an adapter of ``max_retries=0``), without its per-request machinery
(preparing, merging settings, hooks, cookie jars, its Response), which cost more CPU than urllib3's own work for
these small requests: about 0.25 ms a request (see bench/README.md, bench_push.py).

* ``maxsize`` keep-alive connections per host (per address for push), never blocking for a free one; nothing is
  retried (the caller retries); a 3xx is the answer, not followed;
* the timeout bounds the connect and each read;
* the environment is honoured as ``requests`` reads it: ``*_PROXY``/``NO_PROXY`` (once per origin),
  ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (once, at construction; otherwise certifi's bundle);
* a request that gets no answer raises :class:`TransportError`, named as ``requests`` named the failure.

No Flask, no database.
"""

from __future__ import annotations

import json as jsonlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    prepend_scheme_if_needed,
    select_proxy,
    urldefragauth,
)
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util import Retry, Timeout, make_headers, parse_url

from app.notify.endpoints import EndpointPolicy, EndpointRefused

__all__ = ["HttpPool", "HttpResponse", "PushPool", "TransportError"]


class TransportError(Exception):
    """A request that got no HTTP answer (or an unreadable one).

    ``name`` is what ``requests`` called the same failure, so delivery errors keep their wording (``network:
    ConnectTimeout``, ``network: ProxyError``, ...); ``retry`` says whether a later attempt may succeed (timeouts,
    refused or dropped connections, TLS and proxy failures) or not (a malformed URL or proxy setting).
    """

    def __init__(self, name: str, *, retry: bool) -> None:
        super().__init__(name)
        self.name = name
        self.retry = retry


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str | None
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes

    @property
    def status_code(self) -> int:
        return self.status

    def json(self) -> Any:
        """The body as JSON (UTF-8, -16 or -32, as RFC 8259 allows); raises ValueError when it is not JSON."""
        return jsonlib.loads(self.body)


class HttpPool:
    """urllib3 connection pools for requests to fixed hosts (a vendor's API); see the module docstring."""

    _MAX_CACHED = 1024

    def __init__(self, *, maxsize: int, timeout: float, num_pools: int = 64,
                 user_agent: str = f"baton python-urllib3/{urllib3.__version__}") -> None:
        self._num_pools = num_pools
        self._maxsize = maxsize
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._retries = Retry(0, read=False)  # what requests' max_retries=0 means: no retry, errors as they come
        self._headers = {"User-Agent": user_agent}
        self._pools = urllib3.PoolManager(num_pools=num_pools, maxsize=maxsize, block=False)
        self._proxy_managers: dict[str, urllib3.PoolManager] = {}
        self._proxy_cache: dict[str, str | None] = {}
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        self._ca_bundle = ca_bundle
        self._ca_bundle_exists = os.path.exists(ca_bundle)
        self._tls_kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        self._tls_kwargs["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle

    def close(self) -> None:
        self._pools.clear()
        for manager in list(self._proxy_managers.values()):
            manager.clear()

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None) -> HttpResponse:
        """One request; ``params`` are added to the query and ``json`` is sent as the body, both as requests does.

        :raises TransportError: no (readable) answer.
        """
        prepared = requests.PreparedRequest()
        try:
            prepared.prepare_url(url, _encode_params(params))  # requests' own URL handling: IDNA host, requoting
        except requests.RequestException as exc:  # MissingSchema, InvalidURL
            raise TransportError(type(exc).__name__, retry=False) from exc
        request_headers = {**self._headers, **(headers or {})}
        body = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            if not any(name.lower() == "content-type" for name in request_headers):
                request_headers["Content-Type"] = "application/json"
        parts = urlsplit(prepared.url)
        scheme = parts.scheme.lower()
        proxy = self._proxy_for(prepared.url)
        try:
            manager = self._pools if proxy is None else self._proxy_manager(proxy)
            pool = manager.connection_from_host(parts.hostname, parts.port, scheme,
                                                pool_kwargs=self._pool_kwargs(scheme, None))
        except ValueError as exc:
            raise TransportError("InvalidURL", retry=False) from exc
        target = urldefragauth(prepared.url) if proxy is not None and scheme == "http" else prepared.path_url
        return self._open(pool, method, target, body, request_headers)

    # -- shared with PushPool -------------------------------------------------------------------------------------

    def _pool_kwargs(self, scheme: str, server_hostname: str | None) -> dict[str, Any] | None:
        if scheme != "https":
            return None
        if not self._ca_bundle_exists:  # as requests: an error of this request, not of the process
            raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {self._ca_bundle}")
        if server_hostname is None:
            return self._tls_kwargs
        return {**self._tls_kwargs, "server_hostname": server_hostname, "assert_hostname": server_hostname}

    def _open(self, pool: Any, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        """Send on a pool and read the whole answer, failures mapped as requests mapped them."""
        try:
            response = pool.urlopen(
                method, target, body=body, headers=headers, retries=self._retries, redirect=False,
                assert_same_host=False, timeout=self._timeout, preload_content=False, decode_content=False,
            )
        except MaxRetryError as exc:
            raise _named(exc.reason, _RETRIES_EXHAUSTED, TransportError("ConnectionError", retry=True)) from exc
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # anything else (InvalidHeader...): sending again won't help
            raise _named(exc, _WHILE_SENDING, TransportError(type(exc).__name__, retry=False)) from exc
        try:
            data = response.read(decode_content=True)
        except _WHILE_READING_CAUGHT as exc:
            raise _named(exc, _WHILE_READING) from exc
        finally:
            response.release_conn()
        return HttpResponse(response.status, response.reason, response.headers, data)

    def _proxy_for(self, url: str) -> str | None:
        """The proxy for this URL's origin from the environment, read once per origin, or None."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        try:
            return self._proxy_cache[origin]
        except KeyError:
            pass
        proxy = select_proxy(url, get_environ_proxies(url))  # {} when NO_PROXY matches
        if len(self._proxy_cache) >= self._MAX_CACHED:
            self._proxy_cache.clear()
        self._proxy_cache[origin] = proxy
        return proxy

    def _proxy_manager(self, proxy: str) -> urllib3.PoolManager:
        manager = self._proxy_managers.get(proxy)
        if manager is not None:
            return manager
        if proxy.lower().startswith("socks"):  # requests without PySocks (which Baton does not install)
            raise TransportError("InvalidSchema", retry=False)
        proxy_url = prepend_scheme_if_needed(proxy, "http")
        if not parse_url(proxy_url).host:
            raise TransportError("InvalidProxyURL", retry=False)
        username, password = get_auth_from_url(proxy_url)
        proxy_headers = make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
        manager = urllib3.proxy_from_url(proxy_url, proxy_headers=proxy_headers, num_pools=self._num_pools,
                                         maxsize=self._maxsize, block=False)
        return self._proxy_managers.setdefault(proxy, manager)


def _encode_params(params: Mapping[str, Any] | None) -> str | None:
    """A query string as requests encodes a dict of parameters: UTF-8, a list value repeated, a None value left out."""
    if not params:
        return None
    pairs = []
    for key, values in params.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        for value in values:
            if value is not None:
                pairs.append((key.encode("utf-8") if isinstance(key, str) else key,
                              value.encode("utf-8") if isinstance(value, str) else value))
    return urlencode(pairs, doseq=True)


# What requests named each urllib3 failure and whether sending again may help, the first kind that matches: the
# reason of a MaxRetryError, a failure while sending, and one while reading the answer.
_RETRIES_EXHAUSTED = (
    (NewConnectionError, "ConnectionError", True),  # before ConnectTimeoutError, which it subclasses
    (ConnectTimeoutError, "ConnectTimeout", True),
    (ResponseError, "RetryError", False),
    (ProxyError, "ProxyError", True),
    (SSLError, "SSLError", True),
)
_WHILE_SENDING = (
    ((ProtocolError, OSError, ClosedPoolError), "ConnectionError", True),
    (ProxyError, "ProxyError", True),
    (SSLError, "SSLError", True),
    (ReadTimeoutError, "ReadTimeout", True),
)
_WHILE_READING = (
    (ProtocolError, "ChunkedEncodingError", True),
    (DecodeError, "ContentDecodingError", True),
    (ReadTimeoutError, "ConnectionError", True),
    (SSLError, "SSLError", True),
)
_WHILE_READING_CAUGHT = tuple(kind for kind, _, _ in _WHILE_READING)


def _named(error: BaseException | None, table: tuple, otherwise: TransportError | None = None) -> TransportError:
    """`error` as the first row of `table` it is an instance of names it; `otherwise` when none does."""
    return next((TransportError(name, retry=retry) for kind, name, retry in table if isinstance(error, kind)), otherwise)


class PushPool(HttpPool):
    """POSTs to push endpoints, each checked and its connection pinned to the checked address.

    Before each request the endpoint goes through :class:`EndpointPolicy` (https, allowed host, every resolved
    address public; resolutions cached briefly) and the connection pool is keyed by the checked IP address
    instead of the host name, so urllib3 connects to exactly the address that was checked and never resolves the
    name again (no DNS-rebinding window). The name is kept where it belongs: the ``Host`` header, TLS SNI
    (``server_hostname``) and certificate verification (``assert_hostname``). This is the approach of Saleor's
    requests-hardened ``IPFilterAdapter``. Through a proxy, an https CONNECT tunnel is opened to the checked
    address as well. Pools are kept for up to 64 addresses (WNS alone has many hosts).
    """

    def __init__(self, *, endpoint_policy: EndpointPolicy, maxsize: int, timeout: float) -> None:
        super().__init__(maxsize=maxsize, timeout=timeout, num_pools=64,
                         user_agent=f"baton-webpush urllib3/{urllib3.__version__}")
        self._policy = endpoint_policy
        self._targets: dict[str, str] = {}

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST ``body`` to a push endpoint and read the whole answer.

        :raises EndpointRefused, EndpointUnresolvable: from the policy; nothing was sent.
        :raises TransportError: no (readable) answer.
        """
        destination = self._policy.destination(url)
        if not destination.host.isascii():  # requests' IDNA form of the name would not be the name checked
            raise EndpointRefused("not a valid URL")
        proxy = self._proxy_for(url)
        host = f"[{destination.address}]" if ":" in destination.address else destination.address
        pool_kwargs = self._pool_kwargs(destination.scheme, destination.host)
        try:
            manager = self._pools if proxy is None else self._proxy_manager(proxy)
            pool = manager.connection_from_host(host, destination.port, destination.scheme, pool_kwargs=pool_kwargs)
            target = self._target(url, absolute=proxy is not None and destination.scheme == "http")
        except ValueError as exc:  # a URL urllib3 cannot use; requests called it InvalidURL
            raise TransportError("InvalidURL", retry=False) from exc
        return self._open(pool, "POST", target, body, {"Host": destination.host_header, **self._headers, **headers})

    def _target(self, url: str, *, absolute: bool) -> str:
        """The request target: path and query as urllib3 normalises them (the absolute URL for an http proxy)."""
        if absolute:
            return parse_url(url)._replace(fragment=None).url
        target = self._targets.get(url)
        if target is None:
            target = parse_url(url).request_uri
            if len(self._targets) >= self._MAX_CACHED:
                self._targets.clear()
            self._targets[url] = target
        return target
