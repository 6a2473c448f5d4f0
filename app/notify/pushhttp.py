"""HTTP for Baton's outgoing notifications: the Web Push transport and the vendor channels' session.

* :class:`PushPool` -- what :class:`app.notify.webpush.WebPushSender` posts through: urllib3 connection pools
  used directly (the layer ``requests`` sits on), every endpoint checked by :class:`EndpointPolicy` and its
  connection pinned to the checked address. A Web Push request is one small POST with a handful of headers,
  and ``requests`` spent about 0.25 ms of CPU per message on its session machinery (preparing, merging
  settings, hooks, cookies, building its Response) on top of urllib3's own; see bench/README.md.
* :class:`PushSession` -- a ``requests.Session`` tuned for many small POSTs, which the vendor channels
  (:mod:`app.notify.channels`) use.

No Flask, no database.
"""

from __future__ import annotations

import http.cookiejar
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    prepend_scheme_if_needed,
    select_proxy,
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

__all__ = ["PushPool", "PushResponse", "PushSession", "PushTransportError"]

class PushSession(requests.Session):
    """A ``requests.Session`` tuned for many small POSTs from many threads.

    The vendor channels (:mod:`app.notify.channels`) use it for their token
    and message calls. Per request, a stock Session re-scans ``os.environ``
    for proxies, stats ``~/.netrc``, builds and merges cookie jars and runs
    several ``typing.Protocol`` isinstance checks. Differences from a stock
    Session:

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


# --------------------------------------------------------------------------
# The Web Push transport: urllib3 pools, endpoints checked and pinned
# --------------------------------------------------------------------------


class PushTransportError(Exception):
    """A POST that got no HTTP answer (or an unreadable one).

    ``name`` is what the ``requests``-based sender called the same failure, so delivery errors keep their
    wording (``network: ConnectTimeout``, ``network: ProxyError``, ...); ``retry`` says whether a later attempt
    may succeed (timeouts, refused or dropped connections, TLS and proxy failures) or not (a malformed proxy
    setting or URL).
    """

    def __init__(self, name: str, *, retry: bool) -> None:
        super().__init__(name)
        self.name = name
        self.retry = retry


@dataclass(frozen=True)
class PushResponse:
    status: int
    reason: str | None
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes


class PushPool:
    """POSTs to push endpoints through urllib3 connection pools, each checked and pinned to the checked address.

    Before each request the endpoint goes through :class:`EndpointPolicy` (https, allowed host, every resolved
    address public; resolutions cached briefly) and the connection pool is keyed by the checked IP address
    instead of the host name, so urllib3 connects to exactly the address that was checked and never resolves the
    name again (no DNS-rebinding window). The name is kept where it belongs: the ``Host`` header, TLS SNI
    (``server_hostname``) and certificate verification (``assert_hostname``). This is the approach of Saleor's
    requests-hardened ``IPFilterAdapter``. Through a proxy, an https CONNECT tunnel is opened to the checked
    address as well.

    It behaves as the ``requests`` session it replaces (``PushSession`` with a pinning adapter, ``max_retries=0``):

    * ``maxsize`` keep-alive connections per push-service address, pools for up to 64 addresses, never blocking
      for a free connection; nothing is retried (the caller retries), redirects are not followed (a 3xx is
      the answer);
    * the timeout bounds the connect and each read;
    * the environment is honoured as ``requests`` reads it: ``*_PROXY``/``NO_PROXY`` (once per push-service
      origin), ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (once, here; otherwise certifi's bundle);
    * failures raise :class:`PushTransportError` named as ``requests`` named them.
    """

    _MAX_CACHED = 1024
    NUM_POOLS = 64  # per-address pools kept (WNS alone has many hosts)

    def __init__(self, *, endpoint_policy: EndpointPolicy, maxsize: int, timeout: float) -> None:
        self._policy = endpoint_policy
        self._maxsize = maxsize
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._retries = Retry(0, read=False)  # what requests' max_retries=0 means: no retry, errors as they come
        self._headers = {"User-Agent": f"baton-webpush urllib3/{urllib3.__version__}"}
        self._pools = urllib3.PoolManager(num_pools=self.NUM_POOLS, maxsize=maxsize, block=False)
        self._proxy_managers: dict[str, urllib3.PoolManager] = {}
        self._proxy_cache: dict[str, str | None] = {}
        self._targets: dict[str, str] = {}
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        self._ca_bundle = ca_bundle
        self._tls_kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        self._tls_kwargs["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle
        self._ca_bundle_exists = os.path.exists(ca_bundle)

    def close(self) -> None:
        self._pools.clear()
        for manager in list(self._proxy_managers.values()):
            manager.clear()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PushResponse:
        """POST ``body`` to a push endpoint and read the whole answer.

        :raises EndpointRefused, EndpointUnresolvable: from the policy; nothing was sent.
        :raises PushTransportError: no (readable) answer.
        """
        destination = self._policy.destination(url)
        if not destination.host.isascii():  # requests' IDNA form of the name would not be the name checked
            raise EndpointRefused("not a valid URL")
        proxy = self._proxy_for(url)
        host = f"[{destination.address}]" if ":" in destination.address else destination.address
        if destination.scheme == "https":
            if not self._ca_bundle_exists:
                raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {self._ca_bundle}")
            pool_kwargs = {**self._tls_kwargs, "server_hostname": destination.host, "assert_hostname": destination.host}
        else:
            pool_kwargs = None
        try:
            manager = self._pools if proxy is None else self._proxy_manager(proxy)
            pool = manager.connection_from_host(host, destination.port, destination.scheme, pool_kwargs=pool_kwargs)
            target = self._target(url, absolute=proxy is not None and destination.scheme == "http")
        except ValueError as exc:  # a URL urllib3 cannot use; requests called it InvalidURL
            raise PushTransportError("InvalidURL", retry=False) from exc
        request_headers = {"Host": destination.host_header, **self._headers, **headers}
        try:
            response = pool.urlopen(
                "POST", target, body=body, headers=request_headers, retries=self._retries, redirect=False,
                assert_same_host=False, timeout=self._timeout, preload_content=False, decode_content=False,
            )
        except (ProtocolError, OSError) as exc:
            raise PushTransportError("ConnectionError", retry=True) from exc
        except MaxRetryError as exc:
            raise _transport_error(exc.reason) from exc
        except ClosedPoolError as exc:
            raise PushTransportError("ConnectionError", retry=True) from exc
        except ProxyError as exc:
            raise PushTransportError("ProxyError", retry=True) from exc
        except SSLError as exc:
            raise PushTransportError("SSLError", retry=True) from exc
        except ReadTimeoutError as exc:
            raise PushTransportError("ReadTimeout", retry=True) from exc
        except urllib3.exceptions.HTTPError as exc:  # InvalidHeader and the like: sending again will not help
            raise PushTransportError(type(exc).__name__, retry=False) from exc
        try:
            data = response.read(decode_content=True)
        except ProtocolError as exc:
            raise PushTransportError("ChunkedEncodingError", retry=True) from exc
        except DecodeError as exc:
            raise PushTransportError("ContentDecodingError", retry=True) from exc
        except ReadTimeoutError as exc:
            raise PushTransportError("ConnectionError", retry=True) from exc
        except SSLError as exc:
            raise PushTransportError("SSLError", retry=True) from exc
        finally:
            response.release_conn()
        return PushResponse(response.status, response.reason, response.headers, data)

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

    def _proxy_for(self, url: str) -> str | None:
        """The proxy for this endpoint's origin from the environment, read once per origin, or None."""
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
            raise PushTransportError("InvalidSchema", retry=False)
        proxy_url = prepend_scheme_if_needed(proxy, "http")
        if not parse_url(proxy_url).host:
            raise PushTransportError("InvalidProxyURL", retry=False)
        username, password = get_auth_from_url(proxy_url)
        proxy_headers = make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
        manager = urllib3.proxy_from_url(proxy_url, proxy_headers=proxy_headers, num_pools=self.NUM_POOLS,
                                         maxsize=self._maxsize, block=False)
        return self._proxy_managers.setdefault(proxy, manager)


def _transport_error(reason: Exception | None) -> PushTransportError:
    """What requests made of urllib3's MaxRetryError, by its reason."""
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return PushTransportError("ConnectTimeout", retry=True)
    if isinstance(reason, ResponseError):
        return PushTransportError("RetryError", retry=False)
    if isinstance(reason, ProxyError):
        return PushTransportError("ProxyError", retry=True)
    if isinstance(reason, SSLError):
        return PushTransportError("SSLError", retry=True)
    return PushTransportError("ConnectionError", retry=True)
