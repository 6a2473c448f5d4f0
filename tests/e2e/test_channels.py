"""Settings shows the person's channels and sends them a test: a real server whose DingTalk is a local fake DingTalk
speaking its protocol over HTTP; and an admin sets someone's DingTalk id on the console's person screen."""
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, DESKTOP, Phone, _config, _ensure_build, _serve, shot
from tests.notify.vendor_servers import FakeDingTalk

DINGTALK_LABEL = re.compile("DingTalk user ID|钉钉用户 ID")


@pytest.fixture
def dingtalk_server(tmp_path):
    """(base URL, fake DingTalk): the demo company with DingTalk enabled after Web Push, staff.wh1 on it as dt-wh1."""
    _ensure_build()
    from app import create_app
    from app.extensions import db
    from app.org.models import User
    from app.seed import seed_demo

    with FakeDingTalk() as dingtalk:
        app = create_app({**_config(tmp_path), "CHANNELS": ["webpush", "dingtalk"], "DINGTALK_APP_KEY": "key-1",
                          "DINGTALK_APP_SECRET": "secret-1", "DINGTALK_AGENT_ID": str(FakeDingTalk.agent_id),
                          "DINGTALK_BASE_URL": dingtalk.url, "PUBLIC_URL": "https://baton.example"})
        with app.app_context():
            db.create_all()
            seed_demo()
            db.session.scalar(db.select(User).where(User.login == "staff.wh1")).dingtalk_userid = "dt-wh1"
            db.session.scalar(db.select(User).where(User.login == "cs.agent1")).dingtalk_userid = "dt-a1"
            db.session.commit()
            db.session.remove()
        serving = _serve(app)
        base = next(serving)
        yield base, dingtalk
        next(serving, None)


def test_a_person_sends_themselves_a_test_on_dingtalk(browser, dingtalk_server):
    base, dingtalk = dingtalk_server
    phone = Phone(browser, base, locale="zh-CN")
    try:
        page = phone.sign_in("staff.wh1")
        page.locator(".tabbar .tab", has_text="我的").click()
        row = page.locator(".channel-row[data-channel=dingtalk]")
        expect(row).to_contain_text("钉钉")
        expect(row).to_contain_text("dt-wh1")
        expect(row).to_contain_text("尚未试过")
        row.get_by_role("button", name="给我发测试消息").click()
        expect(row).to_contain_text("已发送，请查看手机")
        expect(row).to_contain_text("正常")
        row.scroll_into_view_if_needed()
        shot(page, "18-channels-test")
        (to, message), = dingtalk.sent
        assert to == "dt-wh1" and message["action_card"]["title"] == "Baton 测试消息"
        assert message["action_card"]["single_url"] == "https://baton.example/#/settings"
        # an id DingTalk does not know: said so, and the channel is shown broken
        dingtalk.unknown.add("dt-wh1")
        row.get_by_role("button", name="给我发测试消息").click()
        expect(row).to_contain_text("该服务不认识这个 ID")
        assert phone.js_errors() == []
    finally:
        phone.close()


def test_an_admin_sets_a_persons_dingtalk_id(browser, dingtalk_server):
    base, _ = dingtalk_server
    admin = Phone(browser, base, device=DESKTOP)
    try:
        page = admin.sign_in("admin")
        login = urllib.request.Request(f"{base}/api/v1/auth/login", data=json.dumps({"login": "admin", "password": DEMO_PASSWORD}).encode(),
                                       headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(login))["token"]
        found = urllib.request.Request(f"{base}/api/v1/users?q=staff.wh2", headers={"Authorization": f"Bearer {token}"})
        user_id = next(p["id"] for p in json.load(urllib.request.urlopen(found))["items"] if p["login"] == "staff.wh2")
        page.goto(f"{base}/#/admin/people/{user_id}")
        field = page.get_by_label(DINGTALK_LABEL)
        field.fill("dt-wh2")
        page.locator("form.admin-form button[type=submit]").click()
        expect(page.get_by_label(DINGTALK_LABEL)).to_have_value("dt-wh2")
        check = urllib.request.Request(f"{base}/api/v1/users/{user_id}", headers={"Authorization": f"Bearer {token}"})
        for _ in range(50):  # the save is on its way when the field already shows the value
            if json.load(urllib.request.urlopen(check))["dingtalk_userid"] == "dt-wh2":
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the DingTalk id was not saved")
        assert admin.js_errors() == []
    finally:
        admin.close()


def test_an_offer_nobody_can_push_to_goes_to_dingtalk_and_the_notification_says_so(browser, dingtalk_server):
    base, dingtalk = dingtalk_server
    login = urllib.request.Request(f"{base}/api/v1/auth/login", data=json.dumps({"login": "lead.cs", "password": DEMO_PASSWORD}).encode(),
                                   headers={"Content-Type": "application/json"})
    token = json.load(urllib.request.urlopen(login))["token"]
    create = urllib.request.Request(f"{base}/api/v1/work-orders", data=json.dumps(
        {"template": "complaint", "title": "Leaking carton", "priority": "P1"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert urllib.request.urlopen(create).status == 201
    phone = Phone(browser, base, locale="zh-CN")
    try:
        page = phone.sign_in("cs.agent1")
        for _ in range(100):  # the worker's next pass sends the first rung: cs.agent1 has no device for a push
            if "dt-a1" in [to for to, _ in dingtalk.sent]:
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the offer did not reach DingTalk")
        (to, card), = [(to, m) for to, m in dingtalk.sent if to == "dt-a1"]
        assert "Leaking carton" in card["action_card"]["markdown"]
        buttons = {b["title"]: b["action_url"] for b in card["action_card"]["btn_json_list"]}
        assert set(buttons) == {"抢单", "查看"} and all(u.startswith("https://baton.example/l/") for u in buttons.values())
        # DingTalk has the card; the worker records the attempt once it has asked DingTalk how the send went.
        agent = json.load(urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/auth/login", data=json.dumps({"login": "cs.agent1", "password": DEMO_PASSWORD}).encode(),
            headers={"Content-Type": "application/json"})))["token"]
        mine = urllib.request.Request(f"{base}/api/v1/notifications", headers={"Authorization": f"Bearer {agent}"})
        for _ in range(100):
            if any(n.get("deliveries") for n in json.load(urllib.request.urlopen(mine))["items"]):
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the DingTalk attempt was not recorded")
        phone.open("/notifications")
        expect(page.locator(".notif-reach").first).to_contain_text("钉钉: 已送达")
        # "抢单" on the card: the signed link opens the app, which claims under cs.agent1's session and opens the task
        page.goto(buttons["抢单"].replace("https://baton.example", base))
        expect(page).to_have_url(re.compile(r"#/task/\d+$"))
        expect(page.locator(".task-head .chip-status")).to_have_text("已领取")
        expect(page.locator(".task-head h1")).to_have_text("Leaking carton")
        # the same link again, kept past its use: the task is simply opened (nothing is claimed twice)
        page.goto(buttons["抢单"].replace("https://baton.example", base))
        expect(page).to_have_url(re.compile(r"#/task/\d+$"))
        # a link changed on the way, and one signed-in person following another's link, are told so in their language
        page.goto(buttons["查看"].replace("https://baton.example", base)[:-2] + "zz")
        expect(page.locator("h1")).to_have_text("链接无法使用")
        assert phone.js_errors() == []
    finally:
        phone.close()


def test_a_card_link_signs_in_first_and_an_expired_one_says_so(browser, dingtalk_server):
    """Not signed in: the link waits for the sign-in and then opens the task; an expired link is a page in English."""
    from datetime import datetime, timedelta, timezone

    from app.notify.links import sign

    base, dingtalk = dingtalk_server
    _call(base, "lead.cs", "POST", "/api/v1/work-orders", {"template": "complaint", "title": "Dented tin", "priority": "P1"})
    for _ in range(100):
        if "dt-a1" in [to for to, _ in dingtalk.sent]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the offer did not reach DingTalk")
    (card,) = [m for to, m in dingtalk.sent if to == "dt-a1"]
    opener = next(b["action_url"] for b in card["action_card"]["btn_json_list"] if b["title"] == "查看")
    phone = Phone(browser, base, locale="en-US")
    try:
        page = phone.page
        # expired, before signing in: a page in the browser's language (English here)
        old = sign(secret=_config(Path("/nonexistent"))["SECRET_KEY"], notification_id=1, user_id=1, action="open",
                   expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
        page.goto(f"{base}/l/{old}")
        expect(page.locator("h1")).to_have_text("This link has expired")
        expect(page.get_by_role("link", name="Sign in")).to_be_visible()
        # a good link: the sign-in first, then the task it is about
        page.goto(opener.replace("https://baton.example", base))
        expect(page).to_have_url(re.compile(r"#/signin\?next="))
        page.locator("input[name=login]").fill("cs.agent1")
        page.locator("input[name=password]").fill(DEMO_PASSWORD)
        page.locator("form.signin-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"#/task/\d+$"))
        expect(page.locator(".task-head h1")).to_have_text("Dented tin")
        notes = _call(base, "cs.agent1", "GET", "/api/v1/notifications")["items"]
        assert next(n for n in notes if n["kind"] == "task.offered")["read_at"]  # opened from the card: read, ladder stops
        # signed in, the page speaks the person's language (cs.agent1 reads Chinese)
        page.goto(f"{base}/l/{old}")
        expect(page.locator("h1")).to_have_text("链接已过期")
        expect(page.get_by_role("link", name="查看我的任务")).to_be_visible()
        assert phone.js_errors() == []
    finally:
        phone.close()


def _call(base, login, method, path, body=None):
    token = json.load(urllib.request.urlopen(urllib.request.Request(
        f"{base}/api/v1/auth/login", data=json.dumps({"login": login, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})))["token"]
    request = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(request))
