"""Shifts in the console (docs/design.md §16), in a desktop browser in English: an admin plans a night shift for a
person picked by name, a shift that ends before it starts is refused at its field, the shift is listed and removed.
The person is made for this test: a shift changes who is on duty, and the live server is shared by every test."""
import uuid

from playwright.sync_api import expect


def test_an_admin_plans_and_removes_a_shift(desktop, api):
    tag = uuid.uuid4().hex[:6]
    login = f"e2e.night.{tag}"
    api.ok("POST", "/users", {"login": login, "name": f"Night picker {tag}", "password": f"night-shift-{tag}-pass",
                              "roles": ["staff"]}, login="admin")
    api.ok("PATCH", "/me", {"locale": "en"}, login="admin")
    page = desktop.sign_in("admin")
    desktop.open("/admin/shifts")
    person = page.get_by_label("Person")
    person.fill(login)
    page.get_by_label("Starts").fill("2027-01-04T22:00")
    page.get_by_label("Ends").fill("2027-01-04T20:00")  # before it starts
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("form .form-error")).to_contain_text("ends_at")

    page.get_by_label("Ends").fill("2027-01-05T06:00")
    page.locator("#shift-handover").check()
    page.get_by_role("button", name="Plan").click()
    expect(page.locator(".toast", has_text="Shift planned")).to_be_visible()
    shifts = [s for s in api.ok("GET", "/shifts?per_page=200", login="admin")["items"] if s["handover"]]
    (made,) = [s for s in shifts if s["user_id"] == next(
        u["id"] for u in api.ok("GET", f"/users?q={login}", login="admin")["items"] if u["login"] == login)]
    assert made["ends_at"] > made["starts_at"]
    api.ok("DELETE", f"/shifts/{made['id']}", login="admin")
    assert desktop.js_errors() == []
