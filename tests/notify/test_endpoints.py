"""The push-endpoint rules (app.notify.endpoints): addresses, URLs, allowed hosts, the resolution cache, settings.

No database and no network: names are resolved by a resolver passed in, never by the system's DNS.
"""
import pytest

from app.config import ConfigError, from_environment
from app.notify.endpoints import (
    KNOWN_PUSH_SERVICES,
    EndpointPolicy,
    EndpointRefused,
    EndpointUnresolvable,
    is_public_address,
    policy_from_config,
)

PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class Resolver:
    """A DNS stand-in: answers from a dict the test changes, and counts lookups."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = 0

    def __call__(self, host):
        self.calls += 1
        if host not in self.answers:
            raise EndpointUnresolvable(f"{host} does not resolve")
        return self.answers[host]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "192.168.1.10", "169.254.169.254", "100.64.0.1",
    "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.0.8",
    "192.0.2.1", "198.18.0.1", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1", "::127.0.0.1",
    "2002:7f00:1::1", "64:ff9b::7f00:1", "2001::1", "2001:db8::1", "fe80::1%eth0", "not-an-address",
])
def test_non_public_addresses_are_refused(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", [PUBLIC_V4, "8.8.8.8", "142.250.185.74", PUBLIC_V6, "2a00:1450:4001:80b::200a",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert is_public_address(address) is True


@pytest.mark.parametrize("url, reason", [
    ("http://push.example.net/x", "https"),
    ("ftp://push.example.net/x", "https"),
    ("https://user:secret@push.example.net/x", "user name"),
    ("https://user@push.example.net/x", "user name"),
    ("https://push.example.net\\@127.0.0.1/x", "valid URL"),
    ("https://push.example.net:99999/x", "valid URL"),
    ("https://push.example.net/x y", "valid URL"),
    ("https:///x", "no host"),
    ("https://127.0.0.1/x", "not a public address"),
    ("https://127.0.0.1:8443/x", "not a public address"),
    ("https://10.0.0.1/x", "not a public address"),
    ("https://169.254.169.254/latest/meta-data/", "not a public address"),
    ("https://100.64.0.1/x", "not a public address"),
    ("https://[::1]/x", "not a public address"),
    ("https://[::ffff:7f00:1]/x", "not a public address"),
    ("https://[fe80::1]/x", "not a public address"),
    ("https://loopback.example.net/x", "resolves to a non-public address"),
    ("https://metadata.example.net/x", "resolves to a non-public address"),
    ("https://mixed.example.net/x", "resolves to a non-public address"),  # one bad answer is enough
    ("https://mapped.example.net/x", "resolves to a non-public address"),
    ("https://cgnat.example.net:8443/x", "resolves to a non-public address"),
])
def test_refused_endpoints(url, reason):
    policy = EndpointPolicy(resolver=Resolver({
        "push.example.net": [PUBLIC_V4], "loopback.example.net": ["127.0.0.1"], "metadata.example.net": ["169.254.169.254"],
        "mixed.example.net": [PUBLIC_V4, "10.1.2.3"], "mapped.example.net": ["::ffff:192.168.0.1"],
        "cgnat.example.net": ["100.100.100.100"],
    }))
    with pytest.raises(EndpointRefused) as info:
        policy.destination(url)
    assert reason in info.value.reason
    assert "secret" not in info.value.reason


def test_a_public_endpoint_gives_the_address_to_connect_to():
    policy = EndpointPolicy(resolver=Resolver({"push.example.net": [PUBLIC_V6, PUBLIC_V4]}))
    destination = policy.destination("https://push.example.net/wpush/v2/abc")
    assert (destination.scheme, destination.host, destination.port, destination.address) == (
        "https", "push.example.net", None, PUBLIC_V6)
    assert destination.host_header == "push.example.net"
    odd_port = policy.destination("https://Push.Example.NET.:8443/x")  # odd ports are fine on public hosts
    assert (odd_port.host, odd_port.port, odd_port.host_header) == ("push.example.net", 8443, "push.example.net:8443")
    assert policy.destination(f"https://{PUBLIC_V4}/x").address == PUBLIC_V4


def test_allow_private_is_for_the_local_fake_push_service():
    policy = EndpointPolicy(allow_private=True, resolver=Resolver({"push.test": ["127.0.0.1"]}))
    assert policy.destination("http://127.0.0.1:8080/push/x").address == "127.0.0.1"
    assert policy.destination("https://push.test:8443/push/x").address == "127.0.0.1"
    with pytest.raises(EndpointRefused):
        policy.destination("http://user:pw@127.0.0.1:8080/push/x")


@pytest.mark.parametrize("host, allowed", [
    ("fcm.googleapis.com", True),
    ("updates.push.services.mozilla.com", True),
    ("web.push.apple.com", True),
    ("wns2-par02p.notify.windows.com", True),
    ("db5p.notify.windows.com", True),
    ("FCM.googleapis.com", True),
    ("push.apple.com", False),  # a wildcard covers subdomains only
    ("evilpush.apple.com", False),
    ("notify.windows.com.evil.example", False),
    ("fcm.googleapis.com.evil.example", False),
    ("googleapis.com", False),
    ("storage.googleapis.com", False),
    ("push.example.net", False),
])
def test_known_push_services(host, allowed):
    policy = EndpointPolicy(allowed_hosts=KNOWN_PUSH_SERVICES, resolver=Resolver({host.lower(): [PUBLIC_V4]}))
    if allowed:
        assert policy.destination(f"https://{host}/send/abc").address == PUBLIC_V4
    else:
        with pytest.raises(EndpointRefused, match="not a known push service"):
            policy.destination(f"https://{host}/send/abc")


def test_an_allowed_host_must_still_resolve_to_public_addresses():
    policy = EndpointPolicy(allowed_hosts="fcm.googleapis.com", resolver=Resolver({"fcm.googleapis.com": ["10.0.0.7"]}))
    with pytest.raises(EndpointRefused, match="non-public"):
        policy.destination("https://fcm.googleapis.com/fcm/send/abc")


def test_one_lookup_per_host_per_cache_period_and_a_fresh_one_after_it():
    answers = {"push.example.net": [PUBLIC_V4]}
    resolver, clock = Resolver(answers), Clock()
    policy = EndpointPolicy(resolver=resolver, clock=clock, cache_seconds=60)
    for i in range(1000):
        assert policy.destination(f"https://push.example.net/push/{i}").address == PUBLIC_V4
    assert resolver.calls == 1
    # DNS rebinding: the name now points inside; once the cache runs out, the new answer is checked and refused.
    answers["push.example.net"] = ["127.0.0.1"]
    clock.now += 30
    assert policy.destination("https://push.example.net/push/x").address == PUBLIC_V4  # still the checked address
    clock.now += 31
    for _ in range(100):
        with pytest.raises(EndpointRefused):
            policy.destination("https://push.example.net/push/x")
    assert resolver.calls == 2  # refusals are cached too


def test_a_failed_lookup_is_remembered_briefly():
    answers = {}
    resolver, clock = Resolver(answers), Clock()
    policy = EndpointPolicy(resolver=resolver, clock=clock, failure_cache_seconds=5)
    for _ in range(50):
        with pytest.raises(EndpointUnresolvable):
            policy.destination("https://push.example.net/x")
    assert resolver.calls == 1
    answers["push.example.net"] = [PUBLIC_V4]
    clock.now += 6
    assert policy.destination("https://push.example.net/x").address == PUBLIC_V4


def test_settings_choose_the_policy():
    production = policy_from_config({"PRODUCTION": True, "PUSH_ALLOWED_HOSTS": None, "PUSH_ALLOW_PRIVATE_ENDPOINTS": False})
    assert production.allowed_hosts == KNOWN_PUSH_SERVICES and not production.allow_private
    development = policy_from_config({"PRODUCTION": False, "PUSH_ALLOWED_HOSTS": None, "PUSH_ALLOW_PRIVATE_ENDPOINTS": False})
    assert development.allowed_hosts is None and not development.allow_private
    custom = policy_from_config({"PRODUCTION": True, "PUSH_ALLOWED_HOSTS": " fcm.googleapis.com, *.push.apple.com ,",
                                 "PUSH_ALLOW_PRIVATE_ENDPOINTS": False})
    assert custom.allowed_hosts == ("fcm.googleapis.com", "*.push.apple.com")
    assert policy_from_config({"PRODUCTION": True, "PUSH_ALLOWED_HOSTS": "*"}).allowed_hosts is None
    assert policy_from_config({"PRODUCTION": False, "PUSH_ALLOWED_HOSTS": None}) is development  # one per process
    with pytest.raises(ConfigError):
        EndpointPolicy(allowed_hosts="push.*.example.com")


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("BATON_ENV", "development")
    monkeypatch.delenv("BATON_PUSH_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS", raising=False)
    config = from_environment()
    assert config["PUSH_ALLOWED_HOSTS"] is None and config["PUSH_ALLOW_PRIVATE_ENDPOINTS"] is False
    monkeypatch.setenv("BATON_PUSH_ALLOWED_HOSTS", "fcm.googleapis.com")
    monkeypatch.setenv("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS", "true")
    config = from_environment()
    assert config["PUSH_ALLOWED_HOSTS"] == "fcm.googleapis.com" and config["PUSH_ALLOW_PRIVATE_ENDPOINTS"] is True


def test_production_refuses_to_start_with_private_endpoints_allowed(monkeypatch):
    monkeypatch.setenv("BATON_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-more-than-32-characters")
    monkeypatch.setenv("VAPID_PRIVATE_KEY", "private")
    monkeypatch.setenv("VAPID_PUBLIC_KEY", "public")
    monkeypatch.setenv("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS", "true")
    with pytest.raises(ConfigError, match="BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS"):
        from_environment()
    monkeypatch.delenv("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS")
    assert from_environment()["PRODUCTION"] is True
