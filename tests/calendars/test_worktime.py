"""Working-time arithmetic at the edges (docs/design.md §12): weekends, lunch, China's holidays and make-up days
from the library, other time zones and summer time, starts outside working hours, reminders and escalations."""
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from app.calendars.library import region_days
from app.calendars.service import BUILT_IN_WEEK
from app.calendars.worktime import WorkingTime
from app.flows.timing import TimerKind, due_at, explain_due, timer_plan

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE_TO_SIX = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def at(text: str, zone=SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def cn_standard() -> WorkingTime:
    """The built-in calendar as the service compiles it: office hours with China's days from the library."""
    days = region_days("CN")
    return WorkingTime(zone="Asia/Shanghai", week=BUILT_IN_WEEK, holidays=days.holidays,
                       workdays={d: "mon" for d in days.workdays}, key="cn-standard", name="cn",
                       coverage_until=days.coverage_until)


def test_an_sla_given_late_on_friday_is_due_on_monday():
    clock = WorkingTime(zone="Asia/Shanghai", week=NINE_TO_SIX)
    assert clock.add(at("2026-12-04 17:00"), timedelta(hours=4)) == at("2026-12-07 12:00")
    assert clock.between(at("2026-12-04 17:00"), at("2026-12-07 12:00")) == timedelta(hours=4)


def test_a_duration_ending_with_the_day_is_due_then_not_the_next_morning():
    clock = WorkingTime(zone="Asia/Shanghai", week=NINE_TO_SIX)
    assert clock.add(at("2026-12-04 14:00"), timedelta(hours=4)) == at("2026-12-04 18:00")


def test_the_lunch_break_is_not_counted():
    clock = cn_standard()
    assert clock.add(at("2026-12-03 11:00"), timedelta(hours=2)) == at("2026-12-03 14:00")
    [gap] = clock.gaps(at("2026-12-03 11:00"), at("2026-12-03 14:00"))
    assert (gap.start, gap.end, gap.reason) == (at("2026-12-03 12:00"), at("2026-12-03 13:00"), "break")


def test_a_start_outside_working_hours_waits_for_the_next_period():
    clock = WorkingTime(zone="Asia/Shanghai", week=NINE_TO_SIX)
    assert clock.add(at("2026-12-01 07:00"), timedelta(hours=1)) == at("2026-12-01 10:00")
    assert clock.add(at("2026-12-05 10:00"), timedelta(hours=1)) == at("2026-12-07 10:00")  # a Saturday
    assert clock.add(at("2026-12-01 20:00"), timedelta(minutes=30)) == at("2026-12-02 09:30")


def _library_says_workday(day: date) -> bool:
    return chinese_calendar.is_workday(day)


def test_the_2026_national_day_week_and_its_make_up_days_come_from_the_library():
    clock = cn_standard()
    # The calendar agrees with the library on every day of the autumn of 2026, weekends and make-up days included.
    day = date(2026, 9, 1)
    while day < date(2026, 11, 1):
        assert bool(clock.hours_on(day)) == _library_says_workday(day), day
        day += timedelta(days=1)
    # Four working hours given at 17:00 on the eve of the holiday: one hour that evening, three after the week off.
    first_back = next(date(2026, 10, 1) + timedelta(days=n) for n in range(1, 15) if _library_says_workday(date(2026, 10, 1) + timedelta(days=n)))
    assert clock.add(at("2026-09-30 17:00"), timedelta(hours=4)) == at(f"{first_back} 12:00")
    gaps = clock.gaps(at("2026-09-30 17:00"), at(f"{first_back} 12:00"))
    assert [(g.reason, g.name) for g in gaps] == [("holiday", "national_day")]
    # A make-up Saturday after the holiday is a working day with office hours.
    make_up = next(d for d in region_days("CN").workdays if d.year == 2026 and d.month == 10)
    assert make_up.weekday() == 5
    friday = make_up - timedelta(days=1)
    assert clock.add(at(f"{friday} 17:00"), timedelta(hours=4)) == at(f"{make_up} 12:00")


def test_another_time_zone_and_its_summer_time_change():
    berlin = ZoneInfo("Europe/Berlin")
    clock = WorkingTime(zone="Europe/Berlin", week=NINE_TO_SIX)
    # Summer time ends on Sunday 2026-10-25: Friday 17:00 CEST + 4 working hours is Monday 12:00 CET (11:00 UTC).
    due = clock.add(at("2026-10-23 17:00", berlin), timedelta(hours=4))
    assert due == at("2026-10-26 12:00", berlin)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)
    # A start given in another zone is the same moment: 23:00 in Shanghai on Thursday is 17:00 in Berlin, so one
    # hour counts that evening and two on Friday morning, Berlin time.
    assert clock.add(at("2026-10-22 23:00"), timedelta(hours=3)) == at("2026-10-23 11:00", berlin)


def test_reminders_and_every_escalation_level_run_in_working_time():
    clock = WorkingTime(zone="Asia/Shanghai", week=NINE_TO_SIX)
    step = {"sla": "PT4H", "remind_before": "PT2H", "escalation": {"interval": "PT2H", "max_level": 3}}
    opened = at("2026-12-04 15:00")  # Friday: 3 hours that day, 1 on Monday
    due = due_at(step, opened, clock)
    assert due == at("2026-12-07 10:00")
    plan = timer_plan(step=step, due_at=due, now=opened, clock=clock)
    assert plan == [(TimerKind.REMIND, 0, at("2026-12-04 17:00")),
                    (TimerKind.ESCALATE, 1, at("2026-12-07 10:00")),
                    (TimerKind.ESCALATE, 2, at("2026-12-07 12:00")),
                    (TimerKind.ESCALATE, 3, at("2026-12-07 14:00"))]
    # The wall clock, as before, when the step has no calendar.
    assert due_at(step, opened) == at("2026-12-04 19:00")


def test_the_explanation_names_the_sla_the_calendar_and_what_was_skipped():
    clock = cn_standard()
    step = {"sla": "PT4H"}
    zh = explain_due(step, at("2026-09-30 17:00"), "zh-CN", SHANGHAI, clock)
    assert "4小时工作时间" in zh and "中国标准工作日" in zh and "国庆节" in zh and "2026-09-30 18:00" in zh
    en = explain_due(step, at("2026-12-04 17:00"), "en", SHANGHAI, clock)
    assert "4 h of working time" in en and "weekend" in en and "2026-12-04 18:00–2026-12-07 09:00" in en


def test_a_calendar_without_holiday_data_for_next_year_says_so():
    clock = cn_standard()
    last = region_days("CN").coverage_until
    assert clock.coverage_until == last == date(max(d.year for d in region_days("CN").holidays), 12, 31)
    start = datetime.combine(last - timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    text = explain_due({"sla": "P5D"}, start, "en", SHANGHAI, clock)
    assert f"no holiday data after {last.isoformat()}" in text
    with pytest.raises(ValueError):
        WorkingTime(zone="Asia/Shanghai", week={"mon": []})
