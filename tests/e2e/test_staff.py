"""Warehouse staff on a phone: sign in, claim, complete with a photo, race, offline, language."""
import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.helpers import english, new_pool_task, outbox_entries, png_bytes, reset_outbox_entry_to_pending


def test_sign_in(phone, api):
    english(api, "staff.wh1")
    page = phone.open("/inbox")
    expect(page).to_have_url(re.compile(r"#/signin"))
    shot(page, "01-sign-in")
    page.locator("input[name=login]").fill("staff.wh1")
    page.locator("input[name=password]").fill("wrong-password")
    page.locator("form.signin-form button[type=submit]").click()
    expect(page.locator(".form-error")).to_contain_text("do not match")
    page.locator("input[name=password]").fill("baton-demo")
    page.locator("form.signin-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"#/inbox"))
    expect(page.locator("h1")).to_have_text("Tasks")
    expect(page.locator('[role="tab"]')).to_have_count(2)
    # Remembered: a reload stays signed in, and the token is where the service worker can read it.
    page.reload()
    expect(page.locator("h1")).to_have_text("Tasks")
    token = page.evaluate("""() => new Promise((res) => { const r = indexedDB.open('baton-kv');
        r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('token'); g.onsuccess = () => res(g.result); }; })""")
    assert token and len(token) > 10
    # No push permission prompt on load: permission is still "default".
    assert page.evaluate("Notification.permission") == "default"
    assert phone.js_errors() == []


def test_staff_claims_and_completes_with_photo(phone, phone_factory, api, tmp_path):
    english(api, "staff.wh1")
    wo, task = new_pool_task(api, "E2E photo count A-01")
    page = phone.sign_in("staff.wh1")
    page.locator("#tab-pool").click()
    card = page.locator("li.card", has_text="E2E photo count A-01")
    expect(card).to_be_visible()
    expect(card.locator(".countdown")).to_contain_text("Due in")
    shot(page, "02-inbox-can-claim")
    card.locator("button.btn-claim").click()
    expect(page.locator(".toast").last).to_contain_text("It's yours")
    page.locator("#tab-mine").click()
    page.locator("li.card", has_text="E2E photo count A-01").locator("a.card-link").click()
    expect(page).to_have_url(re.compile(rf"#/task/{task['id']}$"))
    expect(page.locator("h1")).to_have_text("E2E photo count A-01")
    # Due within the hour: minutes and seconds in words, never "28:50", which reads as a time of day.
    expect(page.locator(".task-head .countdown-text")).to_have_text(re.compile(r"^Due in \d+ min \d+ s$"))
    page.locator("label.choice", has_text="Count matches").click()
    page.get_by_label("Counted quantity").fill("12")
    page.locator("textarea[name=note]").fill("Counted twice, all good.")
    photo = tmp_path / "shelf.png"
    photo.write_bytes(png_bytes(2400, 1800))
    page.locator("input[type=file][capture=environment]").set_input_files(str(photo))
    expect(page.locator(".photo-preview img")).to_be_visible()
    shot(page, "03-task-complete-form")
    page.locator(".action-bar button[type=submit]").click()
    expect(page.locator(".toast").last).to_contain_text("Completed")
    expect(page).to_have_url(re.compile(r"#/inbox"))

    # Opened again, the finished task says when it was done instead of counting down.
    phone.open(f"/task/{task['id']}")
    expect(page.locator(".task-head")).to_contain_text("Done")
    expect(page.locator(".task-head .countdown")).to_have_count(0)
    done = api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")
    assert done["status"] == "completed"
    assert done["outcome"] == "matches"
    assert done["data"]["counted"] == 12
    attachment_id = done["data"].get("photo")
    assert attachment_id, done["data"]
    detail = api.ok("GET", f"/work-orders/{wo['id']}", login="mgr.wh1")
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("completed") == 1
    assert any("attach" in k for k in kinds), kinds
    assert phone.js_errors() == []

    # The lead sees the photo itself, not "photo: 12": a thumbnail in the details and in the files, full screen on a tap.
    english(api, "mgr.wh1")
    lead_phone = phone_factory()
    lead = lead_phone.sign_in("mgr.wh1")
    lead.goto(f"{phone.base}/#/wo/{wo['id']}")
    files = lead.locator(".section", has=lead.locator("#wo-files"))
    thumb = files.locator("button.thumb img")
    expect(thumb).to_have_count(1)
    lead.wait_for_function("() => { const i = document.querySelector('#main .thumb img'); return i && i.complete && i.naturalWidth > 0; }")
    expect(lead.locator(".facts button.thumb")).to_have_count(1)  # the Photo field of the details
    files.locator("button.thumb").click()
    viewer = lead.locator("dialog.viewer")
    expect(viewer).to_be_visible()
    lead.wait_for_function("() => { const i = document.querySelector('dialog.viewer img'); return i && i.complete && i.naturalWidth > 0; }")
    viewer.get_by_role("button", name="Close").click()
    expect(viewer).to_have_count(0)
    assert lead_phone.js_errors() == []


def test_two_phones_race_for_one_pool_task(phone_factory, api):
    english(api, "staff.wh1", "staff.wh2")
    wo, task = new_pool_task(api, "E2E race for bin C-07")
    one, two = phone_factory(), phone_factory()
    for p, login in ((one, "staff.wh1"), (two, "staff.wh2")):
        p.sign_in(login)
        p.open(f"/task/{task['id']}")
        expect(p.page.locator(".action-bar .btn-primary")).to_have_text("Claim")
    # Both thumbs land at the same moment: fire both clicks before either answer arrives.
    click = "document.querySelector('.action-bar .btn-primary').click()"
    one.page.evaluate(click)
    two.page.evaluate(click)
    api.wait(lambda: api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")["status"] == "claimed")
    state = api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")
    winner_login = "staff.wh1" if state["assignee_id"] == api.me("staff.wh1")["id"] else "staff.wh2"
    assert state["assignee_id"] == api.me(winner_login)["id"]
    winner, loser = (one, two) if winner_login == "staff.wh1" else (two, one)
    expect(winner.page.locator(".toast").first).to_contain_text("yours")
    expect(winner.page.locator(".action-bar button[type=submit]")).to_have_text("Complete")
    # The loser is told once, on the screen, by whom: no second message in a toast.
    expect(loser.page.locator(".notice-warn")).to_have_text(f"{api.me(winner_login)['name']} has taken this task.")
    expect(loser.page.locator(".toast")).to_have_count(0)


def test_an_open_task_screen_stops_offering_a_claim_a_colleague_took(phone_factory, api):
    """No push reaches this phone (none is subscribed): the screen itself notices within seconds, not after the
    inbox's next look, and never offers a claim that can only be refused."""
    english(api, "staff.wh1b")
    wo, task = new_pool_task(api, "E2E taken while watching")
    watcher = phone_factory()
    watcher.sign_in("staff.wh1b")
    watcher.open(f"/task/{task['id']}")
    page = watcher.page
    expect(page.locator(".action-bar .btn-primary")).to_have_text("Claim")
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login="staff.wh2")
    expect(page.locator(".action-bar .btn-primary", has_text="Claim")).to_have_count(0, timeout=8000)
    expect(page.locator(".notice-warn")).to_have_text(f"{api.me('staff.wh2')['name']} has taken this task.")
    assert watcher.js_errors() == []


def test_completed_offline_is_delivered_exactly_once(phone, api):
    english(api, "staff.wh1")
    wo, task = new_pool_task(api, "E2E offline count D-02")
    page = phone.sign_in("staff.wh1")
    phone.wait_for_sw()
    phone.open(f"/task/{task['id']}")
    page.locator(".action-bar .btn-primary").click()
    expect(page.locator(".action-bar button[type=submit]")).to_have_text("Complete")
    page.wait_for_load_state("networkidle")  # the screen's own reload after the claim has landed

    phone.context.set_offline(True)
    expect(page.locator(".banner-offline")).to_be_visible()
    page.locator("label.choice", has_text="Count differs").click()
    page.get_by_label("Counted quantity").fill("7")
    page.locator("textarea[name=note]").fill("Three boxes missing.")
    tapped_after = time.time()
    page.locator(".action-bar button[type=submit]").click()
    expect(page.locator(".toast").last).to_contain_text("Saved on this phone")
    saved_before = time.time()
    expect(page.locator(".sync-chip")).to_contain_text("1 to send")
    page.locator(".sync-chip").click()
    expect(page.locator(".ob-item.ob-pending")).to_have_count(1)
    shot(page, "04-outbox-offline")
    [entry] = [e for e in outbox_entries(page) if e["task_id"] == task["id"] and e["kind"] == "complete"]
    assert entry["status"] == "pending"
    time.sleep(2)  # the server must keep the device's time, not the (later) delivery time
    assert api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")["status"] == "claimed"

    phone.context.set_offline(False)
    expect(page.locator(".ob-item.ob-done").first).to_be_visible(timeout=30000)
    api.wait(lambda: api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")["status"] == "completed")

    # A lost answer makes the phone send the same action again, with the same key: no second effect.
    reset_outbox_entry_to_pending(page, entry["id"])
    page.reload()
    api.wait(lambda: any(e["id"] == entry["id"] and e["status"] == "done" for e in outbox_entries(page)), timeout=30)
    attempts = page.evaluate(
        """(id) => new Promise((res) => { const r = indexedDB.open('baton-outbox'); r.onsuccess = () => {
            const g = r.result.transaction('entries').objectStore('entries').get(id); g.onsuccess = () => res(g.result.attempts); }; })""",
        entry["id"],
    )
    assert attempts >= 2, "the replay did not happen"
    detail = api.ok("GET", f"/work-orders/{wo['id']}", login="mgr.wh1")
    completed = [e for e in detail["timeline"] if e["kind"] == "completed" and e.get("task_id") == task["id"]]
    assert len(completed) == 1, completed
    done = api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")
    assert done["outcome"] == "discrepancy" and done["data"]["counted"] == 7
    occurred = completed[0]["occurred_at"]
    assert occurred, completed[0]  # the phone sent its own time with the queued completion
    from datetime import datetime

    t = datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp()
    assert tapped_after - 0.5 <= t <= saved_before + 0.5, (occurred, tapped_after, saved_before)  # the tap, not the delivery
    assert datetime.fromisoformat(completed[0]["at"].replace("Z", "+00:00")).timestamp() - t >= 2  # received later
    assert phone.js_errors() == []


def test_app_shell_opens_offline(phone, api):
    english(api, "staff.wh1")
    page = phone.sign_in("staff.wh1")
    phone.wait_for_sw()
    expect(page.locator("li.card").first).to_be_visible()
    page.reload()  # the inbox read now goes through the service worker and is cached
    expect(page.locator("li.card").first).to_be_visible()
    phone.context.set_offline(True)
    page.reload()
    expect(page.locator(".topbar")).to_be_visible()
    expect(page.locator(".tabbar .tab").first).to_be_visible()
    expect(page.locator("h1")).to_have_text("Tasks")
    expect(page.locator(".stale")).to_contain_text("Offline — last updated")
    expect(page.locator("li.card").first).to_be_visible()
    shot(page, "05-inbox-offline")
    phone.context.set_offline(False)


def test_switching_language(phone, api):
    english(api, "staff.wh2")
    page = phone.sign_in("staff.wh2")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.locator(".tabbar .tab", has_text="Me").click()
    page.locator("label.choice", has_text="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".tabbar")).to_contain_text("待办")
    expect(page.locator("h1")).to_have_text("我的")
    shot(page, "06-settings-zh")
    api.wait(lambda: api.me("staff.wh2")["locale"] == "zh-CN")
    # Dates follow the chosen locale too.
    page.locator(".tabbar .tab", has_text="待办").click()
    expect(page.locator("h1")).to_have_text("待办任务")
    page.locator(".tabbar .tab", has_text="我的").click()
    page.locator("label.choice", has_text="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".tabbar")).to_contain_text("Tasks")
    api.wait(lambda: api.me("staff.wh2")["locale"] == "en")
    assert phone.js_errors() == []


def test_a_stand_in_is_picked_by_name_and_shown_by_name(phone, api):
    """Settings used to want a numeric user id for the stand-in; people type part of a name and pick the person."""
    api.ok("PATCH", "/me", {"locale": "zh-CN", "on_duty": True, "delegate_id": None}, login="staff.wh2b")
    page = phone.sign_in("staff.wh2b")
    page.locator(".tabbar .tab", has_text="我的").click()
    page.locator("label.check", has_text="在岗").click()  # off duty: the stand-in field appears
    name = api.me("staff.wh2")["name"]
    field = page.get_by_label("离岗代理人")
    field.fill(name.split()[0])  # part of the name: the directory suggests who it may be
    expect(page.locator(f"datalist option[value='{name} (staff.wh2)']")).to_have_count(1)
    field.fill(f"{name} (staff.wh2)")  # picked from the suggestions
    page.locator(".page-settings form button[type=submit]").first.click()
    expect(page.locator(".page-settings")).to_contain_text(f"当前：{api.me('staff.wh2')['name']}")
    me = api.me("staff.wh2b")
    assert me["delegate"]["login"] == "staff.wh2" and me["on_duty"] is False
    api.ok("PATCH", "/me", {"on_duty": True, "delegate_id": None}, login="staff.wh2b")


def test_a_driver_sees_the_case_and_what_the_warehouse_found(phone, api):
    """Opening their task, the driver reads the customer's phone and the warehouse's findings (zh-CN)."""
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="driver.wang")
    wo = api.ok("POST", "/work-orders", {"template": "complaint", "title": "E2E 包装破损", "order_no": "SO-E2E-CASE",
                                          "data": {"customer_phone": "13900001111"}}, login="lead.cs")
    triage = wo["tasks"][0]
    api.ok("POST", f"/tasks/{triage['id']}/complete", {"outcome": "accepted"}, login="cs.agent1")
    check = next(t for t in api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["tasks"] if t["step"] == "warehouse_check")
    api.ok("POST", f"/tasks/{check['id']}/complete", {"outcome": "stock_damaged", "data": {"findings": "外箱压坏"}}, login="staff.wh1")
    visit = next(t for t in api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["tasks"] if t["step"] == "driver_visit")
    page = phone.sign_in("driver.wang")
    phone.open(f"/task/{visit['id']}")
    expect(page.locator("#sec-case")).to_have_text("案件信息")
    case = page.locator(".section", has=page.locator("#sec-case"))
    expect(case).to_contain_text("13900001111")
    earlier = page.locator(".section", has=page.locator("#sec-earlier"))
    expect(earlier).to_contain_text("仓库核查 Warehouse check")
    expect(earlier).to_contain_text("外箱压坏")
    expect(earlier).to_contain_text(api.me("staff.wh1")["name"])
    expect(page.locator(".due-explained")).to_contain_text("4小时，按自然时间计算")  # this step runs on the wall clock
    assert phone.js_errors() == []


def test_a_task_on_office_hours_says_why_it_is_due_then(phone, api):
    """The demo's safety briefing counts working time on the warehouses' calendar (cn-standard, inherited from
    Operations): the worker reads the SLA, the calendar and what is not counted, in their language."""
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="staff.wh1b")
    wo = api.ok("POST", "/work-orders", {"template": "safety_briefing", "title": "E2E 安全交底"}, login="mgr.wh1")
    task = next(t for t in wo["tasks"] if t["assignee"] and t["assignee"]["login"] == "staff.wh1b")
    page = phone.sign_in("staff.wh1b")
    phone.open(f"/task/{task['id']}")
    explained = page.locator(".due-explained")
    expect(explained).to_contain_text("8小时工作时间")
    expect(explained).to_contain_text("中国标准工作日")
    assert phone.js_errors() == []


def test_a_task_is_handed_to_someone_picked_by_name(phone, api):
    """Transfer offers the other candidates, and anyone else by name from the people directory: never an id."""
    from tests.e2e.helpers import new_pool_task

    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="staff.wh1")
    wo, task = new_pool_task(api, "E2E 转交给外部门同事")
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login="staff.wh1")
    driver = api.me("driver.chen")  # not a candidate: a driver, picked by name
    page = phone.sign_in("staff.wh1")
    phone.open(f"/task/{task['id']}")
    page.locator("button", has_text="转交").first.click()
    dialog = page.locator("dialog[open]")
    field = dialog.get_by_label("或其他人（按姓名）")
    field.fill(driver["name"].split()[0])
    expect(dialog.locator(f"datalist option[value='{driver['name']} (driver.chen)']")).to_have_count(1)
    field.fill(f"{driver['name']} (driver.chen)")
    dialog.locator("button[type=submit]").click()
    expect(page.locator(".toast", has_text="已转交")).to_be_visible()
    after = api.ok("GET", f"/work-orders/{wo['id']}", login="mgr.wh1")
    assert next(t for t in after["tasks"] if t["id"] == task["id"])["assignee"]["login"] == "driver.chen"
    assert phone.js_errors() == []
