"""A task Baton handed out (docs/design.md §16): the phone's timeline says to whom and how, in words."""
import re

from playwright.sync_api import expect

from tests.e2e.helpers import english


def test_the_task_screen_says_a_task_was_assigned_and_how(phone, api):
    english(api, "staff.wh2")
    staff = api.me("staff.wh2")
    api.ok("POST", "/templates", {"key": "e2e-dispatch", "name": "E2E dispatch", "steps": [
        {"key": "pick", "title": "Pick", "mode": "pool", "assignees": {"users": [staff["id"]]}, "dispatch": "least_loaded",
         "capacity": 5}]}, login="admin")
    wo = api.create_work_order("mgr.wh1", "e2e-dispatch", "E2E dispatched pick")
    (task,) = wo["tasks"]
    assert task["assignee_id"] == staff["id"] and task["status"] == "claimed"

    page = phone.sign_in("staff.wh2")
    phone.open(f"/task/{task['id']}")
    expect(page).to_have_url(re.compile(rf"#/task/{task['id']}$"))
    item = page.locator("li.tl-assigned")
    expect(item.locator(".tl-head")).to_contain_text("Assigned")
    expect(item).to_contain_text(f"Given to: {staff['name']}")
    expect(item).to_contain_text("How: To whoever had the fewest open tasks · at most 5 open each")
    assert phone.js_errors() == []
