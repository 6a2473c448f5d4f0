"""Which push endpoints Baton may POST to, and the checked address to connect to (against SSRF).

A push endpoint is a URL a browser hands us, so a signed-in person can hand us any URL. Before anything
is sent to it, an endpoint must be ``https`` without credentials, on an allowed host (in production the
browsers' push services), and its host must resolve only to public addresses. The rule is checked when a
subscription is saved and again before every send; at send time the connection is pinned to the address
that was checked (see :class:`app.notify.pushhttp.PushPool`), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect a push inside the network.

No Flask, no database; resolutions are cached briefly so a batch does not resolve once per message.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.util.connection import allowed_gai_family

from app.config import ConfigError

__all__ = [
    "KNOWN_PUSH_SERVICES",
    "Destination",
    "EndpointPolicy",
    "EndpointRefused",
    "EndpointUnresolvable",
    "is_public_address",
    "policy_from_config",
    "resolve_host",
]

#: The browsers' push services, the hosts of every ``PushSubscription.endpoint`` they hand out:
#: Chrome, Edge, Opera, Samsung Internet and other Chromium browsers (Firebase Cloud Messaging),
#: Firefox (Mozilla autopush), Safari on macOS and iOS (Apple, e.g. ``web.push.apple.com``; Apple
#: asks to allow ``*.push.apple.com``) and Edge's Windows Push Notification Services
#: (``wns2-<region>.notify.windows.com``). The default of BATON_PUSH_ALLOWED_HOSTS in production.
KNOWN_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)

#: How long a checked resolution is reused. The connection always goes to the address that was
#: checked, so this only bounds how long a moved push service keeps getting the old address.
CACHE_SECONDS = 60.0
#: How long a failed resolution is remembered (so a batch to a dead host does not resolve per message).
FAILURE_CACHE_SECONDS = 5.0
_MAX_CACHED_HOSTS = 4096

# Ranges that are not reachable public hosts but that some Python versions' ``is_global`` lets through
# (or that embed an IPv4 address that could be private): CGNAT, 6to4 and its relay, NAT64, benchmark,
# documentation, ORCHIDv2, segment routing, multicast and the rest of 240/4.
_NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:10::/28", "2001:20::/28",
    "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))


class EndpointRefused(Exception):
    """The endpoint breaks the rules.

    ``by_address``: the URL itself is acceptable but its host name resolves to a non-public address now. That can
    be an attack (DNS rebinding) or a passing DNS fault (split-horizon DNS, a resolver answering a captive address);
    nothing is sent either way, but the device is not forgotten for it. Otherwise the URL itself breaks the rules
    and sending to it again will never help.
    """

    def __init__(self, reason: str, *, by_address: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.by_address = by_address


class EndpointUnresolvable(Exception):
    """The endpoint's host did not resolve (now); a later attempt may succeed."""


def is_public_address(text: str) -> bool:
    """Whether an IP address is a public unicast address (IPv4-mapped IPv6 judged by its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast \
            or ip.is_reserved or ip.is_unspecified or (ip.version == 6 and ip.is_site_local):
        return False
    return not any(ip in net for net in _NOT_PUBLIC)


def resolve_host(host: str) -> list[str]:
    """The host's addresses from the system resolver, in the order a connection would try them."""
    try:
        infos = socket.getaddrinfo(host, None, family=allowed_gai_family(), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointUnresolvable(f"{host} does not resolve") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _host_patterns(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Parse BATON_PUSH_ALLOWED_HOSTS: None or "*" allows any (public) host."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    patterns = tuple(p.strip().lower().rstrip(".") for p in items if p and p.strip())
    if not patterns or "*" in patterns:
        return None
    for pattern in patterns:
        name = pattern[2:] if pattern.startswith("*.") else pattern
        if not name or "*" in name or "/" in name or ":" in name and not _ip_literal(name):
            raise ConfigError(f"BATON_PUSH_ALLOWED_HOSTS: {pattern!r} is not a host name or a *.domain wildcard")
    return patterns


@dataclass(frozen=True)
class Destination:
    """Where an endpoint may be sent: the URL's host and port, and the checked address to connect to."""

    scheme: str
    host: str
    port: int | None
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


class EndpointPolicy:
    """The push-endpoint rules, with a short cache of checked resolutions (thread-safe, shared per process).

    :param allowed_hosts: host names, ``*.domain`` wildcards (any subdomain, not the domain itself), or
        None for any host. Addresses are checked whatever the list says.
    :param allow_private: tests and development only: also accept ``http`` and loopback/private addresses.
    :param resolver: ``host -> [ip, ...]``; raises :class:`EndpointUnresolvable`. Tests pass their own.
    """

    def __init__(
        self,
        *,
        allowed_hosts: str | Iterable[str] | None = None,
        allow_private: bool = False,
        resolver: Callable[[str], list[str]] = resolve_host,
        cache_seconds: float = CACHE_SECONDS,
        failure_cache_seconds: float = FAILURE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_hosts = _host_patterns(allowed_hosts)
        self.allow_private = bool(allow_private)
        self._resolver = resolver
        self._cache_seconds = cache_seconds
        self._failure_cache_seconds = failure_cache_seconds
        self._clock = clock
        # host -> (expires, address or None, (exception class, reason) or None)
        self._cache: dict[str, tuple[float, str | None, tuple[type, str] | None]] = {}
        self._lock = threading.Lock()

    def destination(self, url: str) -> Destination:
        """Check an endpoint and answer the address to connect to; raises EndpointRefused or EndpointUnresolvable."""
        scheme, host, port = self._target(url)
        return Destination(scheme, host, port, self._address(host))

    def host_allowed(self, host: str) -> bool:
        if self.allowed_hosts is None:
            return True
        return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in self.allowed_hosts)

    def _target(self, url: str) -> tuple[str, str, int | None]:
        if not isinstance(url, str) or any(c in url for c in "\\\t\r\n ") or not url.isprintable():
            raise EndpointRefused("not a valid URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise EndpointRefused("not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.allow_private):
            raise EndpointRefused("must use https")
        if "@" in parts.netloc:
            raise EndpointRefused("must not contain a user name or password")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise EndpointRefused("has no host")
        if not self.host_allowed(host):
            raise EndpointRefused(f"{host} is not a known push service (BATON_PUSH_ALLOWED_HOSTS)")
        return scheme, host, port

    def _address(self, host: str) -> str:
        now = self._clock()
        entry = self._cache.get(host)
        if entry is None or entry[0] <= now:
            entry = self._check(host, now)
            with self._lock:
                if len(self._cache) >= _MAX_CACHED_HOSTS:
                    self._cache.clear()
                self._cache[host] = entry
        _, address, failure = entry
        if failure is not None:
            kind, reason, *by_address = failure  # a fresh exception each time: cached ones would grow tracebacks
            raise kind(reason, by_address=by_address[0]) if by_address else kind(reason)
        return address

    def _check(self, host: str, now: float) -> tuple[float, str | None, tuple[type, str] | None]:
        literal = _ip_literal(host)
        try:
            addresses = [literal] if literal else list(self._resolver(host))
            if not addresses:
                raise EndpointUnresolvable(f"{host} has no addresses")
        except EndpointUnresolvable as exc:
            return now + self._failure_cache_seconds, None, (EndpointUnresolvable, str(exc))
        if not self.allow_private and not all(is_public_address(a) for a in addresses):
            reason = f"{host} is not a public address" if literal else f"{host} resolves to a non-public address"
            return now + self._cache_seconds, None, (EndpointRefused, reason, not literal)
        return now + self._cache_seconds, addresses[0], None


_policies: dict[tuple, EndpointPolicy] = {}


def policy_from_config(config) -> EndpointPolicy:
    """The policy set by BATON_PUSH_ALLOWED_HOSTS and BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS (one per process)."""
    if config.get("PUSH_ENDPOINT_POLICY") is not None:  # tests: a policy with their own resolver
        return config["PUSH_ENDPOINT_POLICY"]
    production = bool(config.get("PRODUCTION"))
    allow_private = bool(config.get("PUSH_ALLOW_PRIVATE_ENDPOINTS"))  # refused in production by app.config at start-up
    hosts = config.get("PUSH_ALLOWED_HOSTS") or (",".join(KNOWN_PUSH_SERVICES) if production else "*")
    key = (hosts, allow_private)
    if key not in _policies:
        _policies[key] = EndpointPolicy(allowed_hosts=hosts, allow_private=allow_private)
    return _policies[key]
