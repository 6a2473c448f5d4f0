"""Calendars edited in the console (docs/design.md §12, §13), in a desktop browser in zh-CN: the built-in calendar is
read-only and copied; a period that ends before it starts is refused at that period; the calendar is created with a
day off of its own and a make-up day, then its Friday shortened, and the live tasks on it re-planned."""
import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import shot


def test_an_admin_copies_the_built_in_calendar_and_changes_it(desktop, api):
    tag = uuid.uuid4().hex[:6].upper()
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = desktop.sign_in("admin")
    desktop.open("/admin/calendars")
    page.locator(".card a.card-title").first.click()  # the built-in one comes first
    expect(page.locator(".notice-info")).to_contain_text("内置日历跟随节假日库，不能修改")
    expect(page.locator("form.cal-form input").first).to_be_disabled()
    page.get_by_role("button", name="复制一份").click()

    name = page.get_by_label("名称")
    expect(name).to_have_value(re.compile(r"（副本）$"))
    name.fill(f"E2E 夜班仓 {tag}")
    monday = page.locator('tr[data-day="mon"]')
    expect(monday.locator(".cal-row")).to_have_count(2)  # 09:00–12:00 and 13:00–18:00, copied
    monday.locator(".cal-row").nth(1).get_by_label("结束").fill("12:30")  # ends before it starts
    page.get_by_role("button", name="添加休息日").click()
    page.get_by_label("休息日").last.fill("2027-03-15")
    page.get_by_role("button", name="添加调休上班日").click()
    page.get_by_label("调休上班日").last.fill("2027-03-20")
    page.get_by_label("按哪天上班").last.select_option("fri")
    page.get_by_role("button", name="创建日历").click()
    error = monday.locator(".cal-row").nth(1).locator(".field-error")
    expect(error).to_be_visible()
    expect(page.locator(".form-error")).to_be_visible()
    assert not [c for c in api.ok("GET", "/calendars?per_page=500", login="admin")["items"] if c["name"] == f"E2E 夜班仓 {tag}"]

    monday.locator(".cal-row").nth(1).get_by_label("结束").fill("18:00")
    expect(error).to_be_hidden()  # fixed: its message goes
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "18-console-calendar")
    page.get_by_role("button", name="创建日历").click()
    expect(page.locator(".toast", has_text="日历已创建")).to_be_visible()
    (made,) = [c for c in api.ok("GET", "/calendars?per_page=500", login="admin")["items"] if c["name"] == f"E2E 夜班仓 {tag}"]
    assert made["week"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]] and made["holidays_from"] == "CN"
    assert "2027-03-15" in made["holidays"] and {"date": "2027-03-20", "as": "fri"} in made["workdays"]

    # Friday ends at noon from now on: saved, and said how many live tasks were re-planned.
    page.locator(".card a.card-title", has_text=f"E2E 夜班仓 {tag}").click()
    friday = page.locator('tr[data-day="fri"]')
    friday.locator(".cal-row").nth(1).get_by_role("button", name="移除").click()
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".toast", has_text="项进行中的任务已按新工时重新计划")).to_be_visible()
    assert api.ok("GET", f"/calendars/{made['id']}", login="admin")["week"]["fri"] == [["09:00", "12:00"]]
    assert desktop.js_errors() == []
