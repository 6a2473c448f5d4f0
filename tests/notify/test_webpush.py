"""Web Push delivery: app.notify.webpush against a local fake push service.

The fake service (tests/notify/push_server.py) verifies the VAPID JWT with
the expected public key, checks aud/exp/sub and the RFC 8030 headers, and
decrypts every aes128gcm body as the browser would, so these tests fail if
encryption, signing, headers or status mapping break.
"""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher

from app.notify import webpush
from app.notify.endpoints import EndpointPolicy
from app.notify.vapid import VapidHeaderCache
from app.notify.webpush import (
    MAX_PAYLOAD_BYTES,
    PushMessage,
    PushResult,
    WebPushSender,
    generate_vapid_keypair,
    normalize_topic,
    parse_retry_after,
)
from tests.notify.push_server import FakePushServer, Respond

SUBJECT = "mailto:ops@baton.example"
# The fake push service listens on 127.0.0.1 over http: allowed here only (BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS).
LOCAL = EndpointPolicy(allow_private=True)


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vapid_keys() -> tuple[str, str]:
    return generate_vapid_keypair()


@pytest.fixture
def push_server(vapid_keys):
    with FakePushServer(vapid_public_key=vapid_keys[1]) as server:
        yield server


@pytest.fixture
def sender(vapid_keys):
    with WebPushSender(vapid_keys[0], SUBJECT, max_workers=8, timeout=5.0, endpoint_policy=LOCAL) as s:
        yield s


def message(sub: dict, ref=1, payload=None, **kwargs) -> PushMessage:
    return PushMessage(
        ref=ref,
        subscription=sub,
        payload=payload if payload is not None else {"title": "t", "body": "b"},
        ttl=kwargs.pop("ttl", 60),
        urgency=kwargs.pop("urgency", "normal"),
        topic=kwargs.pop("topic", None),
    )


def raw_post(sub: dict, authorization: str | None, ttl: int = 60):
    """POST an encrypted body with a hand-made Authorization header."""
    headers = {"Authorization": authorization} if authorization else {}
    return WebPusher(sub).send(b'{"x":1}', headers, ttl=ttl, content_encoding="aes128gcm", timeout=5)


def signed_header(private_key: str, claims: dict, k: str | None = None) -> str:
    vapid = Vapid.from_raw(private_key.encode())
    vapid.conf = {"no-strict": True}
    header = vapid.sign(claims)["Authorization"]
    if k is not None:
        token = header.split("t=", 1)[1].split(",", 1)[0]
        header = f"vapid t={token}, k={k}"
    return header


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def test_generate_vapid_keypair_formats():
    private, public = generate_vapid_keypair()
    assert "=" not in private and "=" not in public
    raw_private, raw_public = b64d(private), b64d(public)
    assert len(raw_private) == 32
    assert len(raw_public) == 65 and raw_public[0] == 0x04
    key = ec.derive_private_key(int.from_bytes(raw_private, "big"), ec.SECP256R1())
    derived = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert derived == raw_public
    assert generate_vapid_keypair() != (private, public)


def test_sender_exposes_matching_public_key(vapid_keys):
    with WebPushSender(vapid_keys[0], SUBJECT, endpoint_policy=LOCAL) as s:
        assert s.public_key == vapid_keys[1]


def test_sender_accepts_pem_key(vapid_keys, push_server):
    key = ec.derive_private_key(int.from_bytes(b64d(vapid_keys[0]), "big"), ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with WebPushSender(pem, SUBJECT, endpoint_policy=LOCAL) as s:
        assert s.public_key == vapid_keys[1]
        assert s.send(message(push_server.new_subscription())).outcome == "sent"


@pytest.mark.parametrize("bad", ["", "not-a-key", base64.urlsafe_b64encode(b"x" * 31).decode()])
def test_sender_rejects_bad_private_key(bad):
    with pytest.raises(ValueError) as info:
        WebPushSender(bad, SUBJECT)
    assert bad not in str(info.value) or bad == ""


@pytest.mark.parametrize("subject", ["ops@example.com", "mailto:nobody", "http://example.com", ""])
def test_sender_rejects_bad_subject(vapid_keys, subject):
    with pytest.raises(ValueError):
        WebPushSender(vapid_keys[0], subject)


def test_sender_accepts_https_subject_with_path(vapid_keys, push_server):
    with WebPushSender(vapid_keys[0], "https://baton.example/contact", endpoint_policy=LOCAL) as s:
        assert s.send(message(push_server.new_subscription())).outcome == "sent"
    assert push_server.received[0].claims["sub"] == "https://baton.example/contact"


# --------------------------------------------------------------------------
# Delivery, encryption, VAPID, headers
# --------------------------------------------------------------------------


def test_payload_arrives_decrypted_and_intact(push_server, sender):
    sub = push_server.new_subscription()
    payload = {
        "title": "Zakázka WO-17 přidělena",
        "body": "Vyměňte ventil — linka 3 ✓",
        "url": "/workorders/17?tab=tasks",
        "tag": "wo-17",
        "actions": [{"action": "ack", "title": "Potvrdit"}],
        "n": 17,
    }
    result = sender.send(message(sub, ref="outbox-17", payload=payload))
    assert result == PushResult("outbox-17", "sent", http_status=201)
    [received] = push_server.received
    assert received.sub_id == push_server.sub_id(sub)
    assert received.payload == payload
    assert received.headers["content-encoding"] == "aes128gcm"


def test_each_subscription_gets_its_own_payload(push_server, sender):
    subs = [push_server.new_subscription() for _ in range(5)]
    results = sender.send_many([message(s, ref=i, payload={"i": i}) for i, s in enumerate(subs)])
    assert [r.outcome for r in results] == ["sent"] * 5
    by_sub = {r.sub_id: r.payload for r in push_server.received}
    assert by_sub == {push_server.sub_id(s): {"i": i} for i, s in enumerate(subs)}


def test_vapid_jwt_claims_and_key(push_server, sender, vapid_keys):
    sender.send(message(push_server.new_subscription()))
    [received] = push_server.received
    auth = received.headers["authorization"]
    assert auth.startswith("vapid t=")
    assert f"k={vapid_keys[1]}" in auth
    claims = received.claims
    assert claims["aud"] == push_server.origin
    assert claims["sub"] == SUBJECT
    now = time.time()
    assert now < claims["exp"] <= now + 24 * 3600


def test_wrong_vapid_key_is_rejected_and_maps_to_failed(push_server):
    other_private, _ = generate_vapid_keypair()
    with WebPushSender(other_private, SUBJECT, endpoint_policy=LOCAL) as wrong:
        result = wrong.send(message(push_server.new_subscription()))
    assert result.outcome == "failed"
    assert result.http_status == 403
    assert push_server.received == []
    assert push_server.rejected[0].status == 403


def test_fake_service_checks_the_signature_not_just_k(push_server, vapid_keys):
    """A token signed by another key but claiming our k must be refused."""
    sub = push_server.new_subscription()
    other_private, _ = generate_vapid_keypair()
    claims = {"sub": SUBJECT, "aud": push_server.origin, "exp": int(time.time()) + 3600}
    forged = signed_header(other_private, claims, k=vapid_keys[1])
    assert raw_post(sub, forged).status_code == 403
    assert "signature" in push_server.rejected[-1].reason
    genuine = signed_header(vapid_keys[0], claims, k=vapid_keys[1])
    assert raw_post(sub, genuine).status_code == 201


@pytest.mark.parametrize(
    "claims_change, reason",
    [
        ({"aud": "http://127.0.0.1:1"}, "aud"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"exp": int(time.time()) + 25 * 3600}, "24 h"),
        ({"sub": "ops@example.com"}, "sub"),
    ],
)
def test_fake_service_checks_claims(push_server, vapid_keys, claims_change, reason):
    sub = push_server.new_subscription()
    claims = {"sub": SUBJECT, "aud": push_server.origin, "exp": int(time.time()) + 3600}
    claims.update(claims_change)
    assert raw_post(sub, signed_header(vapid_keys[0], claims)).status_code == 403
    assert reason in push_server.rejected[-1].reason
    assert push_server.received == []


def test_fake_service_requires_authorization(push_server):
    assert raw_post(push_server.new_subscription(), None).status_code == 401


def test_ttl_urgency_topic_headers_arrive(push_server, sender):
    sub = push_server.new_subscription()
    sender.send(message(sub, ttl=900, urgency="high", topic="wo-42_status"))
    sender.send(message(sub, ttl=0, urgency="very-low"))
    first, second = push_server.received
    assert (first.ttl, first.urgency, first.topic) == (900, "high", "wo-42_status")
    assert (second.ttl, second.urgency, second.topic) == (0, "very-low", None)


def test_ttl_is_capped_at_four_weeks(push_server, sender):
    sender.send(message(push_server.new_subscription(), ttl=10 * 365 * 24 * 3600))
    assert push_server.received[0].ttl == webpush.MAX_TTL_SECONDS


def test_invalid_topic_is_hashed_to_a_valid_stable_value(push_server, sender):
    sub = push_server.new_subscription()
    topic = "workorder:WO-2024-000123 status changed (assignee)"
    sender.send(message(sub, ref=1, topic=topic))
    sender.send(message(sub, ref=2, topic=topic))
    a, b = push_server.received
    assert a.topic == b.topic == normalize_topic(topic)
    assert len(a.topic) <= 32


@pytest.mark.parametrize(
    "topic",
    ["a", "A" * 32, "A" * 33, "with space", "colon:sep", "ünïcode", "x/y+z="],
)
def test_normalize_topic(topic):
    out = normalize_topic(topic)
    assert 1 <= len(out) <= 32
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in out)
    if len(topic) <= 32 and all(c.isascii() and (c.isalnum() or c in "-_") for c in topic):
        assert out == topic
    else:
        assert out != topic and normalize_topic(topic) == out
    assert normalize_topic(None) is None and normalize_topic("") is None


# --------------------------------------------------------------------------
# Status mapping
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour, outcome, status, retry_after",
    [
        (None, "sent", 201, None),
        (200, "sent", 200, None),
        (202, "sent", 202, None),
        (404, "gone", 404, None),
        (410, "gone", 410, None),
        (Respond(429, retry_after="120"), "retry", 429, 120.0),
        ((429, "7"), "retry", 429, 7.0),
        (429, "retry", 429, None),
        (500, "retry", 500, None),
        (Respond(503, retry_after="30"), "retry", 503, 30.0),
        (400, "failed", 400, None),
        (403, "failed", 403, None),
        (413, "failed", 413, None),
        (301, "failed", 301, None),
    ],
)
def test_status_mapping(push_server, sender, behaviour, outcome, status, retry_after):
    sub = push_server.new_subscription(behaviour=behaviour)
    result = sender.send(message(sub, ref="r"))
    assert (result.ref, result.outcome, result.http_status, result.retry_after) == (
        "r", outcome, status, retry_after,
    )
    assert (result.error is None) == (outcome == "sent")
    assert len(push_server.received) == (1 if outcome == "sent" else 0)


def test_retry_after_http_date(push_server, sender):
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    sub = push_server.new_subscription(behaviour=Respond(503, retry_after=when))
    result = sender.send(message(sub))
    assert result.outcome == "retry"
    assert 85 <= result.retry_after <= 91


def test_status_sequence(push_server, sender):
    sub = push_server.new_subscription(behaviour=[500, Respond(429, retry_after="1"), 201])
    outcomes = [sender.send(message(sub, ref=i)) for i in range(4)]
    assert [(r.outcome, r.http_status) for r in outcomes] == [
        ("retry", 500), ("retry", 429), ("sent", 201), ("sent", 201),
    ]
    assert len(push_server.received) == 2
    assert push_server.requests_for(sub) == 4


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_date():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 3600, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(3600.0)


# --------------------------------------------------------------------------
# Network failures, invalid input: never raise
# --------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retry(push_server, sender):
    sub = push_server.new_subscription()
    sub["endpoint"] = f"http://127.0.0.1:{_closed_port()}/push/x"
    result = sender.send(message(sub))
    assert result.outcome == "retry"
    assert result.http_status is None
    assert result.error.startswith("network:")


def test_timeout_is_retry(vapid_keys, push_server):
    sub = push_server.new_subscription(behaviour=Respond(201, delay=1.0))
    with WebPushSender(vapid_keys[0], SUBJECT, timeout=0.2, endpoint_policy=LOCAL) as quick:
        start = time.monotonic()
        result = quick.send(message(sub))
    assert result.outcome == "retry"
    assert "Timeout" in result.error
    assert time.monotonic() - start < 0.9


@pytest.mark.parametrize(
    "mutate, error",
    [
        (lambda s: s.pop("endpoint"), "invalid_subscription"),
        (lambda s: s.update(endpoint="ftp://push.example/x"), "invalid_subscription"),
        (lambda s: s["keys"].pop("auth"), "invalid_subscription"),
        (lambda s: s["keys"].update(p256dh="AAAA"), "invalid_subscription"),
        (lambda s: s["keys"].update(auth="!!!"), "invalid_subscription"),
    ],
)
def test_invalid_subscription_fails_without_request(push_server, sender, mutate, error):
    sub = push_server.new_subscription()
    mutate(sub)
    result = sender.send(message(sub))
    assert result.outcome == "failed" and result.error.startswith(error)
    assert push_server.request_count == 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"payload": {"x": object()}}, "payload_not_json"),
        ({"payload": {"x": float("nan")}}, "payload_not_json"),
        ({"urgency": "urgent"}, "invalid_urgency"),
        ({"ttl": -1}, "invalid_ttl"),
        ({"ttl": "60"}, "invalid_ttl"),
    ],
)
def test_invalid_message_fails_without_request(push_server, sender, kwargs, error):
    result = sender.send(message(push_server.new_subscription(), **kwargs))
    assert result.outcome == "failed" and result.error.startswith(error)
    assert push_server.request_count == 0


def test_oversized_payload_refused_without_request(push_server, sender):
    sub = push_server.new_subscription()
    big = {"title": "t", "body": "x" * MAX_PAYLOAD_BYTES}
    result = sender.send(message(sub, payload=big))
    assert result == PushResult(1, "failed", error="payload_too_large")
    assert push_server.request_count == 0


def test_payload_size_limit_is_inclusive_in_utf8_bytes(push_server, sender):
    sub = push_server.new_subscription()
    overhead = len(json.dumps({"b": ""}, separators=(",", ":")).encode())
    exact = {"b": "x" * (MAX_PAYLOAD_BYTES - overhead)}
    over = {"b": "x" * (MAX_PAYLOAD_BYTES - overhead - 1) + "é"}  # é is 2 bytes
    assert sender.send(message(sub, payload=exact)).outcome == "sent"
    assert push_server.received[0].payload == exact
    assert sender.send(message(sub, payload=over)).error == "payload_too_large"
    assert push_server.request_count == 1


def test_send_many_empty(sender):
    assert sender.send_many([]) == []


def test_closed_sender_refuses_to_send(vapid_keys, push_server):
    s = WebPushSender(vapid_keys[0], SUBJECT, endpoint_policy=LOCAL)
    s.close()
    with pytest.raises(RuntimeError):
        s.send_many([message(push_server.new_subscription(), ref=i) for i in range(2)])
    with pytest.raises(RuntimeError):
        s.send(message(push_server.new_subscription()))


def test_p256dh_not_on_the_curve_fails_without_request(push_server, sender):
    sub = push_server.new_subscription()
    sub["keys"]["p256dh"] = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
    result = sender.send(message(sub))
    assert result.outcome == "failed"
    assert result.error.startswith("invalid_subscription")
    assert push_server.request_count == 0


# --------------------------------------------------------------------------
# Concurrency: audiences, connection reuse, ordering
# --------------------------------------------------------------------------


def test_two_push_services_each_get_their_own_aud(vapid_keys, sender):
    """Regression: pywebpush mutates vapid_claims, so a shared claims dict
    would pin ``aud`` to the first push service and the second would 403."""
    with FakePushServer(vapid_public_key=vapid_keys[1]) as a, FakePushServer(
        vapid_public_key=vapid_keys[1]
    ) as b:
        assert a.origin != b.origin
        subs = [a.new_subscription(), b.new_subscription()] * 10
        results = sender.send_many([message(s, ref=i, payload={"i": i}) for i, s in enumerate(subs)])
        assert [r.outcome for r in results] == ["sent"] * 20
        # And again after the cache is warm, in the other order.
        results = sender.send_many([message(s, ref=i) for i, s in enumerate(reversed(subs))])
        assert [r.outcome for r in results] == ["sent"] * 20
        for server in (a, b):
            assert len(server.received) == 20
            assert {r.claims["aud"] for r in server.received} == {server.origin}
            assert server.rejected == []


def test_vapid_header_is_signed_once_per_audience(vapid_keys, push_server, monkeypatch):
    calls = []
    original = Vapid.sign

    def counting_sign(self, claims, *args, **kwargs):
        calls.append(dict(claims))
        return original(self, claims, *args, **kwargs)

    monkeypatch.setattr(Vapid, "sign", counting_sign)
    with FakePushServer(vapid_public_key=vapid_keys[1]) as other:
        with WebPushSender(vapid_keys[0], SUBJECT, max_workers=8, endpoint_policy=LOCAL) as s:
            subs = [push_server.new_subscription() for _ in range(3)] + [other.new_subscription()]
            results = s.send_many([message(subs[i % 4], ref=i) for i in range(40)])
        assert all(r.outcome == "sent" for r in results)
        assert sorted(c["aud"] for c in calls) == sorted([push_server.origin, other.origin])

    calls.clear()
    with WebPushSender(vapid_keys[0], SUBJECT, vapid_cache_seconds=0, endpoint_policy=LOCAL) as s:
        for i in range(3):
            assert s.send(message(push_server.new_subscription(), ref=i)).outcome == "sent"
    assert len(calls) == 3


def test_vapid_cache_expires_and_resigns(vapid_keys):
    cache = VapidHeaderCache(
        Vapid.from_raw(vapid_keys[0].encode()), SUBJECT, max_age=0.2
    )
    first = cache.header("https://push.example")
    assert cache.header("https://push.example") == first
    assert cache.header("https://other.example") != first
    time.sleep(0.25)
    assert cache.header("https://push.example") != first


def _claims(header: str) -> dict:
    token = header.split("t=", 1)[1].split(",", 1)[0]
    return json.loads(b64d(token.split(".")[1]))


def test_vapid_header_is_reused_then_signed_again_before_it_expires(vapid_keys):
    """Injected clocks: reused while younger than max_age; signed afresh once it is max_age old, and also when its
    exp comes within max_age on the wall clock though the monotonic clock says it is young (the wall clock jumped)."""
    mono, wall = [1000.0], [1_800_000_000.0]
    cache = VapidHeaderCache(Vapid.from_raw(vapid_keys[0].encode()), SUBJECT, max_age=600, exp_seconds=3600,
                             monotonic=lambda: mono[0], wall=lambda: wall[0])
    first = cache.header("https://push.example")
    assert _claims(first)["exp"] == 1_800_000_000 + 3600
    mono[0] += 599
    wall[0] += 599
    assert cache.header("https://push.example") == first  # 599 s old: reused
    mono[0] += 1
    wall[0] += 1
    second = cache.header("https://push.example")  # 600 s old: signed again, with a later exp
    assert second != first and _claims(second)["exp"] == 1_800_000_000 + 600 + 3600

    wall[0] += 3600 - 600 - 1  # exp now 601 s away on the wall clock, monotonic unchanged
    assert cache.header("https://push.example") == second
    wall[0] += 1  # exp 600 s away: no longer used, though only 0 s old by the monotonic clock
    third = cache.header("https://push.example")
    assert third != second and _claims(third)["exp"] == int(wall[0]) + 3600


def test_vapid_cache_is_thread_safe(vapid_keys):
    cache = VapidHeaderCache(Vapid.from_raw(vapid_keys[0].encode()), SUBJECT)
    audiences = [f"https://push{i}.example" for i in range(4)]
    seen: dict[str, set] = {a: set() for a in audiences}
    lock = threading.Lock()

    def worker():
        for _ in range(50):
            for a in audiences:
                value = cache.header(a)
                with lock:
                    seen[a].add(value)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(values) == 1 for values in seen.values())
    for a in audiences:
        token = next(iter(seen[a])).split("t=", 1)[1].split(",", 1)[0]
        claims = json.loads(b64d(token.split(".")[1]))
        assert claims["aud"] == a


def test_connection_reuse(vapid_keys):
    with FakePushServer(vapid_public_key=vapid_keys[1], delay=0.005) as server:
        subs = [server.new_subscription() for _ in range(20)]
        with WebPushSender(vapid_keys[0], SUBJECT, max_workers=8, endpoint_policy=LOCAL) as s:
            results = s.send_many([message(subs[i % 20], ref=i) for i in range(200)])
            assert all(r.outcome == "sent" for r in results)
            assert server.request_count == 200
            assert len(server.received) == 200
            assert server.connection_count <= 16
            # A second batch reuses the pooled connections.
            s.send_many([message(subs[i % 20], ref=i) for i in range(100)])
            assert server.request_count == 300
            assert server.connection_count <= 16


def test_a_redirect_is_the_answer_and_is_not_followed(push_server, sender):
    other = push_server.new_subscription()
    moved = push_server.new_subscription(behaviour=Respond(307, headers={"Location": other["endpoint"]}))
    result = sender.send(message(moved))
    assert (result.outcome, result.http_status) == ("failed", 307)
    assert push_server.request_count == 1 and push_server.received == []


def test_network_failures_are_named_as_before(vapid_keys, push_server, sender):
    """The error texts stored on deliveries keep the names requests gave these failures."""
    sub = push_server.new_subscription(behaviour=Respond(201, delay=1.0))
    with WebPushSender(vapid_keys[0], SUBJECT, timeout=0.2, endpoint_policy=LOCAL) as quick:
        assert quick.send(message(sub)).error == "network: ReadTimeout"
    refused = push_server.new_subscription()
    refused["endpoint"] = f"http://127.0.0.1:{_closed_port()}/push/x"
    assert sender.send(message(refused)).error == "network: ConnectionError"


def test_the_request_carries_the_web_push_headers(push_server, sender):
    sub = push_server.new_subscription()
    assert sender.send(message(sub, ttl=120, urgency="low", topic="wo-7")).outcome == "sent"
    (received,) = push_server.received
    headers = received.headers
    assert headers["ttl"] == "120" and headers["urgency"] == "low" and headers["topic"] == "wo-7"
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["host"] == push_server.origin.split("://", 1)[1]
    assert headers["authorization"].startswith("vapid t=")
    assert int(headers["content-length"]) == 86 + len(json.dumps({"title": "t", "body": "b"}, separators=(",", ":"))) + 17


def test_results_come_back_in_input_order(push_server, sender):
    # Early messages answer slowly so they finish last.
    behaviours = [Respond(201, delay=0.15), Respond(410, delay=0.1), Respond(429, "3", delay=0.05),
                  None, 500, 413, 404]
    subs = [push_server.new_subscription(b) for b in behaviours]
    expected = ["sent", "gone", "retry", "sent", "retry", "failed", "gone"]
    messages = [message(subs[i % len(subs)], ref=f"m{i}") for i in range(21)]
    results = sender.send_many(messages)
    assert [r.ref for r in results] == [m.ref for m in messages]
    assert [r.outcome for r in results] == [expected[i % len(expected)] for i in range(21)]
    assert all(r.retry_after == 3.0 for i, r in enumerate(results) if i % 7 == 2)


def test_send_many_is_concurrent(vapid_keys):
    with FakePushServer(vapid_public_key=vapid_keys[1], delay=0.1) as server:
        subs = [server.new_subscription() for _ in range(16)]
        with WebPushSender(vapid_keys[0], SUBJECT, max_workers=16, endpoint_policy=LOCAL) as s:
            start = time.monotonic()
            results = s.send_many([message(sub, ref=i) for i, sub in enumerate(subs)])
            elapsed = time.monotonic() - start
    assert all(r.outcome == "sent" for r in results)
    assert elapsed < 0.1 * 16 / 3  # sequential would take 1.6 s


def test_one_bad_message_does_not_affect_the_batch(push_server, sender):
    good = push_server.new_subscription()
    messages = [
        message(good, ref=0),
        message({"endpoint": "nope"}, ref=1),
        message(good, ref=2, payload={"x": "y" * 5000}),
        message(good, ref=3, urgency="??"),
        message(good, ref=4),
    ]
    results = sender.send_many(messages)
    assert [r.outcome for r in results] == ["sent", "failed", "failed", "failed", "sent"]
    assert len(push_server.received) == 2


def test_no_secrets_in_logs(vapid_keys, push_server, caplog):
    caplog.set_level("DEBUG", logger="app.notify.webpush")
    other_private, _ = generate_vapid_keypair()
    sub = push_server.new_subscription(behaviour=413)
    with WebPushSender(other_private, SUBJECT, endpoint_policy=LOCAL) as wrong:
        wrong.send(message(push_server.new_subscription()))
    with WebPushSender(vapid_keys[0], SUBJECT, endpoint_policy=LOCAL) as s:
        s.send(message(sub, payload={"secret": "payload-text"}))
    text = caplog.text
    assert caplog.records  # failures are logged...
    for secret in (vapid_keys[0], other_private, sub["keys"]["auth"], sub["keys"]["p256dh"],
                   push_server.sub_id(sub), "payload-text", "vapid t="):
        assert secret not in text  # ...without keys, tokens, payloads or endpoint paths


def test_proxy_environment_is_honoured(vapid_keys, push_server, monkeypatch):
    sub = push_server.new_subscription()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
    with WebPushSender(vapid_keys[0], SUBJECT, endpoint_policy=LOCAL) as s:
        result = s.send(message(sub))
    assert result.outcome == "retry" and "Proxy" in result.error  # went to the (dead) proxy
    assert push_server.request_count == 0
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with WebPushSender(vapid_keys[0], SUBJECT, endpoint_policy=LOCAL) as s:
        assert s.send(message(sub)).outcome == "sent"
