"""Customer-service lead: create a work order from a template, follow it, escalate, evaluate; dashboard."""
import re

from playwright.sync_api import expect

from tests.e2e.conftest import require, shot
from tests.e2e.helpers import english


def test_lead_creates_and_follows_a_work_order(phone, api):
    english(api, "lead.cs", "cs.agent1")
    page = phone.sign_in("lead.cs")
    page.locator(".tabbar .tab", has_text="Orders").click()
    expect(page.locator("h1")).to_have_text("Work orders")
    page.locator("a.btn", has_text="New").click()
    expect(page.locator("h1")).to_have_text("New work order")
    page.get_by_label("Flow", exact=True).select_option("investigation")
    expect(page.locator(".flow-steps li")).to_have_count(4)
    # The form takes what the API takes (a 300-character title, a 20,000-character description), not less.
    expect(page.get_by_label("Title", exact=True)).to_have_attribute("maxlength", "300")
    expect(page.get_by_label("Description")).to_have_attribute("maxlength", "20000")
    page.get_by_label("Title", exact=True).fill("E2E wrong parcel delivered to C-777")
    page.get_by_label("Description").fill("Customer received someone else's parcel.")
    page.get_by_label("Priority").select_option("P1")
    page.get_by_label("Source").select_option("phone")
    page.get_by_label("Order number").fill("SO-E2E-777")
    page.get_by_label("Customer", exact=True).fill("C-777")
    page.get_by_label("Tags").fill("wrong item, urgent")
    shot(page, "07-lead-new-work-order")
    page.locator("form.new-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"#/wo/\d+$"))
    wo_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("h1")).to_have_text("E2E wrong parcel delivered to C-777")
    expect(page.locator(".steps .step")).to_have_count(1)
    expect(page.locator(".steps .step").first).to_contain_text("CS intake")

    created = api.ok("GET", f"/work-orders/{wo_id}", login="lead.cs")
    assert created["template"] in ("investigation", {"key": "investigation"}) or created["template"].get("key") == "investigation"
    assert created["priority"] == "P1" and created["source"] == "phone"
    assert created["order_no"] == "SO-E2E-777" and created["customer_ref"] == "C-777"
    assert sorted(created["tags"]) == ["urgent", "wrong item"]
    assert created["business"] and created["problem"], "template classification defaults were sent"

    # Someone in CS takes the first step; the lead sees the flow move on (the page refreshes itself).
    intake = next(t for t in created["tasks"] if t["status"] == "open")
    api.ok("POST", f"/tasks/{intake['id']}/claim", {}, login="cs.agent1")
    api.ok("POST", f"/tasks/{intake['id']}/complete", {"outcome": "done", "note": "Checked with the customer", "data": {}}, login="cs.agent1")
    page.reload()
    expect(page.locator(".steps .step")).to_have_count(3)
    expect(page.locator(".steps .step-done")).to_contain_text("CS intake")
    expect(page.locator(".timeline")).to_contain_text("Completed")
    shot(page, "08-lead-work-order-detail")

    # Escalate by hand.
    page.locator(".button-row button", has_text="Escalate").click()
    page.locator("dialog textarea").fill("Customer called three times.")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator(".toast").last).to_contain_text("Escalated")
    after = api.ok("GET", f"/work-orders/{wo_id}", login="lead.cs")
    assert any(e["kind"] == "escalated" for e in after["timeline"])
    # One escalation reads as one: the work order's, with the reason once, then each step it raised, newest first.
    page.reload()
    items = page.locator(".timeline li.tl-item")
    expect(page.locator(".timeline li.tl-item", has_text="Escalated by hand")).to_have_count(1)
    expect(page.locator(".timeline li.tl-item", has_text="Customer called three times.")).to_have_count(1)
    steps = page.locator(".timeline li.tl-item", has_text="Step escalated")
    expect(steps).to_have_count(2)  # the warehouse and the delivery investigations, running side by side
    expect(items.first).to_contain_text("Step escalated")  # recorded after the work order's event: shown above it

    # The list finds it with filters.
    page.goto(f"{phone.base}/#/wo?template=investigation&priority=P1")
    expect(page.locator("li.card", has_text="E2E wrong parcel delivered to C-777")).to_be_visible()
    assert phone.js_errors() == []


def test_lead_evaluates_a_work_order(phone, api):
    require(api, "POST", "/work-orders/1/evaluation")
    english(api, "lead.cs")
    # Only resolved work orders are evaluated: a one-step joint inspection, completed by a merchant.
    wo = api.create_work_order("lead.cs", "store_inspection", "E2E evaluate me")
    api.ok("POST", f"/tasks/{wo['tasks'][0]['id']}/complete", {"data": {"shelf_ok": True}}, login="merchant.xu")
    page = phone.sign_in("lead.cs")
    phone.open(f"/wo/{wo['id']}")
    page.locator(".button-row button", has_text="Evaluate").click()
    dialog = page.locator("dialog")
    dialog.locator("label.choice", has_text="Yes, resolved").click()
    dialog.locator("label.choice", has_text="Delighted").click()
    dialog.locator("textarea").fill("Customer thanked us.")
    dialog.locator("button[type=submit]").click()
    expect(page.locator(".toast").last).to_contain_text("Evaluation saved")
    ev = api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["evaluation"]
    assert ev["resolved"] is True and ev["score"] == 4


def test_dashboard_loads_the_chart_lazily(phone, api):
    require(api, "GET", "/metrics/summary")
    english(api, "lead.cs")
    page = phone.sign_in("lead.cs")
    scripts_before = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    page.locator(".tabbar .tab", has_text="Metrics").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".stat")).to_have_count(7)
    expect(page.locator("link[data-dashboard-css]")).to_have_count(1)
    page.get_by_label("Break down by").select_option("day")
    expect(page.locator(".chart canvas, .chart .muted").first).to_be_visible()
    scripts_after = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert len(scripts_after) > len(scripts_before)
    shot(page, "09-dashboard")
    assert phone.js_errors() == []


def test_a_lead_sees_the_route_a_branching_work_order_took(phone, api):
    """Taken, skipped and not yet reached, with why, in the reader's language."""
    before = api.ok("GET", "/me", login="lead.cs")["locale"]
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="lead.cs")
    try:
        cs = next(d["id"] for d in api.ok("GET", "/departments", login="admin")["items"] if d["code"] == "CS")
        api.ok("POST", "/templates", {"key": "e2e_route", "name": "E2E route", "steps": [
            {"key": "contact", "title": "联系客户", "assignees": {"departments": [cs]}, "outcomes": ["received", "refused"]},
            {"key": "pickup", "title": "司机取回", "after": ["contact"], "assignees": {"departments": [cs]},
             "when": {"outcome": {"step": "contact", "in": ["received"]}}},
            {"key": "close", "title": "关闭召回", "after": ["contact"], "assignees": {"departments": [cs]}, "default": True,
             "sla": "PT2H"},
            {"key": "inspect", "title": "仓库检验", "after": ["pickup"], "assignees": {"departments": [cs]}},
        ]}, login="admin")
        wo = api.ok("POST", "/work-orders", {"template": "e2e_route", "title": "E2E 客户拒绝取回"}, login="lead.cs")
        contact = wo["tasks"][0]
        api.ok("POST", f"/tasks/{contact['id']}/claim", {}, login="cs.agent1")
        api.ok("POST", f"/tasks/{contact['id']}/complete", {"outcome": "refused"}, login="cs.agent1")
        page = phone.sign_in("lead.cs")
        page.goto(f"{phone.base}/#/wo/{wo['id']}")
        route = page.locator("ol.route")
        expect(route.locator("li")).to_have_count(4)
        expect(route.locator("li.route-skipped")).to_have_count(2)
        expect(route.locator("li.route-skipped").first).to_contain_text("司机取回")
        expect(route.locator("li.route-skipped").first).to_contain_text("条件不满足")
        expect(route.locator("li.route-active")).to_contain_text("关闭召回")
        expect(route.locator("li.route-active .due-explained")).to_contain_text("2小时，按自然时间计算")  # why it is due then
        expect(page.locator(".timeline")).to_contain_text("环节跳过")
        # Steps are named by their titles, never by their keys.
        expect(page.locator(".timeline")).to_contain_text("环节: 司机取回")
        expect(page.locator(".timeline")).not_to_contain_text("环节: pickup")
    finally:
        api.ok("PATCH", "/me", {"locale": before}, login="lead.cs")
