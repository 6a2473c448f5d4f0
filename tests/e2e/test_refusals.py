"""Refusals said once, in words, and forms that let go of their errors (docs/design.md §15), on a phone: a stale
claim is refused once, naming who took the task; a queued action refused for good says who finished the task and
offers no retry that cannot succeed; signing in again sends what waited on "session expired" at once; a field's
error goes as soon as it is fixed."""
import time
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.helpers import english, new_pool_task, outbox_entries


def _new_warehouse_worker(api, name):
    """A person of their own for a test that ends their session (the shared demo logins stay untouched)."""
    login = f"e2e.{uuid.uuid4().hex[:8]}"
    wh = next(d["id"] for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == "WH-SH-01")
    api.ok("POST", "/users", {"login": login, "name": name, "password": DEMO_PASSWORD, "department_id": wh,
                              "roles": ["staff"], "locale": "en"}, login="admin")
    return login


def test_a_stale_claim_is_refused_once_naming_who_took_it(phone_factory, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="staff.wh1b")
    wo, task = new_pool_task(api, "E2E 过期的抢单 C-09")
    watcher = phone_factory(locale="zh-CN")
    page = watcher.sign_in("staff.wh1b")
    page.route("**/api/v1/changes", lambda route: route.abort())  # a screen that has not heard yet
    watcher.open(f"/task/{task['id']}")
    expect(page.locator(".action-bar .btn-primary")).to_have_text("领取")
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login="staff.wh2")
    page.locator(".action-bar .btn-primary").click()
    winner = api.me("staff.wh2")["name"]
    expect(page.locator(".notice-warn")).to_have_text(f"{winner} 已领取此任务。")
    expect(page.locator(".action-bar .btn-primary", has_text="领取")).to_have_count(0)
    expect(page.locator(".toast")).to_have_count(0)  # said once, on the screen, not twice
    assert watcher.js_errors() == []


def _claimed_offline(phone, api, name, title):
    """A new warehouse worker of their own, signed in, who claims a fresh pool task while the phone is offline."""
    login = _new_warehouse_worker(api, name)
    _, task = new_pool_task(api, title)
    page = phone.sign_in(login)
    phone.wait_for_sw()
    phone.open(f"/task/{task['id']}")
    expect(page.locator(".action-bar .btn-primary")).to_have_text("Claim")
    phone.context.set_offline(True)
    page.locator(".action-bar .btn-primary").click()
    expect(page.locator(".toast").last).to_contain_text("Saved on this phone")
    return login, task, page


def test_a_queued_claim_refused_for_good_says_who_finished_and_offers_no_retry(phone, api):
    _, task, page = _claimed_offline(phone, api, "E2E Tang", "E2E finished while offline D-11")
    # Meanwhile a colleague takes the task and finishes it.
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login="staff.wh2")
    detail = api.ok("GET", f"/tasks/{task['id']}", login="staff.wh2")
    outcome = detail["outcomes"][0] if detail.get("outcomes") else "counted"
    api.ok("POST", f"/tasks/{task['id']}/complete", {"outcome": outcome, "data": {"counted": 5}}, login="staff.wh2")
    phone.context.set_offline(False)
    api.wait(lambda: any(e["task_id"] == task["id"] and e["status"] == "failed" for e in outbox_entries(page)), timeout=40)
    phone.open("/outbox")
    item = page.locator(".ob-item.ob-failed")
    winner = api.me("staff.wh2")["name"]
    expect(item).to_contain_text(f"{winner} already completed this task")
    expect(item.locator("button", has_text="Try again")).to_have_count(0)
    expect(item.locator("a", has_text="Open the task")).to_be_visible()
    item.locator("button", has_text="Dismiss").click()
    expect(page.locator(".ob-item.ob-failed")).to_have_count(0)
    assert phone.js_errors() == []


def test_signing_in_again_sends_what_waited_at_once(phone, api):
    login, task, page = _claimed_offline(phone, api, "E2E Song", "E2E session ended while offline E-04")
    # The session ends while the phone is away (a password change ends every session).
    me = api.me(login)
    api.ok("PATCH", f"/users/{me['id']}", {"password": DEMO_PASSWORD}, login="admin")
    phone.context.set_offline(False)
    expect(page.locator("#signin-login, input[name=login]").first).to_be_visible(timeout=40000)
    assert api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")["status"] == "open"
    page.locator("#signin-login, input[name=login]").first.fill(login)
    page.locator("input[type=password]").fill(DEMO_PASSWORD)
    signed_in = time.monotonic()
    page.locator("form button[type=submit]").click()
    api.wait(lambda: api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")["status"] == "claimed", timeout=8)
    print(f"\nthe queued claim went {time.monotonic() - signed_in:.1f} s after signing in again")
    assert phone.js_errors() == []


def test_a_fields_error_goes_once_it_is_fixed(phone, api):
    english(api, "staff.wh1")
    wo, task = new_pool_task(api, "E2E fix the count F-01")
    page = phone.sign_in("staff.wh1")
    phone.open(f"/task/{task['id']}")
    page.locator(".action-bar .btn-primary").click()
    expect(page.locator(".action-bar button[type=submit]")).to_have_text("Complete")
    page.locator("label.choice", has_text="Count differs").click()
    page.locator(".action-bar button[type=submit]").click()
    error = page.locator(".field.has-error .field-error")
    expect(error).to_be_visible()
    expect(page.locator(".form-error")).to_be_visible()
    page.get_by_label("Counted quantity").fill("7")
    expect(page.locator(".field.has-error")).to_have_count(0)
    expect(page.locator(".form-error")).to_be_hidden()
    assert phone.js_errors() == []
