"""The outbox end to end: work-order events become encrypted Web Pushes that a fake push service decrypts."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.extensions import db
from app.notify.dispatch import LEASE, dispatch_pending, in_quiet_hours
from app.notify.endpoints import EndpointPolicy
from app.notify.models import Notification, PushDelivery, PushSubscription
from app.notify.providers import WebPushProvider
from app.notify.webpush import generate_vapid_keypair
from tests.conftest import assert_error
from tests.notify.push_server import FakePushServer
from tests.workorders.conftest import Flow

PRIVATE, PUBLIC = generate_vapid_keypair()


@pytest.fixture(scope="module")
def push_service():
    with FakePushServer(PUBLIC) as server:
        yield server


@pytest.fixture
def push(push_service):
    push_service.reset()
    return push_service


@pytest.fixture(autouse=True)
def local_push_service(app, monkeypatch):
    """The fake push service listens on 127.0.0.1 over http: let subscriptions point there (tests only)."""
    monkeypatch.setitem(app.config, "PUSH_ALLOW_PRIVATE_ENDPOINTS", True)


@pytest.fixture
def provider():
    return WebPushProvider(private_key=PRIVATE, subject="mailto:ops@baton.example", max_workers=8,
                           endpoint_policy=EndpointPolicy(allow_private=True))


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)


def _subscribe(flow, login, push, behaviour=None):
    subscription = push.new_subscription(behaviour)
    r = flow.client.post("/api/v1/push/subscriptions", json=subscription, headers=flow.h(login))
    assert r.status_code == 201, r.json
    return subscription


def _status(status):
    return db.session.scalar(select(func.count()).select_from(PushDelivery).where(PushDelivery.status == status))


def test_vapid_key_and_subscription_validation(flow, app, push):
    app.config["VAPID_PUBLIC_KEY"] = PUBLIC
    assert flow.client.get("/api/v1/push/vapid-public-key").json == {"public_key": PUBLIC}
    good = push.new_subscription()
    assert_error(flow.client.post("/api/v1/push/subscriptions", json={"endpoint": "not a url", "keys": good["keys"]}, headers=flow.h("staff.wh1")), 422)
    assert_error(flow.client.post("/api/v1/push/subscriptions", json={**good, "keys": {"p256dh": "x" * 87, "auth": good["keys"]["auth"]}},
                                  headers=flow.h("staff.wh1")), 422)
    assert_error(flow.client.post("/api/v1/push/subscriptions", json=good), 401)
    _subscribe(flow, "staff.wh1", push)
    _subscribe(flow, "staff.wh1", push)  # a second device
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 2
    r = flow.client.delete("/api/v1/push/subscriptions", json={"endpoint": good["endpoint"]}, headers=flow.h("staff.wh1"))
    assert_error(r, 404)  # `good` was never registered
    first = db.session.scalars(select(PushSubscription)).first()
    assert flow.client.delete("/api/v1/push/subscriptions", json={"endpoint": first.endpoint}, headers=flow.h("staff.wh1")).status_code == 204
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 1


def test_pool_offer_arrives_encrypted_with_claim_action_and_taken_replaces_it(flow, push, provider):
    sub1 = _subscribe(flow, "cs.agent1", push)
    sub2 = _subscribe(flow, "cs.agent2", push)
    wo = flow.create("complaint", priority="P1")
    task_id = wo["tasks"][0]["id"]
    result = dispatch_pending(now=utcnow(), provider=provider)
    assert result["sent"] == 2
    (offer,) = push.received_for(sub1)
    assert offer.payload["task_id"] == task_id
    assert offer.payload["url"] == f"/#/task/{task_id}"
    assert offer.payload["tag"] == f"task-{task_id}"
    assert [a["action"] for a in offer.payload["actions"]] == ["claim", "open"]
    assert offer.urgency == "high" and offer.ttl > 0 and offer.topic
    assert offer.claims["aud"] == push.origin
    flow.act(task_id, "claim", "cs.agent1")
    dispatch_pending(now=utcnow(), provider=provider)
    taken = push.received_for(sub2)[-1]
    assert taken.payload["kind"] == "task.taken" and taken.payload["tag"] == f"task-{task_id}"
    assert len(push.received_for(sub1)) == 1  # the winner is not told someone took it


def test_push_buttons_speak_the_readers_language(flow, push, provider):
    """The buttons follow the reader's language setting, not a guess from the text."""
    flow.client.patch("/api/v1/me", json={"locale": "en"}, headers=flow.h("cs.agent2"))
    chinese, english = _subscribe(flow, "cs.agent1", push), _subscribe(flow, "cs.agent2", push)
    flow.create("complaint", title="Broken seal on SKU-MILK-1L")
    dispatch_pending(now=utcnow(), provider=provider)
    (zh,), (en,) = push.received_for(chinese), push.received_for(english)
    assert [a["title"] for a in zh.payload["actions"]] == ["抢单", "查看"]
    assert [a["title"] for a in en.payload["actions"]] == ["Claim", "Open"]
    assert en.payload["title"] == "New task you can claim" and zh.payload["title"] == "有新任务可以抢单"


def test_gone_subscriptions_are_deleted_and_their_queue_dropped(flow, push, provider):
    sub = _subscribe(flow, "cs.agent1", push, behaviour=410)
    flow.create("complaint")
    flow.create("complaint")
    result = dispatch_pending(now=utcnow(), provider=provider)
    assert result["gone"] == 2
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
    # The in-app list still has everything.
    listing = flow.client.get("/api/v1/notifications", headers=flow.h("cs.agent1")).json
    assert listing["total"] == 2 and listing["unread"] == 2
    assert push.requests_for(sub) == 2


def test_429_honours_retry_after_and_500_backs_off_until_failed(flow, push, provider):
    slow = _subscribe(flow, "cs.agent1", push, behaviour=[(429, "120"), 201])
    broken = _subscribe(flow, "cs.agent2", push, behaviour=500)
    flow.create("complaint")
    now = utcnow()
    first = dispatch_pending(now=now, provider=provider, max_attempts=3)
    assert first["retry"] == 2
    rows = {d.subscription_id: d for d in db.session.scalars(select(PushDelivery))}
    subs = {s.endpoint: s.id for s in db.session.scalars(select(PushSubscription))}
    limited = rows[subs[slow["endpoint"]]]
    assert limited.status == "pending" and limited.next_attempt_at == now + timedelta(seconds=120)
    # Nothing is due before Retry-After runs out.
    assert dispatch_pending(now=now + timedelta(seconds=60), provider=provider, max_attempts=3)["sent"] == 0
    assert dispatch_pending(now=now + timedelta(seconds=121), provider=provider, max_attempts=3)["sent"] == 1
    assert len(push.received_for(slow)) == 1
    for hours in (1, 2, 3, 4):
        dispatch_pending(now=now + timedelta(hours=hours), provider=provider, max_attempts=3)
    db.session.expire_all()
    failed = db.session.get(PushDelivery, rows[subs[broken["endpoint"]]].id)
    assert failed.status == "failed" and failed.attempts == 3 and "500" in failed.last_error
    assert push.requests_for(broken) == 3


def test_dispatcher_crash_mid_batch_loses_nothing_and_resends_nothing_acknowledged(flow, push, provider):
    sub = _subscribe(flow, "cs.agent1", push)
    flow.create("complaint", title="first")
    now = utcnow()
    assert dispatch_pending(now=now, provider=provider)["sent"] == 1
    flow.create("complaint", title="second")
    flow.create("complaint", title="third")
    now = utcnow()

    class Crashing:
        def send_many(self, messages):
            provider.send_many(messages)  # the pushes go out, then the process dies before recording them
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        dispatch_pending(now=now, provider=Crashing())
    db.session.rollback()
    assert _status("sending") == 2 and _status("sent") == 1
    # Before the lease runs out nobody touches them; after it, they go again (at least once), the first never again.
    assert dispatch_pending(now=now + timedelta(seconds=5), provider=provider)["sent"] == 0
    assert dispatch_pending(now=now + LEASE + timedelta(seconds=1), provider=provider)["sent"] == 2
    bodies = [r.payload["body"] for r in push.received_for(sub)]
    assert sum("first" in b for b in bodies) == 1
    assert sum("second" in b for b in bodies) == 2 and sum("third" in b for b in bodies) == 2
    assert _status("sent") == 3


def test_quiet_hours_mute_non_urgent_pushes_but_not_p1(flow, push, provider):
    sub = _subscribe(flow, "cs.agent1", push)
    r = flow.client.patch("/api/v1/me", json={"quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}}, headers=flow.h("cs.agent1"))
    assert r.status_code == 200
    flow.create("complaint", priority="P3", title="quiet")
    flow.create("complaint", priority="P1", title="loud")
    now = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=12)
    result = dispatch_pending(now=now, provider=provider)
    assert result["muted"] == 1 and result["sent"] == 1
    (only,) = push.received_for(sub)
    assert "loud" in only.payload["body"]
    assert flow.client.get("/api/v1/notifications", headers=flow.h("cs.agent1")).json["total"] == 2


@pytest.mark.parametrize("start,end,hour,expected", [("22:00", "07:00", 23, True), ("22:00", "07:00", 3, True),
                                                     ("22:00", "07:00", 12, False), ("09:00", "17:00", 12, True),
                                                     ("09:00", "17:00", 17, False)])
def test_quiet_hours_window(start, end, hour, expected):
    now = datetime(2026, 11, 23, hour, 0, tzinfo=timezone.utc)
    assert in_quiet_hours({"start": start, "end": end, "timezone": "UTC"}, now) is expected


def test_notifications_list_and_read(flow):
    flow.create("complaint")
    flow.create("investigation")
    h = flow.h("cs.agent1")
    listing = flow.client.get("/api/v1/notifications?unread=true", headers=h).json
    assert listing["total"] == 2 and listing["unread"] == 2
    assert {n["kind"] for n in listing["items"]} == {"task.offered"}
    first = listing["items"][0]["id"]
    r = flow.client.post("/api/v1/notifications/read", json={"ids": [first]}, headers=h)
    assert r.json == {"updated": 1, "unread": 1}
    # Someone else's ids are ignored.
    assert flow.client.post("/api/v1/notifications/read", json={"ids": [first]}, headers=flow.h("cs.agent2")).json["updated"] == 0
    assert flow.client.post("/api/v1/notifications/read", json={"all": True}, headers=h).json == {"updated": 1, "unread": 0}
    assert_error(flow.client.post("/api/v1/notifications/read", json={}, headers=h), 422)


def test_a_rejected_change_writes_no_notification(flow):
    before = db.session.scalar(select(func.count()).select_from(Notification))
    r = flow.client.post("/api/v1/work-orders", json={"template": "complaint", "title": "x", "data": {"order_amount": "lots"}},
                         headers=flow.h("lead.cs"))
    assert_error(r, 422)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before


def test_times_in_a_notification_are_in_the_readers_zone(flow):
    """A reader who set quiet hours in Berlin reads the due time in Berlin's time, another in the business zone."""
    from datetime import timedelta as td
    from zoneinfo import ZoneInfo

    from app.escalation.sweep import fire_due_timers
    from app.workorders.models import Task

    r = flow.client.patch("/api/v1/me", json={"quiet_hours": {"start": "23:00", "end": "06:00", "timezone": "Europe/Berlin"}},
                          headers=flow.h("cs.agent2"))
    assert r.status_code == 200, r.json
    wo = flow.create("complaint")
    task = db.session.get(Task, wo["tasks"][0]["id"])
    fire_due_timers(now=task.due_at - td(minutes=9))
    notes = {n.user_id: n.body for n in db.session.scalars(select(Notification).where(Notification.kind == "task.reminder"))}
    berlin = notes[flow.demo.uid("cs.agent2")]
    shanghai = notes[flow.demo.uid("cs.agent1")]
    assert task.due_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") in berlin
    assert task.due_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") in shanghai
