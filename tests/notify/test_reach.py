"""People's channel identities through the API and the import, "send me a test", and the channel outbox, against a
local fake DingTalk over HTTP and SNS on a moto server; on both databases."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.extensions import db
from app.notify import channels as registry
from app.notify import reach
from app.notify.channels.dingtalk import DingTalkChannel
from app.notify.models import ChannelAttempt, ChannelDelivery, Notification
from tests.conftest import assert_error
from tests.functions.conftest import aws, moto_endpoint  # noqa: F401 - SNS on the session's moto server
from tests.notify.vendor_servers import FakeDingTalk

V1 = "/api/v1"


@pytest.fixture(scope="module")
def dingtalk_server():
    with FakeDingTalk() as server:
        yield server


@pytest.fixture
def dingtalk(app, dingtalk_server, monkeypatch):
    """DingTalk enabled after Web Push, pointed at the fake server."""
    dingtalk_server.reset()
    monkeypatch.setattr(registry, "_cache", {})  # a fresh provider: no token, no rate-limit pause from another test
    for key, value in {"CHANNELS": ["webpush", "dingtalk", "sms"], "DINGTALK_APP_KEY": "key-1", "DINGTALK_APP_SECRET": "secret-1",
                       "DINGTALK_AGENT_ID": str(FakeDingTalk.agent_id), "DINGTALK_BASE_URL": dingtalk_server.url,
                       "SMS_PROVIDER": "sns"}.items():
        monkeypatch.setitem(app.config, key, value)
    return dingtalk_server


def _channels(client, headers):
    r = client.get(f"{V1}/me/channels", headers=headers)
    assert r.status_code == 200, r.json
    return {c["channel"]: c for c in r.json["items"]}


def test_an_admin_sets_identities_and_the_person_tests_their_channel(client, auth, demo, dingtalk):
    admin, staff = auth.headers("admin"), auth.headers("staff.wh1")
    user_id = demo.uid("staff.wh1")
    r = client.patch(f"{V1}/users/{user_id}", json={"dingtalk_userid": "dt-wh1", "wecom_userid": "wh1", "feishu_user_id": "f-1"},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert (r.json["dingtalk_userid"], r.json["wecom_userid"], r.json["feishu_user_id"]) == ("dt-wh1", "wh1", "f-1")
    me = client.get(f"{V1}/me", headers=staff).json
    assert me["dingtalk_userid"] == "dt-wh1"
    channels = _channels(client, staff)
    assert list(channels) == ["dingtalk", "sms"]  # Web Push has no VAPID keys here; WeCom and Feishu are not enabled
    assert (channels["dingtalk"]["identity"], channels["dingtalk"]["state"]) == ("dt-wh1", "untried")

    r = client.post(f"{V1}/me/channels/test", json={"channel": "dingtalk"}, headers=staff)
    assert r.status_code == 200, r.json
    assert (r.json["channel"], r.json["result"], r.json["error"]) == ("dingtalk", "sent", None)
    (to, msg), = dingtalk.sent
    assert to == "dt-wh1" and msg["msgtype"] == "action_card"
    assert "/#/settings" in msg["action_card"]["single_url"]
    channels = _channels(client, staff)
    assert channels["dingtalk"]["state"] == "ok" and channels["dingtalk"]["last_attempt"]["result"] == "sent"
    assert channels["dingtalk"]["last_sent_at"]


def test_an_identity_the_vendor_does_not_know_is_broken_until_it_changes(client, auth, demo, dingtalk):
    staff = auth.headers("staff.wh1", **{"Accept-Language": "zh-CN"})
    assert client.patch(f"{V1}/me", json={"dingtalk_userid": "ghost"}, headers=staff).status_code == 200
    dingtalk.unknown.add("ghost")
    r = client.post(f"{V1}/me/channels/test", json={"channel": "dingtalk"}, headers=staff)
    assert r.status_code == 200
    assert (r.json["result"], r.json["error"]) == ("gone", "invalid_user_id")
    state = _channels(client, staff)["dingtalk"]
    assert (state["state"], state["broken_code"]) == ("broken", "invalid_user_id")
    assert client.patch(f"{V1}/me", json={"dingtalk_userid": "dt-wh1"}, headers=staff).status_code == 200
    assert _channels(client, staff)["dingtalk"]["state"] == "untried"
    assert client.post(f"{V1}/me/channels/test", json={"channel": "dingtalk"}, headers=staff).json["result"] == "sent"
    assert dingtalk.sent[-1][1]["action_card"]["title"] == "Baton 测试消息"  # in the person's language


def test_a_channel_not_set_up_or_without_an_identity_is_refused(client, auth, demo, dingtalk):
    staff = auth.headers("staff.wh1", **{"Accept-Language": "zh-CN"})
    client.patch(f"{V1}/me", json={"dingtalk_userid": None}, headers=staff)
    error = assert_error(client.post(f"{V1}/me/channels/test", json={"channel": "dingtalk"}, headers=staff), 422, "channel_no_identity")
    assert "管理员" in error["message"]
    assert_error(client.post(f"{V1}/me/channels/test", json={"channel": "wecom"}, headers=staff), 422, "channel_not_configured")
    assert_error(client.post(f"{V1}/me/channels/test", json={"channel": "pager"}, headers=staff), 422)
    assert_error(client.patch(f"{V1}/me", json={"wecom_userid": "has space"}, headers=staff), 422)


def test_sms_test_goes_through_sns(client, auth, demo, dingtalk, aws):  # noqa: F811
    staff = auth.headers("staff.wh1")
    assert client.patch(f"{V1}/me", json={"phone": "+86 138 0013 8000"}, headers=staff).status_code == 200
    r = client.post(f"{V1}/me/channels/test", json={"channel": "sms"}, headers=staff)
    assert r.status_code == 200 and r.json["result"] == "sent", r.json


def test_the_import_and_export_carry_identities(client, auth, demo):
    admin = auth.headers("admin")
    csv = "login,name,dingtalk_userid,wecom_userid,feishu_user_id\nstaff.wh1,,dt-9,wc-9,fs-9\n".encode()
    r = client.post(f"{V1}/users/import", data={"file": (__import__("io").BytesIO(csv), "people.csv")}, headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["rows"][0]["changes"] == ["dingtalk_userid", "feishu_user_id", "wecom_userid"]
    user = demo.user("staff.wh1")
    assert (user.dingtalk_userid, user.wecom_userid, user.feishu_user_id) == ("dt-9", "wc-9", "fs-9")
    exported = client.get(f"{V1}/users/export.csv", headers=admin).get_data(as_text=True)
    assert "dingtalk_userid,wecom_userid,feishu_user_id" in exported.splitlines()[0]
    assert "dt-9,wc-9,fs-9" in exported
    bad = "login,dingtalk_userid\nstaff.wh1,has space\n".encode()
    r = client.post(f"{V1}/users/import", data={"file": (__import__("io").BytesIO(bad), "people.csv")}, headers=admin)
    assert_error(r, 422, "import_invalid")


def _notification(user_id, now):
    note = Notification(user_id=user_id, kind="task.assigned", title="A task is yours", body="WO-1 · Pick", url="/#/task/1",
                        priority="P1", urgent=True, data={}, created_at=now)
    db.session.add(note)
    db.session.commit()
    return note.id


def test_the_channel_outbox_retries_a_vendor_that_is_down_and_keeps_every_attempt(app, demo, dingtalk):
    now = utcnow()
    user = demo.user("staff.wh1")
    user.dingtalk_userid = "dt-wh1"
    note_id = _notification(user.id, now)
    assert reach.queue_channel(notification_ids=[note_id], channel="dingtalk", now=now) == 1
    db.session.commit()
    assert reach.queue_channel(notification_ids=[note_id], channel="dingtalk", now=now) == 0  # once per channel
    dingtalk.down = 1
    counts = reach.dispatch_channels(now=now, config=app.config)
    assert counts["retry"] == 1 and dingtalk.sent == []
    delivery = db.session.scalar(select(ChannelDelivery))
    assert (delivery.status, delivery.error_code, delivery.attempts) == ("pending", "500", 1)
    assert delivery.next_attempt_at > now
    assert reach.dispatch_channels(now=now, config=app.config)["sent"] == 0  # not before its time
    later = delivery.next_attempt_at + timedelta(seconds=1)
    assert reach.dispatch_channels(now=later, config=app.config)["sent"] == 1
    db.session.expire_all()
    delivery = db.session.scalar(select(ChannelDelivery))
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    attempts = db.session.execute(select(ChannelAttempt.result, ChannelAttempt.error_code).where(
        ChannelAttempt.notification_id == note_id).order_by(ChannelAttempt.id)).all()
    assert [tuple(a) for a in attempts] == [("retry", "500"), ("sent", None)]
    assert dingtalk.sent[0][1]["action_card"]["title"] == "A task is yours"


def test_the_channel_outbox_ends_gone_for_an_unknown_user_and_skips_the_broken_identity_after(app, demo, dingtalk):
    now = utcnow()
    user = demo.user("staff.wh1")
    user.dingtalk_userid = "ghost"
    dingtalk.unknown.add("ghost")
    first, second = _notification(user.id, now), _notification(user.id, now)
    reach.queue_channel(notification_ids=[first], channel="dingtalk", now=now)
    db.session.commit()
    assert reach.dispatch_channels(now=now, config=app.config)["gone"] == 1
    reach.queue_channel(notification_ids=[second], channel="dingtalk", now=now)
    db.session.commit()
    requests_before = len(dingtalk.requests)
    assert reach.dispatch_channels(now=now, config=app.config)["gone"] == 1
    assert len(dingtalk.requests) == requests_before  # a broken identity is not asked about again
    assert db.session.scalar(select(func.count()).select_from(ChannelDelivery).where(ChannelDelivery.status == "gone")) == 2


def test_each_notification_shows_how_it_went_out(app, client, auth, demo, dingtalk):
    now = utcnow()
    user = demo.user("staff.wh1")
    user.dingtalk_userid = "dt-wh1"
    note_id = _notification(user.id, now)
    reach.queue_channel(notification_ids=[note_id], channel="dingtalk", now=now)
    db.session.commit()
    clock = [0.0]
    provider = DingTalkChannel(app_key="key-1", app_secret="secret-1", agent_id=str(FakeDingTalk.agent_id), base_url=dingtalk.url,
                               clock=lambda: clock[0])
    app.config["CHANNEL_PROVIDER_INSTANCES"] = {"dingtalk": provider}
    try:
        dingtalk.rate_limited = 1
        reach.dispatch_channels(now=now, config=app.config)
        clock[0] += 61  # the vendor's minute has passed for the provider too
        reach.dispatch_channels(now=now + timedelta(minutes=2), config=app.config)
    finally:
        app.config.pop("CHANNEL_PROVIDER_INSTANCES")
    items = client.get(f"{V1}/notifications", headers=auth.headers("staff.wh1")).json["items"]
    (item,) = [i for i in items if i["id"] == note_id]
    assert [(d["channel"], d["result"], d["error"]) for d in item["deliveries"]] == [
        ("dingtalk", "retry", "90018"), ("dingtalk", "sent", None)]


def test_the_worker_delivers_the_channel_outbox(app, demo, dingtalk):
    from app.jobs import run_all_once

    now = utcnow()
    user = demo.user("staff.wh1")
    user.dingtalk_userid = "dt-wh1"
    note_id = _notification(user.id, now)
    reach.queue_channel(notification_ids=[note_id], channel="dingtalk", now=now)
    db.session.commit()
    assert run_all_once(now=now, config=app.config)["channel_messages_sent"] == 1
    assert [to for to, _ in dingtalk.sent] == ["dt-wh1"]


def test_leads_and_admins_see_who_nothing_reached(client, auth, demo, dingtalk):
    staff = auth.headers("staff.wh1")
    client.patch(f"{V1}/me", json={"dingtalk_userid": "dt-wh1"}, headers=staff)

    def unreachable(login):
        r = client.get(f"{V1}/people/unreachable", query_string={"days": 7}, headers=auth.headers(login))
        assert r.status_code == 200, r.json
        return {p["id"]: p for p in r.json["items"]}

    before = unreachable("admin")
    assert demo.uid("staff.wh1") in before and before[demo.uid("staff.wh1")]["channels"] == ["dingtalk"]
    listed = before[demo.uid("staff.wh1")]
    assert (listed["login"], listed["devices"], listed["last_delivered_at"]) == ("staff.wh1", 0, None)
    assert listed["department_name"]  # by name, for the screen
    assert client.post(f"{V1}/me/channels/test", json={"channel": "dingtalk"}, headers=staff).json["result"] == "sent"
    assert demo.uid("staff.wh1") not in unreachable("admin")
    theirs = unreachable("lead.cs")  # a lead sees the people of the departments they lead
    assert demo.uid("cs.agent1") in theirs and demo.uid("staff.wh1") not in theirs
    assert_error(client.get(f"{V1}/people/unreachable", headers=staff), 403)


def test_web_push_is_listed_with_the_devices_and_whether_a_push_got_through(app, client, auth, demo, dingtalk, monkeypatch):
    from app.notify.models import PushSubscription

    monkeypatch.setitem(app.config, "PUSH_PROVIDER", "log")  # Web Push set up (logged) on this server
    staff = auth.headers("staff.wh1")
    assert _channels(client, staff)["webpush"]["state"] == "none"
    subscription = PushSubscription(user_id=demo.uid("staff.wh1"), endpoint="https://push.example/wh1", p256dh="k", auth="a",
                                    created_at=utcnow())
    db.session.add(subscription)
    db.session.commit()
    assert (_channels(client, staff)["webpush"]["devices"], _channels(client, staff)["webpush"]["state"]) == (1, "untried")
    subscription.last_success_at = utcnow()
    db.session.commit()
    assert _channels(client, staff)["webpush"]["state"] == "ok"
    r = client.post(f"{V1}/me/channels/test", json={"channel": "webpush"}, headers=staff)
    assert (r.status_code, r.json["result"]) == (200, "sent")
