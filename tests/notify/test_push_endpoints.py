"""SSRF through Web Push: endpoints are checked when subscribing and again when sending, pinned to the checked address.

The fake push service here speaks https as ``push.example.net`` on 127.0.0.1; a resolver passed to the policy
says where ``push.example.net`` points, so a test can move it (DNS rebinding) without touching the system's DNS.
"""
import base64
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.extensions import db
from app.notify.dispatch import dispatch_pending
from app.notify.endpoints import EndpointPolicy, EndpointUnresolvable, policy_from_config
from app.notify.models import PushDelivery, PushSubscription
from app.notify.providers import WebPushProvider
from app.notify.service import notify
from app.notify.webpush import PushMessage, generate_vapid_keypair
from tests.conftest import assert_error
from tests.notify.push_server import FakePushServer

PRIVATE, PUBLIC = generate_vapid_keypair()
SUBJECT = "mailto:ops@baton.example"
NAME = "push.example.net"
PUBLIC_ADDRESS = "93.184.215.14"


class Resolver:
    """A DNS stand-in the test can repoint; counts lookups."""

    def __init__(self, answers):
        self.answers = dict(answers)
        self.calls = 0

    def __call__(self, host):
        self.calls += 1
        if host not in self.answers:
            raise EndpointUnresolvable(f"{host} does not resolve")
        return self.answers[host]


@pytest.fixture(scope="module")
def tls_push_service():
    with FakePushServer(PUBLIC, hostname=NAME, tls=True) as server:
        yield server


@pytest.fixture
def push(tls_push_service, monkeypatch):
    tls_push_service.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_push_service.ca_file)  # trust the fake service's certificate
    return tls_push_service


@pytest.fixture
def make_provider():
    made = []

    def make(policy):
        made.append(WebPushProvider(private_key=PRIVATE, subject=SUBJECT, max_workers=4, endpoint_policy=policy))
        return made[-1]

    yield make
    for provider in made:
        provider.sender.close()


@pytest.fixture
def rules(app, monkeypatch):
    """The app's own rules (development defaults), whatever the environment running the tests says."""
    for key, value in (("PUSH_ALLOW_PRIVATE_ENDPOINTS", False), ("PUSH_ALLOWED_HOSTS", None), ("PRODUCTION", False),
                       ("PUSH_ENDPOINT_POLICY", None)):
        monkeypatch.setitem(app.config, key, value)
    return app.config


def _keys(push):
    return push.new_subscription()["keys"]


def _subscribe(client, headers, endpoint, keys):
    return client.post("/api/v1/push/subscriptions", json={"endpoint": endpoint, "keys": keys}, headers=headers)


def _subscriptions():
    return db.session.scalar(select(func.count()).select_from(PushSubscription))


def _legacy_subscription(user, subscription) -> PushSubscription:
    """A row written before the rules existed, straight into the table."""
    row = PushSubscription(user_id=user.id, endpoint=subscription["endpoint"], p256dh=subscription["keys"]["p256dh"],
                           auth=subscription["keys"]["auth"], created_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def _queue(user, count=1):
    for i in range(count):
        notify(user_ids=[user.id], kind="work_order.resolved", params={"number": f"WO-{i}", "title": "valve"},
               about={"work_order_id": i}, priority="P2", now=utcnow())
    db.session.commit()


BAD_ENDPOINTS = [
    "http://127.0.0.1:8080/push/x",
    "https://127.0.0.1:8443/push/x",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/push/x",
    "https://192.168.1.10:8443/push/x",
    "https://100.64.0.1/push/x",
    "https://224.0.0.1/push/x",
    "https://0.0.0.0/push/x",
    "https://[::1]/push/x",
    "https://[::ffff:7f00:1]/push/x",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "https://[fe80::1]/push/x",
    "https://localhost/push/x",
    "https://localhost:8443/push/x",
    "https://user:secret@fcm.googleapis.com/fcm/send/x",
]


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS)
def test_subscribing_a_non_public_endpoint_is_refused(client, auth, demo, push, rules, endpoint):
    error = assert_error(_subscribe(client, auth.headers("staff.wh1"), endpoint, _keys(push)), 422, "push_endpoint_not_allowed")
    assert list(error["details"]) == ["endpoint"] and error["details"]["endpoint"][0]
    assert "secret" not in str(error)
    assert _subscriptions() == 0


def test_subscribing_a_public_endpoint_works_and_an_unresolvable_one_waits_for_the_send_time_check(
        client, auth, demo, push, rules, monkeypatch):
    monkeypatch.setitem(rules, "PUSH_ENDPOINT_POLICY", EndpointPolicy(resolver=Resolver({NAME: [PUBLIC_ADDRESS]})))
    headers = auth.headers("staff.wh1")
    assert _subscribe(client, headers, f"https://{NAME}/push/abc", _keys(push)).status_code == 201
    assert _subscribe(client, headers, f"https://{NAME}:8443/push/abc", _keys(push)).status_code == 201  # odd port, public
    assert _subscribe(client, headers, "https://push.invalid/push/abc", _keys(push)).status_code == 201
    assert _subscriptions() == 3


def test_production_accepts_only_the_known_push_services(client, auth, demo, push, rules, monkeypatch):
    headers = auth.headers("staff.wh1")
    monkeypatch.setitem(rules, "PRODUCTION", True)
    error = assert_error(_subscribe(client, headers, f"https://{NAME}/push/abc", _keys(push)), 422, "push_endpoint_not_allowed")
    assert "not a known push service" in error["details"]["endpoint"][0]
    assert _subscribe(client, headers, "https://fcm.googleapis.com/fcm/send/abc", _keys(push)).status_code == 201
    assert _subscribe(client, headers, "https://web.push.apple.com/QGq7abc", _keys(push)).status_code == 201
    monkeypatch.setitem(rules, "PUSH_ALLOWED_HOSTS", f"{NAME},fcm.googleapis.com")  # configured otherwise
    assert _subscribe(client, headers, f"https://{NAME}/push/abc", _keys(push)).status_code == 201


def test_a_legacy_subscription_now_resolving_to_loopback_is_not_posted_to(demo, push, make_provider):
    user = demo.user("cs.agent1")
    subscription = push.new_subscription()  # https://push.example.net:PORT/push/…, served on 127.0.0.1
    _legacy_subscription(user, subscription)
    _queue(user, count=2)
    resolver = Resolver({NAME: ["127.0.0.1"]})
    provider = make_provider(EndpointPolicy(resolver=resolver))

    result = dispatch_pending(now=utcnow(), provider=provider)

    assert result["retry"] == 2 and result["sent"] == result["failed"] == 0
    assert push.request_count == 0 and push.connection_count == 0 and push.received == []
    deliveries = db.session.scalars(select(PushDelivery)).all()
    assert {d.status for d in deliveries} == {"pending"}  # later, within the delivery's attempts
    assert all(d.last_error.startswith("endpoint_refused") and "non-public" in d.last_error for d in deliveries)
    # A name that resolves inside may be an attack or a passing DNS fault: nothing is sent, but the device is kept.
    assert _subscriptions() == 1
    assert resolver.calls == 1  # one lookup for the batch, not one per message
    later = dispatch_pending(now=utcnow() + timedelta(days=1), provider=provider, max_attempts=1)
    assert later["failed"] == 2 and push.request_count == 0  # never sent, however often it is tried


def test_a_name_that_resolved_inside_for_a_while_delivers_once_it_is_public_again(demo, push, make_provider):
    """Split-horizon or faulty DNS must not cost every device on a push service: they are kept, and retried."""
    user = demo.user("cs.agent1")
    subscription = push.new_subscription()
    _legacy_subscription(user, subscription)
    _queue(user)
    clock = [0.0]
    resolver = Resolver({NAME: ["10.0.0.7"]})
    refusing = make_provider(EndpointPolicy(resolver=resolver, clock=lambda: clock[0]))
    assert dispatch_pending(now=utcnow(), provider=refusing)["retry"] == 1
    assert _subscriptions() == 1 and push.request_count == 0
    # The name is public again (the fake service on 127.0.0.1 stands for it, so private addresses are allowed here).
    answering = make_provider(EndpointPolicy(allow_private=True, resolver=Resolver({NAME: ["127.0.0.1"]})))
    assert dispatch_pending(now=utcnow() + timedelta(hours=1), provider=answering)["sent"] == 1
    assert len(push.received_for(subscription)) == 1


def test_the_same_row_is_delivered_when_private_addresses_are_allowed(demo, push, make_provider):
    """The control for the test above: the push would land, so nothing-received there means refused."""
    user = demo.user("cs.agent1")
    subscription = push.new_subscription()
    _legacy_subscription(user, subscription)
    _queue(user)
    result = dispatch_pending(now=utcnow(), provider=make_provider(EndpointPolicy(allow_private=True,
                                                                                  resolver=Resolver({NAME: ["127.0.0.1"]}))))
    assert result["sent"] == 1
    assert len(push.received_for(subscription)) == 1


def test_dns_rebinding_between_subscribing_and_sending(client, auth, demo, push, rules, monkeypatch, make_provider):
    clock = [0.0]
    resolver = Resolver({NAME: [PUBLIC_ADDRESS]})
    policy = EndpointPolicy(resolver=resolver, clock=lambda: clock[0])
    monkeypatch.setitem(rules, "PUSH_ENDPOINT_POLICY", policy)
    subscription = push.new_subscription()
    assert _subscribe(client, auth.headers("cs.agent1"), subscription["endpoint"], subscription["keys"]).status_code == 201
    _queue(demo.user("cs.agent1"))
    resolver.answers[NAME] = ["127.0.0.1"]  # the name now points inside
    clock[0] += 3600  # past the cache: the send resolves afresh

    result = dispatch_pending(now=utcnow(), provider=make_provider(policy_from_config(rules)))

    assert result["retry"] == 1 and result["sent"] == 0
    assert push.request_count == 0 and push.connection_count == 0


def test_production_refuses_a_non_listed_host_at_send_time(demo, push, make_provider):
    user = demo.user("cs.agent1")
    _legacy_subscription(user, push.new_subscription())
    _queue(user)
    production = policy_from_config({"PRODUCTION": True, "PUSH_ALLOWED_HOSTS": None, "PUSH_ALLOW_PRIVATE_ENDPOINTS": False})
    result = dispatch_pending(now=utcnow(), provider=make_provider(production))
    assert result["failed"] == 1 and push.request_count == 0
    (delivery,) = db.session.scalars(select(PushDelivery)).all()
    assert "not a known push service" in delivery.last_error


def test_the_connection_goes_to_the_checked_address_with_the_name_kept_for_tls_and_host(push, make_provider):
    """push.example.net resolves nowhere but in the policy: delivery proves the socket went to the checked address,
    and the certificate (issued to push.example.net) verifying proves SNI and hostname checks still use the name."""
    resolver = Resolver({NAME: ["127.0.0.1"]})
    provider = make_provider(EndpointPolicy(allow_private=True, resolver=resolver))
    subs = [push.new_subscription() for _ in range(5)]
    messages = [PushMessage(ref=i, subscription=subs[i % 5], payload={"i": i}) for i in range(40)]

    results = provider.send_many(messages)

    assert [r.outcome for r in results] == ["sent"] * 40
    assert len(push.received) == 40
    assert {r.headers["host"] for r in push.received} == {f"{NAME}:{push.port}"}
    assert set(push.sni_names) == {NAME}
    assert resolver.calls == 1  # cached: no lookup per message
    assert push.connection_count <= 4  # pinned pools still keep connections alive


def test_a_certificate_for_another_name_is_still_refused(push, make_provider):
    """Pinning must not weaken TLS: the fake certificate is not valid for other.example.net."""
    provider = make_provider(EndpointPolicy(allow_private=True, resolver=Resolver({"other.example.net": ["127.0.0.1"]})))
    subscription = push.new_subscription()
    subscription["endpoint"] = subscription["endpoint"].replace(NAME, "other.example.net")
    (result,) = provider.send_many([PushMessage(ref=1, subscription=subscription, payload={})])
    assert result.outcome == "retry" and "SSLError" in result.error
    assert push.request_count == 0


class ConnectProxy:
    """A minimal https proxy: answers CONNECT, then relays bytes both ways; records each CONNECT's target and headers."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connects: list[tuple[str, dict[str, str]]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.connects.append((target, headers))
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def test_through_an_https_proxy_the_tunnel_goes_to_the_checked_address(push, make_provider, monkeypatch):
    """HTTPS_PROXY is honoured: the CONNECT names the checked address (not the name, which the proxy would resolve
    itself), carries the proxy's credentials, and TLS inside the tunnel still verifies the name."""
    proxy = ConnectProxy()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://relay:s3cret@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("https_proxy", f"http://relay:s3cret@127.0.0.1:{proxy.port}")
        provider = make_provider(EndpointPolicy(allow_private=True, resolver=Resolver({NAME: ["127.0.0.1"]})))
        subs = [push.new_subscription() for _ in range(3)]

        results = provider.send_many([PushMessage(ref=i, subscription=subs[i % 3], payload={"i": i}) for i in range(6)])

        assert [r.outcome for r in results] == ["sent"] * 6
        assert len(push.received) == 6 and set(push.sni_names) == {NAME}
        assert proxy.connects and {target for target, _ in proxy.connects} == {f"127.0.0.1:{push.port}"}
        expected = "Basic " + base64.b64encode(b"relay:s3cret").decode()
        assert all(headers.get("proxy-authorization") == expected for _, headers in proxy.connects)
    finally:
        proxy.close()
