"""A lead's shifts on the phone (docs/design.md §16), from the team board: the week per person, a shift added, changed
and deleted, a refusal shown on its field in the reader's language, and the board saying who is on shift until when
and when the next shift of someone off starts. The people are made for each test (a shift changes who is on duty, and
the live server is shared by every test); the phone's clock reads Shanghai time."""
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.e2e.conftest import shot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _person(api, login, name, department_code):
    department = next(d for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == department_code)
    tag = uuid.uuid4().hex[:6]
    return api.ok("POST", "/users", {"login": login, "name": name, "password": f"shift-person-{tag}-pass",
                                     "roles": ["staff"], "department_id": department["id"]}, login="admin")


def _local(moment):
    return moment.strftime("%Y-%m-%dT%H:%M")


def _card(page, person):
    return page.locator(f'.roster-person[data-user-id="{person["id"]}"]')


def test_a_lead_adds_a_shift_sees_it_on_the_week_and_the_board_and_an_overlap_is_refused_in_chinese(phone_factory, api):
    tag = uuid.uuid4().hex[:6]
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="mgr.wh1")
    ding = _person(api, f"e2e.ding.{tag}", f"丁敏 Ding {tag}", "WH-SH-01")
    wan = _person(api, f"e2e.wan.{tag}", f"万芳 Wan {tag}", "WH-SH-01")
    now = datetime.now(SHANGHAI)
    if now.hour == 23 and now.minute >= 58:  # the test reads "today" and the phone shows it: not across midnight
        time.sleep((timedelta(days=1) - timedelta(hours=now.hour, minutes=now.minute, seconds=now.second)).total_seconds() + 5)
        now = datetime.now(SHANGHAI)
    now = now.replace(second=0, microsecond=0)
    starts = now.replace(minute=0) - timedelta(hours=1)
    ends = starts + timedelta(hours=4)
    # Wan works tonight, planned through the API: off now, with a next shift.
    tonight = now.replace(minute=0) + timedelta(hours=6)
    api.ok("POST", "/shifts", {"user_id": wan["id"], "starts_at": tonight.isoformat(), "ends_at": (tonight + timedelta(hours=8)).isoformat()},
           login="mgr.wh1")

    # Restocking dispatched to the two of them, at most two each: whoever is on duty is given work up to the cap.
    key = f"restock_shift_{tag}"
    api.ok("POST", "/templates", {"key": key, "name": f"补货上架 Restock {tag}", "steps": [
        {"key": "shelve", "title": "上架 Shelve", "mode": "pool", "assignees": {"users": [ding["id"], wan["id"]]},
         "sla": "PT2H", "dispatch": "least_loaded", "capacity": 2}]}, login="admin")

    phone = phone_factory(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = phone.sign_in("mgr.wh1")
    page.locator(".tabbar .tab", has_text="工单").click()
    page.locator("a.btn", has_text="团队").click()
    page.locator(".page-team a.btn", has_text="排班").click()
    expect(page.locator("h1")).to_have_text("排班")
    today = now.strftime("%Y-%m-%d")
    expect(_card(page, ding).locator(f'.roster-day[data-day="{today}"]')).to_have_attribute("aria-current", "date")
    if tonight.date() - timedelta(days=tonight.weekday()) == now.date() - timedelta(days=now.weekday()):
        expect(_card(page, wan).locator(".roster-shift")).to_have_count(1)
    else:  # late on a Sunday, Wan's shift tonight starts next week: the lead looks there, and comes back
        expect(_card(page, wan).locator(".roster-shift")).to_have_count(0)
        page.get_by_role("link", name="下一周").click()
        expect(_card(page, wan).locator(f'.roster-day[data-day="{tonight:%Y-%m-%d}"] .roster-shift')).to_have_count(1)
        page.get_by_role("link", name="本周").click()
        expect(_card(page, ding).locator(f'.roster-day[data-day="{today}"]')).to_have_attribute("aria-current", "date")

    # An empty day of Ding's opens the form with Ding picked; the lead sets the times and adds it.
    _card(page, ding).locator(f'.roster-day[data-day="{today}"] a.roster-empty').click()
    expect(page.locator("h1")).to_have_text("添加班次")
    expect(page.get_by_label("人员", exact=True)).to_have_value(str(ding["id"]))
    page.get_by_label("开始", exact=True).fill(_local(starts))
    page.get_by_label("结束", exact=True).fill(_local(ends))
    page.get_by_role("button", name="添加班次").click()
    expect(page.locator(".toast", has_text="班次已添加")).to_be_visible()
    expect(page.locator("h1")).to_have_text("排班")
    chip = _card(page, ding).locator(f'.roster-day[data-day="{starts:%Y-%m-%d}"] .roster-shift')
    expect(chip).to_contain_text(f"{starts:%H:%M}")
    expect(chip).to_contain_text(f"{ends:%H:%M}")
    shot(page, "19-shift-week")

    # A second shift overlapping it is refused at its start, in Chinese, saying which shift it overlaps.
    page.locator("a.roster-add-btn").click()
    page.get_by_label("人员", exact=True).select_option(str(ding["id"]))
    page.get_by_label("开始", exact=True).fill(_local(starts + timedelta(hours=1)))
    page.get_by_label("结束", exact=True).fill(_local(starts + timedelta(hours=2)))
    page.get_by_role("button", name="添加班次").click()
    refusal = page.locator(".field", has=page.get_by_label("开始", exact=True)).locator(".field-error")
    expect(refusal).to_contain_text("与同一人或同一小组的班次")
    expect(refusal).to_contain_text("时间重叠")
    expect(refusal).to_contain_text("与以下班次重叠：")
    expect(refusal).to_contain_text(f"{starts:%H:%M}–")
    expect(page.get_by_label("开始", exact=True)).to_have_attribute("aria-invalid", "true")

    # The board: Ding on shift until the end, given work up to the cap; Wan off with the next shift.
    for n in range(3):
        api.ok("POST", "/work-orders", {"template": key, "title": f"补货 {tag} {n}"}, login="mgr.wh1")
    page.locator(".back-link").click()
    expect(page.locator("h1")).to_have_text("排班")
    page.locator(".back-link").click()
    expect(page.locator("h1")).to_have_text("团队看板")
    board_ding = page.locator(f'.team-person[data-user-id="{ding["id"]}"]')
    expect(board_ding).to_contain_text("在岗")
    expect(board_ding.locator(".team-why")).to_contain_text("在班至")
    expect(board_ding.locator(".team-why")).to_contain_text(f"{ends:%H:%M}")
    expect(board_ding.locator(".team-load", has_text=f"补货上架 Restock {tag}")).to_contain_text("2 / 上限 2")
    board_wan = page.locator(f'.team-person[data-user-id="{wan["id"]}"]')
    expect(board_wan).to_contain_text("不在岗")
    expect(board_wan.locator(".team-why")).to_have_text("不在班次内")
    expect(board_wan.locator(".team-next")).to_contain_text("下一班次：")
    expect(board_wan.locator(".team-next")).to_contain_text(f"{tonight:%H:%M}–")
    page.evaluate("() => { const el = document.querySelector('.team-waiting');"
                  " window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 72); }")
    shot(page, "19-team-board-shifts")
    assert phone.js_errors() == []


def test_a_lead_changes_and_deletes_a_shift_in_english_and_edits_only_online(phone_factory, api):
    tag = uuid.uuid4().hex[:6]
    api.ok("PATCH", "/me", {"locale": "en"}, login="mgr.wh2")
    kim = _person(api, f"e2e.kim.{tag}", f"Kim {tag}", "WH-BJ-01")
    tomorrow = (datetime.now(SHANGHAI) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)

    phone = phone_factory(locale="en-US", timezone_id="Asia/Shanghai")
    page = phone.sign_in("mgr.wh2")
    phone.open("/team/shifts")
    expect(page.locator("h1")).to_have_text("Shifts")
    page.locator("a.roster-add-btn").click()
    expect(page.locator("h1")).to_have_text("Add shift")
    page.get_by_label("Person", exact=True).select_option(str(kim["id"]))
    page.get_by_label("Starts", exact=True).fill(_local(tomorrow))
    page.get_by_label("Ends", exact=True).fill(_local(tomorrow - timedelta(hours=1)))  # before it starts
    page.get_by_role("button", name="Add shift").click()
    expect(page.locator(".field", has=page.get_by_label("Ends", exact=True)).locator(".field-error")).to_have_text(
        "The end must be after the start.")
    page.get_by_label("Ends", exact=True).fill(_local(tomorrow + timedelta(hours=8)))
    page.get_by_role("button", name="Add shift").click()
    expect(page.locator(".toast", has_text="Shift added")).to_be_visible()
    chip = _card(page, kim).locator(f'.roster-day[data-day="{tomorrow:%Y-%m-%d}"] .roster-shift')
    expect(chip).to_contain_text("08:00–")
    expect(chip).to_contain_text("16:00")

    # On the board: off shift, the next shift tomorrow.
    page.locator(".back-link").click()
    expect(page.locator("h1")).to_have_text("Team board")
    card = page.locator(f'.team-person[data-user-id="{kim["id"]}"]')
    expect(card.locator(".team-why")).to_have_text("Off shift")
    expect(card.locator(".team-next")).to_contain_text("Next shift:")
    expect(card.locator(".team-next")).to_contain_text("08:00–16:00")

    # Changed: it ends at 18:00; then deleted.
    page.locator(".page-team a.btn", has_text="Shifts").click()
    expect(page.locator("h1")).to_have_text("Shifts")
    monday = tomorrow - timedelta(days=tomorrow.weekday())
    phone.open(f"/team/shifts?week={monday:%Y-%m-%d}")  # tomorrow may be next week
    _card(page, kim).locator(".roster-shift").click()
    expect(page.locator("h1")).to_have_text("Change shift")
    page.get_by_label("Ends", exact=True).fill(_local(tomorrow + timedelta(hours=10)))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast", has_text="Shift saved")).to_be_visible()
    expect(_card(page, kim).locator(".roster-shift")).to_contain_text("18:00")
    (saved,) = api.ok("GET", f"/shifts?user_id={kim['id']}", login="mgr.wh2")["items"]

    # Offline, the screen says shifts are edited online and its buttons wait.
    _card(page, kim).locator(".roster-shift").click()
    expect(page.locator("h1")).to_have_text("Change shift")
    phone.context.set_offline(True)
    expect(page.locator(".roster-offline")).to_contain_text("Shifts are changed online only")
    expect(page.get_by_role("button", name="Save")).to_be_disabled()
    expect(page.get_by_role("button", name="Delete shift")).to_be_disabled()
    phone.context.set_offline(False)
    expect(page.locator(".roster-offline")).to_be_hidden()
    page.get_by_role("button", name="Delete shift").click()
    page.locator("dialog").get_by_role("button", name="Delete shift").click()
    expect(page.locator(".toast", has_text="Shift deleted")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Shifts")
    expect(_card(page, kim).locator(".roster-shift")).to_have_count(0)
    assert api.ok("GET", f"/shifts?user_id={kim['id']}", login="mgr.wh2")["items"] == []
    assert saved["ends_at"] > saved["starts_at"]
    assert phone.js_errors() == []
