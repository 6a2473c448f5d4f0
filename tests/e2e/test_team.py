"""A lead's team board on the phone (docs/design.md §16), in Chinese: who is on duty, what each holds against a
dispatched step's capacity, and what waits to be handed out."""
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import shot


def test_a_lead_sees_the_teams_load_and_what_waits(phone_factory, api):
    tag = uuid.uuid4().hex[:6]
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="mgr.wh1")
    wh1, wh1b = api.me("staff.wh1"), api.me("staff.wh1b")
    key = f"restock_{tag}"
    api.ok("POST", "/templates", {"key": key, "name": f"补货上架 Restock {tag}", "steps": [
        {"key": "shelve", "title": "上架 Shelve", "mode": "pool", "assignees": {"users": [wh1["id"], wh1b["id"]]},
         "sla": "PT2H", "dispatch": "least_loaded", "capacity": 1}]}, login="admin")
    for n in range(3):
        api.ok("POST", "/work-orders", {"template": key, "title": f"补货 {tag} {n}"}, login="mgr.wh1")

    page = phone_factory(locale="zh-CN").sign_in("mgr.wh1")
    page.locator(".tabbar .tab", has_text="工单").click()
    page.locator("a.btn", has_text="团队").click()
    expect(page.locator("h1")).to_have_text("团队看板")
    for person in (wh1, wh1b):
        card = page.locator(f'.team-person[data-user-id="{person["id"]}"]')
        expect(card).to_contain_text(person["name"])
        expect(card).to_contain_text("在岗")
        expect(card.locator(".team-why")).to_have_text("手动设为在岗（无班次）")  # no shifts: their switch
        expect(card.locator(".team-load", has_text=f"补货上架 Restock {tag}")).to_contain_text("1 / 上限 1")
    expect(page.locator(".team-waiting")).to_contain_text(f"补货上架 Restock {tag} · 上架 Shelve：1 项等待有人低于上限 1")
    shot(page, "16-team-board")
