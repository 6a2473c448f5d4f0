"""The inbox when something big happens (docs/design.md §15), on a phone: a flood of similar offers is one group,
the complaint due soon stays in sight, the group opens as a list, and a search finds one work order."""
import uuid

from playwright.sync_api import expect


def test_a_flood_of_offers_does_not_hide_the_complaint(phone, api):
    tag = uuid.uuid4().hex[:6]
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="cs.agent2")
    cs = next(d["id"] for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == "CS")
    api.ok("POST", "/templates", {"key": f"flood_{tag}", "name": "E2E flood", "steps": [
        {"key": "contact", "title": f"联系客户 {tag}", "assignees": {"departments": [cs]}, "sla": "P1D"}]}, login="admin")
    for n in range(21):
        api.ok("POST", "/work-orders", {"template": f"flood_{tag}", "title": f"召回 {tag} {n}"}, login="lead.cs")
    complaint = api.ok("POST", "/work-orders", {"template": "complaint", "title": f"破损投诉 {tag}"}, login="lead.cs")
    page = phone.sign_in("cs.agent2")
    page.locator("#tab-pool").click()
    group = page.locator(".card-group", has_text=f"联系客户 {tag}")
    expect(group).to_contain_text("21 项")
    expect(page.locator(".inbox-list .card", has_text=f"破损投诉 {tag}")).to_be_visible()  # not behind the flood
    group.locator("button").click()
    expect(page.locator(".group-head")).to_contain_text(f"联系客户 {tag} · 21")
    expect(page.locator(".inbox-list .card", has_text=f"召回 {tag}")).to_have_count(21)
    page.locator(".group-head button").click()
    page.locator("#inbox-q").fill(complaint["number"])
    expect(page.locator(".inbox-list .card")).to_have_count(1)
    expect(page.locator(".inbox-list .card")).to_contain_text(f"破损投诉 {tag}")
    assert phone.js_errors() == []
