"""Whom nothing reached lately (docs/design.md §14): a lead on the phone, in Chinese, from the team board; an admin in
the console on a desktop, in English, where a name opens the person's record. The person is made for this test (the
live server is shared by every test): in the lead's department, with a DingTalk id and no device."""
import re
import uuid

from playwright.sync_api import expect


def _unreached_person(api):
    tag = uuid.uuid4().hex[:6]
    department = api.me("mgr.wh1")["department_id"]
    made = api.ok("POST", "/users", {"login": f"e2e.far.{tag}", "name": f"远方 Far {tag}", "password": f"far-away-{tag}-pass",
                                     "roles": ["staff"], "department_id": department, "dingtalk_userid": f"dt-far-{tag}"},
                  login="admin")
    return made


def test_a_lead_sees_whom_nothing_reached_on_the_phone(phone_factory, api):
    person = _unreached_person(api)
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="mgr.wh1")
    page = phone_factory(locale="zh-CN").sign_in("mgr.wh1")
    page.locator(".tabbar .tab", has_text="工单").click()
    page.locator("a.btn", has_text="团队").click()
    page.get_by_role("link", name="未触达").click()
    expect(page.locator("h1")).to_have_text("近期未触达的人")
    card = page.locator(f'.reach-person[data-user-id="{person["id"]}"]')
    expect(card).to_contain_text(person["name"])
    expect(card).to_contain_text("已有：钉钉")
    expect(card).to_contain_text("从未送达")
    expect(page.locator(".reach-summary")).to_contain_text("人未触达")
    page.get_by_label("未触达的时间").select_option("30")
    expect(card).to_be_visible()
    # someone of another department is not the lead's to see
    assert page.locator(".reach-person", has_text="admin").count() == 0


def test_an_admin_finds_them_in_the_console_and_opens_their_record(desktop, api):
    person = _unreached_person(api)
    api.ok("PATCH", "/me", {"locale": "en"}, login="admin")
    page = desktop.sign_in("admin")
    desktop.open("/admin/people")
    page.locator(".subnav-link", has_text="Not reached").click()
    expect(page.locator("h2.section-title")).to_have_text("Not reached lately")
    card = page.locator(f'.reach-person[data-user-id="{person["id"]}"]')
    expect(card).to_contain_text("Has: DingTalk")
    expect(card).to_contain_text("Never reached")
    card.get_by_role("link", name=person["name"]).click()
    expect(page).to_have_url(re.compile(rf"#/admin/people/{person['id']}$"))
    expect(page.get_by_label(re.compile("DingTalk user ID"))).to_have_value(person["dingtalk_userid"])
    assert desktop.js_errors() == []
