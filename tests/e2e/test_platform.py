"""The PWA as a platform citizen: installable, push notifications, claim from the notification."""
import json
import re

from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.e2e.helpers import english, new_pool_task


def test_installable_without_errors(pw, live_server, tmp_path):
    ctx = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, **PHONE)
    try:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(live_server + "/")
        page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20000)
        cdp = ctx.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert not manifest.get("errors"), manifest.get("errors")
        assert manifest["url"].endswith("/manifest.webmanifest")
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors
    finally:
        ctx.close()


def _notifications(page, tag=None):
    return page.evaluate(
        """(tag) => navigator.serviceWorker.ready
            .then((r) => r.getNotifications(tag ? {tag} : {}))
            .then((ns) => ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.action), data: n.data})))""",
        tag,
    )


def _wait_notifications(page, tag, check, timeout=15.0):
    """Poll the service worker's notifications with `tag` until check(list) holds."""
    import time

    end = time.time() + timeout
    shown = []
    while time.time() < end:
        shown = _notifications(page, tag)
        if check(shown):
            return shown
        page.wait_for_timeout(200)
    raise AssertionError(f"notifications for {tag}: {shown}")


def _sw(phone):
    workers = phone.context.service_workers
    if not workers:
        workers = [phone.context.wait_for_event("serviceworker")]
    return workers[0]


def _push(phone, payload):
    """Deliver a push message to the app's service worker through the DevTools protocol."""
    cdp = phone.context.new_cdp_session(phone.page)
    regs, versions = [], []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: regs.extend(e["registrations"]))
    cdp.on("ServiceWorker.workerVersionUpdated", lambda e: versions.extend(e["versions"]))
    cdp.send("ServiceWorker.enable")

    def activated():  # a push sent to a registration whose worker is still being installed can be lost
        live = {r["registrationId"] for r in regs if r["scopeURL"].startswith(phone.base) and not r.get("isDeleted")}
        latest = {v["versionId"]: v for v in versions}  # each version's last reported state
        return next((v["registrationId"] for v in latest.values() if v["registrationId"] in live and v["status"] == "activated"), None)

    for _ in range(100):
        if activated():
            break
        phone.page.wait_for_timeout(100)
    registration = activated()
    assert registration, (regs, versions)
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": phone.base, "registrationId": registration, "data": json.dumps(payload)})


def _click(phone, tag, action=""):
    """What a tap on the notification (or on one of its buttons) does, dispatched in the service worker."""
    _sw(phone).evaluate(
        """async ({tag, action}) => {
            const [n] = await self.registration.getNotifications({tag});
            self.dispatchEvent(new NotificationEvent('notificationclick', {notification: n, action}));
            return true;
        }""",
        {"tag": tag, "action": action},
    )


def _offer(task, title):
    return {
        "kind": "task.offered", "title": title, "body": "Count the bin · Due in 1 h",
        "url": f"/#/task/{task['id']}", "tag": f"task-{task['id']}", "task_id": task["id"], "renotify": True,
        "actions": [{"action": "claim", "title": "Claim"}, {"action": "open", "title": "Open"}],
    }


def test_push_offer_claim_from_notification(phone, api):
    english(api, "staff.wh1")
    wo, task = new_pool_task(api, "E2E push claim E-11")
    phone.context.grant_permissions(["notifications"], origin=phone.base)
    phone.sign_in("staff.wh1")
    phone.wait_for_sw()
    tag = f"task-{task['id']}"
    _push(phone, _offer(task, "New task: E2E push claim E-11"))
    _wait_notifications(phone.page, tag, lambda n: len(n) == 1)
    [shown] = _notifications(phone.page, tag)
    assert shown["title"] == "New task: E2E push claim E-11"
    assert shown["actions"] == ["claim", "open"]
    assert shown["data"]["url"] == f"/#/task/{task['id']}"

    _click(phone, tag, "claim")
    _wait_notifications(phone.page, tag, lambda n: len(n) == 1 and n[0]["title"] == "It's yours")
    state = api.ok("GET", f"/tasks/{task['id']}", login="mgr.wh1")
    assert state["status"] == "claimed" and state["assignee_id"] == api.me("staff.wh1")["id"]

    # Tapping the follow-up opens the task itself in the open app.
    _click(phone, tag)
    expect(phone.page).to_have_url(re.compile(rf"#/task/{task['id']}$"))
    expect(phone.page.locator("h1")).to_have_text("E2E push claim E-11")


def test_push_claim_loses_the_race_and_taken_replaces_the_offer(phone, api):
    english(api, "staff.wh1")
    wo, task = new_pool_task(api, "E2E push race F-12")
    tag = f"task-{task['id']}"
    phone.context.grant_permissions(["notifications"], origin=phone.base)
    phone.sign_in("staff.wh1")
    phone.wait_for_sw()
    _push(phone, _offer(task, "New task: E2E push race F-12"))
    _wait_notifications(phone.page, tag, lambda n: len(n) == 1)
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login="staff.wh2")  # a colleague is faster
    _click(phone, tag, "claim")
    _wait_notifications(phone.page, tag, lambda n: len(n) == 1 and n[0]["title"] == "Someone else took it")

    # A "task.taken" push with the same tag replaces the offer on other phones.
    wo2, task2 = new_pool_task(api, "E2E push taken G-13")
    tag2 = f"task-{task2['id']}"
    _push(phone, _offer(task2, "New task: E2E push taken G-13"))
    _wait_notifications(phone.page, tag2, lambda n: len(n) == 1)
    _push(phone, {"kind": "task.taken", "title": "Taken by Sun", "body": "E2E push taken G-13", "tag": tag2, "url": "/#/inbox"})
    _wait_notifications(phone.page, tag2, lambda n: len(n) == 1 and n[0]["title"] == "Taken by Sun")
    [n] = _notifications(phone.page, tag2)
    assert n["actions"] == []


def test_push_opt_in_is_offered_not_forced(phone, api):
    english(api, "staff.wh2")
    page = phone.sign_in("staff.wh2")
    banner = page.locator(".banner-push")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Turn on notifications")
    assert page.evaluate("Notification.permission") == "default"
    banner.locator("button", has_text="Not now").click()
    expect(banner).to_have_count(0)
    page.reload()
    expect(page.locator(".banner-push")).to_have_count(0)


def test_iphone_safari_gets_install_guidance(phone_factory, api):
    english(api, "staff.wh2")
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    phone = phone_factory(user_agent=ua)
    page = phone.sign_in("staff.wh2")
    banner = page.locator(".banner-push")
    expect(banner).to_contain_text("Add to Home Screen")
    expect(banner.locator("button", has_text="Turn on notifications")).to_have_count(0)
