"""Signed, expiring "Claim" and "Open" links of chat cards and SMS (docs/design.md §14): what the token holds and
refuses, GET /l/<token> opening the app, and the redemption under the reader's own session."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.common.clock import utcnow
from app.errors import Invalid
from app.extensions import db
from app.notify import links
from app.notify.channels.base import ChannelMessage
from app.notify.channels.dingtalk import DingTalkChannel
from app.notify.channels.feishu import FeishuChannel
from app.notify.channels.sms import SnsSmsChannel
from app.notify.channels.wecom import WeComChannel
from app.notify.models import Notification
from app.notify.service import notify
from tests.workorders.conftest import Flow

SECRET = "s" * 40
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)


def _token(action="claim", *, secret=SECRET, expires_at=NOW + timedelta(hours=1), notification_id=1234, user_id=56):
    return links.sign(secret=secret, notification_id=notification_id, user_id=user_id, action=action, expires_at=expires_at)


def test_a_token_says_what_it_was_signed_for_and_is_short():
    token = _token()
    link = links.verify(token, secret=SECRET, now=NOW)
    assert (link.notification_id, link.user_id, link.action) == (1234, 56, "claim")
    assert links.verify(_token("open"), secret=SECRET, now=NOW).action == "open"
    assert len(token) <= 45  # an SMS has room for it


@pytest.mark.parametrize("change", ["action", "notification", "user", "expiry", "signature", "cut", "secret", "empty"])
def test_a_changed_token_is_refused(change):
    token = _token()
    nid, uid, action, expiry, signature = token.split(".")
    tampered = {
        "action": f"{nid}.{uid}.o.{expiry}.{signature}",
        "notification": f"{nid}1.{uid}.{action}.{expiry}.{signature}",
        "user": f"{nid}.{uid}0.{action}.{expiry}.{signature}",
        "expiry": f"{nid}.{uid}.{action}.{expiry}z.{signature}",
        "signature": f"{nid}.{uid}.{action}.{expiry}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "cut": token[:-3],
        "secret": _token(secret="t" * 40),
        "empty": "",
    }[change]
    with pytest.raises(Invalid) as refused:
        links.verify(tampered, secret=SECRET, now=NOW)
    assert refused.value.code == "link_invalid"


def test_a_token_past_its_time_is_refused_as_expired():
    token = _token(expires_at=NOW + timedelta(minutes=1))
    links.verify(token, secret=SECRET, now=NOW + timedelta(seconds=59))
    with pytest.raises(links.LinkExpired):
        links.verify(token, secret=SECRET, now=NOW + timedelta(minutes=1))


def test_card_links_need_the_apps_public_address_and_expire_after_the_configured_time():
    config = {"SECRET_KEY": SECRET, "PUBLIC_URL": "https://baton.example/", "CARD_LINK_TTL_SECONDS": 600}
    made = links.card_links(config=config, notification_id=9, user_id=3, actions=["claim", "open"], now=NOW)
    assert set(made) == {"claim", "open"} and all(url.startswith("https://baton.example/l/") for url in made.values())
    assert links.verify(made["open"].rsplit("/", 1)[1], secret=SECRET, now=NOW).expires_at == NOW + timedelta(minutes=10)
    assert links.card_links(config={**config, "PUBLIC_URL": ""}, notification_id=9, user_id=3, actions=["open"], now=NOW) == {}


def _message():
    return ChannelMessage(ref=1, to="u-1", title="New task you can claim", body="WO-1 · Pick", url="/#/task/7",
                          actions=[{"action": "claim", "title": "抢单"}, {"action": "open", "title": "查看"}],
                          links={"claim": "https://baton.example/l/claim-link", "open": "https://baton.example/l/open-link"})


def test_every_card_carries_the_signed_links_in_the_readers_language():
    ding = DingTalkChannel(app_key="k", app_secret="s", agent_id="1", public_url="https://baton.example").card(_message())
    assert ding["action_card"]["btn_json_list"] == [{"title": "抢单", "action_url": "https://baton.example/l/claim-link"},
                                                   {"title": "查看", "action_url": "https://baton.example/l/open-link"}]
    feishu = FeishuChannel(app_id="k", app_secret="s", public_url="https://baton.example").card(_message())
    assert [(b["text"]["content"], b["url"]) for b in feishu["elements"][1]["actions"]] == [
        ("抢单", "https://baton.example/l/claim-link"), ("查看", "https://baton.example/l/open-link")]
    wecom = WeComChannel(corp_id="k", secret="s", agent_id="1", public_url="https://baton.example").card(_message())
    assert (wecom["url"], wecom["btntxt"]) == ("https://baton.example/l/open-link", "查看")  # one link: the card opens
    sms = SnsSmsChannel(region="us-east-1", public_url="https://baton.example").text(_message())
    assert sms.endswith(" https://baton.example/l/open-link") and "claim-link" not in sms  # one link keeps it short
    plain = ChannelMessage(ref=2, to="u-1", title="Andon pulled", body="Batch B-1", url="/#/andon/3",
                           links={"open": "https://baton.example/l/open-link"})
    card = DingTalkChannel(app_key="k", app_secret="s", agent_id="1").card(plain)["action_card"]
    assert (card["single_title"], card["single_url"]) == ("Open", "https://baton.example/l/open-link")


# --- over HTTP ----------------------------------------------------------------------------------------------------


@pytest.fixture
def offer(app, client, auth, demo):
    """An offer to cs.agent1 (zh-CN or en as the demo says) and the signed links of its card."""
    flow = Flow(client, auth, demo)
    wo = flow.create("complaint", priority="P2")
    note = db.session.scalar(select(Notification).where(Notification.user_id == demo.uid("cs.agent1"),
                                                        Notification.kind == "task.offered"))
    made = links.card_links(config={**app.config, "PUBLIC_URL": "https://baton.example"}, notification_id=note.id,
                            user_id=note.user_id, actions=["claim", "open"], now=utcnow())
    return flow, wo["tasks"][0]["id"], note, {a: url.rsplit("/", 1)[1] for a, url in made.items()}


def test_opening_a_link_sends_the_browser_to_the_app_without_acting(client, offer):
    flow, task_id, note, tokens = offer
    answer = client.get(f"/l/{tokens['claim']}")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/#/link/{tokens['claim']}")
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Referrer-Policy"] == "no-referrer"
    db.session.refresh(note)
    assert note.read_at is None  # nothing done without the reader's session
    task = client.get(f"/api/v1/tasks/{task_id}", headers=flow.h("cs.agent1")).json
    assert task["status"] == "open"


def test_a_changed_or_expired_link_opens_a_page_saying_so(client, app, offer):
    _, _, note, tokens = offer
    assert client.get(f"/l/{tokens['open'][:-2]}xx").headers["Location"].endswith("/#/link-refused/invalid")
    assert client.get("/l/nonsense").headers["Location"].endswith("/#/link-refused/invalid")
    old = links.sign(secret=app.config["SECRET_KEY"], notification_id=note.id, user_id=note.user_id, action="open",
                     expires_at=utcnow() - timedelta(seconds=1))
    assert client.get(f"/l/{old}").headers["Location"].endswith("/#/link-refused/expired")


def test_redeeming_opens_marks_read_and_says_whether_to_claim(client, offer):
    flow, task_id, note, tokens = offer
    answer = client.post("/api/v1/links/redeem", json={"token": tokens["open"]}, headers=flow.h("cs.agent1"))
    assert answer.status_code == 200, answer.json
    assert answer.json == {"action": "open", "notification_id": note.id, "task_id": task_id, "url": f"/#/task/{task_id}"}
    db.session.refresh(note)
    assert note.read_at is not None  # opened from the card: its ladder stops
    answer = client.post("/api/v1/links/redeem", json={"token": tokens["claim"]}, headers=flow.h("cs.agent1"))
    assert answer.json["action"] == "claim"
    task = client.get(f"/api/v1/tasks/{task_id}", headers=flow.h("cs.agent1")).json
    assert task["status"] == "open"  # the app claims, through the task's own call


def test_a_link_works_only_for_its_reader_and_in_their_language(client, app, offer):
    flow, _, note, tokens = offer
    refused = client.post("/api/v1/links/redeem", json={"token": tokens["claim"]},
                          headers={**flow.h("cs.agent2"), "Accept-Language": "zh-CN"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "link_not_yours"
    assert refused.json["error"]["message"] == "此链接是发给其他人的；请以其身份登录，或直接打开应用。"
    assert client.post("/api/v1/links/redeem", json={"token": tokens["claim"]}).status_code == 401
    tampered = client.post("/api/v1/links/redeem", json={"token": tokens["claim"][:-1] + "-"},
                           headers={**flow.h("cs.agent1"), "Accept-Language": "en"})
    assert tampered.status_code == 422 and tampered.json["error"]["code"] == "link_invalid"
    old = links.sign(secret=app.config["SECRET_KEY"], notification_id=note.id, user_id=note.user_id, action="claim",
                     expires_at=utcnow() - timedelta(seconds=1))
    expired = client.post("/api/v1/links/redeem", json={"token": old}, headers={**flow.h("cs.agent1"), "Accept-Language": "zh-CN"})
    assert expired.status_code == 410 and expired.json["error"]["code"] == "link_expired"
    assert expired.json["error"]["message"] == "此链接已过期，请打开应用查看任务。"


def test_a_link_to_a_notification_that_offers_no_claim_only_opens(client, app, demo, offer):
    flow, task_id, _, _ = offer
    notify(user_ids=[demo.uid("cs.agent1")], kind="task.assigned", params={"number": "W-1", "step": "s", "title": "t"},
           about={"task_id": task_id}, priority="P2", now=utcnow())
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.kind == "task.assigned"))
    token = links.sign(secret=app.config["SECRET_KEY"], notification_id=note.id, user_id=note.user_id, action="claim",
                       expires_at=utcnow() + timedelta(hours=1))
    answer = client.post("/api/v1/links/redeem", json={"token": token}, headers=flow.h("cs.agent1"))
    assert answer.json["action"] == "open"
