"""The step-up ladder with injected time, on both databases: a P1 offer left unopened goes to DingTalk after its
step-up, then to SMS; read in the app or taken by someone, it climbs no further; two sweeps at once send each rung
once. DingTalk is a local fake server over HTTP, SMS goes to SNS on a moto server."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.extensions import db
from app.notify import channels as registry
from app.notify.models import ChannelAttempt, ChannelDelivery, Notification, PushSubscription
from app.notify.reach import dispatch_channels
from tests.functions.conftest import aws, handler_app, moto_endpoint  # noqa: F401 - SNS on the session's moto server; the Lambda app
from tests.notify.vendor_servers import FakeDingTalk
from tests.workorders.conftest import Flow

STEP = timedelta(seconds=121)  # just past P1's two minutes


@pytest.fixture(scope="module")
def dingtalk_server():
    with FakeDingTalk() as server:
        yield server


@pytest.fixture
def world(app, client, auth, demo, dingtalk_server, aws, monkeypatch):  # noqa: F811
    """DingTalk then SMS after Web Push; cs.agent1 has a device, DingTalk and a phone; cs.agent2 only DingTalk."""
    dingtalk_server.reset()
    monkeypatch.setattr(registry, "_cache", {})
    for key, value in {"CHANNELS": ["webpush", "dingtalk", "sms"], "DINGTALK_APP_KEY": "key-1", "DINGTALK_APP_SECRET": "secret-1",
                       "DINGTALK_AGENT_ID": str(FakeDingTalk.agent_id), "DINGTALK_BASE_URL": dingtalk_server.url,
                       "SMS_PROVIDER": "sns"}.items():
        monkeypatch.setitem(app.config, key, value)
    one, two = demo.user("cs.agent1"), demo.user("cs.agent2")
    one.dingtalk_userid, one.phone = "dt-a1", "+8613800000001"
    two.dingtalk_userid, two.phone = "dt-a2", None
    db.session.add(PushSubscription(user_id=one.id, endpoint="https://push.example/one", p256dh="k", auth="a", created_at=utcnow()))
    db.session.commit()
    return Flow(client, auth, demo), dingtalk_server


def _sent_to(server):
    return [to for to, _ in server.sent]


def test_an_unopened_p1_offer_climbs_to_dingtalk_then_sms(app, world):
    flow, dingtalk = world
    flow.create("complaint", priority="P1")
    t0 = utcnow()
    dispatch_channels(now=t0, config=app.config)
    assert _sent_to(dingtalk) == ["dt-a2"]  # no device: the first other channel at once
    dispatch_channels(now=t0 + STEP, config=app.config)
    assert _sent_to(dingtalk) == ["dt-a2", "dt-a1"]  # the push went unopened for two minutes
    counts = dispatch_channels(now=t0 + 2 * STEP, config=app.config)
    assert counts["sent"] == 1  # then SMS (cs.agent2 has no phone: the ladder ends there)
    note = db.session.scalar(select(Notification).where(Notification.user_id == flow.demo.uid("cs.agent1")))
    items = flow.client.get("/api/v1/notifications", headers=flow.h("cs.agent1")).json["items"]
    (item,) = [i for i in items if i["id"] == note.id]
    assert [(d["channel"], d["result"]) for d in item["deliveries"]] == [("webpush", "pending"), ("dingtalk", "sent"), ("sms", "sent")]
    assert dispatch_channels(now=t0 + 10 * STEP, config=app.config)["sent"] == 0  # nothing more to climb


def test_read_in_the_app_it_climbs_no_further(app, world):
    flow, dingtalk = world
    flow.create("complaint", priority="P1")
    t0 = utcnow()
    r = flow.client.post("/api/v1/notifications/read", json={"all": True}, headers=flow.h("cs.agent1"))
    assert r.status_code == 200
    counts = dispatch_channels(now=t0 + STEP, config=app.config)
    assert "dt-a1" not in _sent_to(dingtalk) and counts["stopped"] == 1


def test_taken_by_someone_the_others_ladders_stop(app, world):
    flow, dingtalk = world
    wo = flow.create("complaint", priority="P1")
    t0 = utcnow()
    assert flow.act(wo["tasks"][0]["id"], "claim", "cs.agent2").status_code == 200
    dispatch_channels(now=t0 + STEP, config=app.config)
    assert "dt-a1" not in _sent_to(dingtalk)


def test_a_p4_offer_does_not_climb(app, world):
    flow, dingtalk = world
    flow.create("complaint", priority="P4")
    dispatch_channels(now=utcnow() + 100 * STEP, config=app.config)
    assert dingtalk.sent == []


def test_two_sweeps_at_once_send_each_rung_once(app, world, backend):
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: one embedded worker")
    flow, dingtalk = world
    flow.create("complaint", priority="P1")
    later = utcnow() + STEP
    barrier = threading.Barrier(2)

    def sweep():
        with app.app_context():
            barrier.wait()
            dispatch_channels(now=later, config=app.config)
            db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(_sent_to(dingtalk)) == ["dt-a1", "dt-a2"]
    assert db.session.scalar(select(func.count()).select_from(ChannelAttempt).where(ChannelAttempt.channel == "dingtalk")) == 2
    assert db.session.scalar(select(func.count()).select_from(ChannelDelivery).where(ChannelDelivery.channel == "sms")) == 1


def test_step_up_times_come_from_the_environment():
    from app.config import ConfigError, parse_step_up

    assert parse_step_up("P1=2m,P2=10m,P3=1h,P4=off") == {"P1": 120, "P2": 600, "P3": 3600, "P4": None}
    assert parse_step_up("P1=30s, P3=off") == {"P1": 30, "P2": 600, "P3": None, "P4": None}
    for bad in ("P1=soon", "P9=2m", "P1=0m"):
        with pytest.raises(ConfigError):
            parse_step_up(bad)


def test_the_dispatch_job_sends_the_rungs_due_now(app, world, handler_app):  # noqa: F811
    from functions import dispatch
    from tests.functions.conftest import sqs_event

    flow, dingtalk = world
    flow.create("complaint", priority="P1")
    result = dispatch.handler(sqs_event('{"kind": "dispatch"}'), None)
    assert result == {"batchItemFailures": []}
    assert _sent_to(dingtalk) == ["dt-a2"]  # no device: DingTalk at once, without waiting for the minute's sweep


def _buttons(card: dict) -> dict[str, str]:
    """An action card's buttons as {words: link}."""
    card = card["action_card"]
    if card.get("btn_json_list"):
        return {b["title"]: b["action_url"] for b in card["btn_json_list"]}
    return {card["single_title"]: card["single_url"]}


def test_claimed_from_the_dingtalk_cards_link_the_ladder_stops_and_the_others_offers_are_withdrawn(app, world, monkeypatch):
    flow, dingtalk = world
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://baton.example")
    wo = flow.create("complaint", priority="P1")
    task_id = wo["tasks"][0]["id"]
    t0 = utcnow()
    dispatch_channels(now=t0, config=app.config)
    ((to, card),) = dingtalk.sent
    buttons = _buttons(card)
    assert to == "dt-a2" and set(buttons) == {"抢单", "查看"}  # in cs.agent2's language; two buttons, two links
    claim = buttons["抢单"]
    assert claim.startswith("https://baton.example/l/") and claim != buttons["查看"] and len(claim) < 80
    token = claim.rsplit("/", 1)[1]

    opened = flow.client.get(f"/l/{token}")  # the phone's browser: no session needed, nothing done yet
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/#/link/{token}")
    redeemed = flow.client.post("/api/v1/links/redeem", json={"token": token}, headers=flow.h("cs.agent2"))
    assert redeemed.status_code == 200, redeemed.json
    assert redeemed.json["action"] == "claim" and redeemed.json["task_id"] == task_id
    assert flow.act(task_id, "claim", "cs.agent2").status_code == 200  # the app's claim, under the reader's session

    counts = dispatch_channels(now=t0 + STEP, config=app.config)
    assert [to for to, _ in dingtalk.sent] == ["dt-a2"] and counts["stopped"] == 1  # cs.agent1's rung stops
    agent1 = flow.demo.uid("cs.agent1")
    kinds = list(db.session.scalars(select(Notification.kind).where(Notification.user_id == agent1).order_by(Notification.id)))
    assert kinds == ["task.offered", "task.taken"]  # the offer withdrawn on their phone (same tag) and in the app
    assert dispatch_channels(now=t0 + 5 * STEP, config=app.config)["sent"] == 0  # and no SMS later either
