"""Quality: pull the andon on a batch (with a plain-words confirmation), follow it, resolve it."""
import re
import uuid
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.e2e.conftest import require, shot
from tests.e2e.helpers import english


def _catalogue(api, batch_no, sku, delivered_orders):
    now = datetime.now(timezone.utc)
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    api.ok("POST", "/products", {"products": [{"sku": sku, "name": "E2E yoghurt 200 g", "owner_department": "QA"}]}, login="admin")
    api.ok("POST", "/batches", {"batches": [{"batch_no": batch_no, "sku": sku, "supplier": "E2E Dairy", "produced_at": iso(now - timedelta(days=5)),
                                             "inbound_qc": {"result": "pass", "at": iso(now - timedelta(days=4))}}]}, login="admin")
    orders = [{
        "order_no": f"SO-{batch_no}-{i}",
        "customer_ref": f"C-{batch_no}-{i}",
        "placed_at": iso(now - timedelta(days=3)),
        "lines": [{"sku": sku, "batch_no": batch_no, "qty": 2, "warehouse": "WH-SH-01", "driver": "driver.li",
                   "shipped_at": iso(now - timedelta(days=2)), "delivered_at": iso(now - timedelta(days=1))}],
    } for i in range(delivered_orders)]
    api.ok("POST", "/orders", {"orders": orders}, login="admin")
    # Stock of the batch in both warehouses: the andon's containment quarantines it in each.
    api.ok("POST", "/inventory/events", {"events": [
        {"sku": sku, "batch_no": batch_no, "warehouse": code, "on_hand": 40, "available": 40, "threshold": 5,
         "at": iso(now - timedelta(hours=2))} for code in ("WH-SH-01", "WH-BJ-01")]}, login="admin")


def test_quality_pulls_and_resolves_an_andon(phone, api):
    for path in ("/andon", "/products", "/batches", "/orders"):
        require(api, "POST", path)
    english(api, "quality.qa")
    batch_no = f"B-E2E-{uuid.uuid4().hex[:6].upper()}"
    sku = f"SKU-E2E-{uuid.uuid4().hex[:6].upper()}"
    _catalogue(api, batch_no, sku, delivered_orders=3)

    page = phone.sign_in("quality.qa")
    page.locator(".tabbar .tab", has_text="Andon").click()
    expect(page.locator("h1")).to_have_text("Andon")
    page.locator("a.btn-danger", has_text="Pull the andon").click()
    page.locator("label.choice", has_text="One batch").click()
    page.get_by_label("Batch number").fill(batch_no)
    page.locator("button", has_text="Check").click()
    expect(page.locator(".lookup-card")).to_contain_text("3 orders")
    page.locator("label.choice", has_text="Recall").click()
    page.get_by_label("Reason").fill("Customer reports of swollen lids.")
    shot(page, "10-andon-pull")
    page.locator("form.andon-form button[type=submit]").click()
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text(f"Sales of batch {batch_no} stop immediately")
    expect(dialog).to_contain_text("3 orders will be recalled")
    dialog.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"#/andon/\d+$"))
    andon_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".chip-active").first).to_be_visible()
    expect(page.locator("progress")).to_have_count(4)

    state = api.ok("GET", f"/andon/{andon_id}", login="quality.qa")
    assert state["status"] == "active" and state["batch_no"] == batch_no
    # The recall work orders are created by the worker; the page polls and shows them.
    api.wait(lambda: len(api.ok("GET", f"/andon/{andon_id}", login="quality.qa").get("recall_work_orders") or []) >= 3, timeout=30)
    expect(page.locator(".link-list li")).to_have_count(3, timeout=20000)
    shot(page, "11-andon-live")

    # The containment work order reads as one: its data named in words, warehouses by name, each quarantine task
    # saying which warehouse it is for.
    containment = api.ok("GET", f"/work-orders/{state['containment_work_order_id']}", login="quality.qa")
    page.goto(f"{phone.base}/#/wo/{containment['id']}")
    expect(page.locator("h1")).to_contain_text(batch_no)
    details = page.locator(".section", has=page.locator("h2", has_text="Details"))
    expect(details).to_contain_text("Warehouses")
    expect(details).to_contain_text("Batch")
    expect(details).not_to_contain_text("[object Object]")
    expect(details).not_to_contain_text("andon_id")
    for task in containment["tasks"]:
        expect(page.locator(".steps .step", has_text=task["instance_label"])).to_have_count(1)
    page.goto(f"{phone.base}/#/andon/{andon_id}")

    page.locator(".action-bar button", has_text="Resolve the andon").click()
    page.locator("dialog textarea").fill("Lids were fine; supplier confirmed the seal.")
    # Its open work: nobody has started the containment or the recalls, so all of it is cancelled, with the reason.
    page.locator("dialog label.choice", has_text="Cancel what nobody has started").click()
    page.locator("dialog").get_by_label("Why it is cancelled").fill("False alarm")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator(".toast", has_text="4 work orders not started were cancelled")).to_be_visible()
    expect(page.locator(".chip-resolved").first).to_be_visible()
    assert api.ok("GET", f"/andon/{andon_id}", login="quality.qa")["status"] == "resolved"
    assert api.ok("GET", f"/work-orders/{containment['id']}", login="quality.qa")["status"] == "cancelled"
    assert phone.js_errors() == []


def test_batch_trace_view(phone, api):
    require(api, "GET", "/batches/B-1/trace")
    require(api, "POST", "/orders")
    english(api, "quality.qa")
    batch_no = f"B-TR-{uuid.uuid4().hex[:6].upper()}"
    _catalogue(api, batch_no, f"SKU-TR-{uuid.uuid4().hex[:6].upper()}", delivered_orders=60)
    page = phone.sign_in("quality.qa")
    phone.open(f"/trace/{batch_no}")
    expect(page.locator("h1")).to_contain_text(batch_no)
    expect(page.locator(".stat")).to_have_count(3)
    expect(page.locator(".trace-item", has_text=f"SO-{batch_no}-0")).to_be_visible()
    # The answer pages its lines (50 by default): the page counts all 60 and says it shows the first 50.
    lines = page.locator(".section", has=page.locator("h2", has_text="Order lines"))
    expect(lines.locator(".count")).to_have_text(" (60)")
    expect(lines.locator(".shown-of")).to_have_text("Showing the first 50 of 60.")
