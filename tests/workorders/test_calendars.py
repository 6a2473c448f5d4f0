"""Business calendars through the API on both databases (docs/design.md §12): kept and checked with exact paths,
inherited down the department tree, used by steps for due times, reminders and escalations in working time,
explained to the reader, and re-planned for live tasks when they change."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.calendars.library import region_days
from app.common.clock import utcnow
from app.extensions import db
from app.workorders.models import Task, Timer, TimerStatus, WorkOrder
from app.workorders.service import create_work_order
from tests.conftest import assert_error

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS_9_18 = {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
                 "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]], "sat": [], "sun": []}


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _calendar(flow, **body):
    r = flow.client.post("/api/v1/calendars", json={"name": "Warehouse hours", "timezone": "Asia/Shanghai",
                                                    "week": WEEKDAYS_9_18, **body}, headers=flow.h("admin"))
    assert r.status_code == 201, r.json
    return r.json


def _timed_template(flow, sla_calendar="business", **step):
    wh = flow.demo.dept("WH-SH-01")
    flow.template({"key": "timed", "name": "Timed", "owner_department_id": wh, "steps": [
        {"key": "pick", "title": "Pick", "assignees": {"departments": [wh]}, "sla": "PT4H", "remind_before": "PT1H",
         "escalation": {"interval": "PT2H", "max_level": 2}, "sla_calendar": sla_calendar, **step}]})


def _open(flow, now):
    admin = flow.demo.user("admin")
    wo = create_work_order(body={"template": "timed", "title": "Pick for the Friday order"}, created_by=admin,
                           department_id=None, now=now, tz="Asia/Shanghai")
    db.session.commit()
    return db.session.scalar(select(Task).where(Task.work_order_id == wo.id))


def _timers(task_id):
    return [(t.kind, t.level, t.fire_at, t.status) for t in
            db.session.scalars(select(Timer).where(Timer.task_id == task_id).order_by(Timer.kind.desc(), Timer.level))]


def test_the_built_in_calendar_is_there_with_its_coverage_and_cannot_be_edited(flow):
    r = flow.client.get("/api/v1/calendars", headers=flow.h("admin"))
    assert r.status_code == 200
    built_in = r.json["items"][0]
    coverage = region_days("CN").coverage_until
    assert (built_in["key"], built_in["holidays_from"], built_in["built_in"]) == ("cn-standard", "CN", True)
    assert built_in["week"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]] and built_in["week"]["sat"] == []
    assert built_in["coverage_until"] == coverage.isoformat()
    assert built_in["coverage_short"] is (coverage < utcnow().date() + timedelta(days=60))
    assert all(d["date"] >= utcnow().date().isoformat() for d in built_in["upcoming"])
    body = {k: built_in[k] for k in ("name", "timezone", "week", "holidays_from")}
    assert_error(flow.client.put(f"/api/v1/calendars/{built_in['id']}", json=body, headers=flow.h("admin")), 409, "calendar_built_in")
    # An admin copies it to change it, and the copy keeps following the library.
    copy = _calendar(flow, **{**body, "name": "Our hours", "week": {**body["week"], "sat": [["09:00", "12:00"]]}})
    assert copy["coverage_until"] == coverage.isoformat() and copy["built_in"] is False
    assert_error(flow.client.get("/api/v1/calendars", headers=flow.h("staff.wh1")), 403)
    assert_error(flow.client.post("/api/v1/calendars", json=body, headers=flow.h("lead.cs")), 403)
    assert_error(flow.client.get("/api/v1/calendars/99999", headers=flow.h("admin")), 404)


def test_a_bad_calendar_is_refused_with_every_mistake_at_its_exact_path(flow):
    body = {"name": "", "timezone": "Mars/Olympus", "holidays_from": "XX",
            "week": {"mon": [["09:00", "18:00"], ["17:00", "19:00"]], "tue": [["9:00", "18:00"]], "wed": [["18:00", "09:00"]],
                     "funday": []},
            "holidays": ["2026-10-01", "2026-10-01"], "workdays": [{"date": "2026-10-01", "as": "mon"}, {"date": "2026-10-10", "as": "sun"}]}
    err = assert_error(flow.client.post("/api/v1/calendars", json=body, headers=flow.h("admin")), 422)
    assert set(err["details"]) >= {"name", "timezone", "holidays_from"}, err
    body.update(name="x", timezone="Asia/Shanghai", holidays_from=None)
    err = assert_error(flow.client.post("/api/v1/calendars", json=body, headers=flow.h("admin")), 422)
    assert set(err["details"]) == {"week.mon.1", "week.tue.0", "week.wed.0", "week.funday", "holidays.1", "workdays.0.date",
                                   "workdays.1.as"}, err
    err = assert_error(flow.client.post("/api/v1/calendars", json={"name": "never", "week": {"mon": []}}, headers=flow.h("admin")), 422)
    assert set(err["details"]) == {"week"}


def test_a_step_names_its_clock_and_the_template_is_checked(flow):
    wh = flow.demo.dept("WH-SH-01")
    step = {"key": "pick", "title": "Pick", "assignees": {"departments": [wh]}}
    for bad, path in ((("weekly", "PT4H")), "steps.0.sla_calendar"), ((("business", None)), "steps.0.sla_calendar"), \
                     (((99999, "PT4H")), "steps.0.sla_calendar"), (((True, "PT4H")), "steps.0.sla_calendar"):
        body = {"key": "t", "name": "T", "steps": [{**step, "sla_calendar": bad[0], "sla": bad[1]}]}
        err = assert_error(flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin")), 422)
        assert set(err["details"]) == {path}, (bad, err)


def test_departments_inherit_their_parents_calendar(flow):
    calendar = _calendar(flow)
    ops, wh = flow.demo.dept("OPS"), flow.demo.dept("WH-SH-01")
    assert_error(flow.client.patch(f"/api/v1/departments/{ops}", json={"calendar_id": 99999}, headers=flow.h("admin")), 422)
    r = flow.client.patch(f"/api/v1/departments/{ops}", json={"calendar_id": calendar["id"]}, headers=flow.h("admin"))
    assert r.status_code == 200 and r.json["calendar_id"] == calendar["id"]
    assert flow.client.get(f"/api/v1/departments/{wh}", headers=flow.h("admin")).json["calendar_id"] is None  # inherits
    _timed_template(flow)
    task = _open(flow, at("2026-12-04 17:00"))  # a Friday
    assert task.calendar_id == calendar["id"]
    assert task.due_at == at("2026-12-07 12:00")  # 1 h on Friday, 3 on Monday: not 21:00 on Friday
    assert _timers(task.id) == [("remind", 0, at("2026-12-07 11:00"), "pending"), ("escalate", 1, at("2026-12-07 12:00"), "pending"),
                                ("escalate", 2, at("2026-12-07 14:00"), "pending")]
    # The root without a calendar: 24x7, as in Part I.
    flow.client.patch(f"/api/v1/departments/{ops}", json={"calendar_id": None}, headers=flow.h("admin"))
    task = _open(flow, at("2026-12-04 17:00"))
    assert (task.calendar_id, task.due_at) == (None, at("2026-12-04 21:00"))


def test_the_task_says_why_it_is_due_then_in_the_readers_language(flow):
    _timed_template(flow, sla_calendar=flow.client.get("/api/v1/calendars", headers=flow.h("admin")).json["items"][0]["id"])
    task = _open(flow, at("2026-09-30 17:00"))  # the eve of the National Day week
    r = flow.client.get(f"/api/v1/tasks/{task.id}", headers=flow.h("staff.wh1"))
    assert r.status_code == 200, r.json
    assert r.json["calendar"]["name"].startswith("中国标准工作日")
    explained = r.json["due_explained"]
    assert explained.startswith("自 2026-09-30 17:00 起 4小时工作时间") and "国庆节" in explained, explained
    assert r.json["due_at"].startswith("2026-10-08T04:00:00")  # 12:00 in Shanghai: 1 h on the eve, 3 h after the week off
    # The work order's steps say the same to whoever reads them, in their own language.
    flow.client.patch("/api/v1/me", json={"locale": "en"}, headers=flow.h("admin"))
    (step,) = flow.detail(task.work_order_id)["steps"]
    assert step["status"] == "active" and step["due_at"] == r.json["due_at"]
    assert step["due_explained"].startswith("4 h of working time on the calendar “China standard") and "National Day" in step["due_explained"]


def test_changing_a_calendar_replans_live_tasks_and_their_pending_timers_only(flow):
    calendar = _calendar(flow)
    _timed_template(flow, sla_calendar=calendar["id"])
    live = _open(flow, at("2026-12-04 17:00"))
    done = _open(flow, at("2026-12-04 17:00"))
    fired = db.session.scalar(select(Timer).where(Timer.task_id == live.id, Timer.kind == "remind"))
    fired.status, fired.fired_at = TimerStatus.FIRED, utcnow()
    done.status = "completed"
    db.session.commit()
    week = {**WEEKDAYS_9_18, "sat": [["09:00", "18:00"]]}  # Saturdays become working days
    r = flow.client.put(f"/api/v1/calendars/{calendar['id']}", json={"name": "Six days", "timezone": "Asia/Shanghai", "week": week},
                        headers=flow.h("admin"))
    assert r.status_code == 200, r.json
    assert r.json["replanned"] == {"tasks": 1, "timers": 2} and r.json["version"] == 2
    db.session.expire_all()
    live, done = db.session.get(Task, live.id), db.session.get(Task, done.id)
    assert live.due_at == at("2026-12-05 12:00") and done.due_at == at("2026-12-07 12:00")
    assert _timers(live.id) == [("remind", 0, at("2026-12-07 11:00"), "fired"),  # what fired stays as it was
                                ("escalate", 1, at("2026-12-05 12:00"), "pending"), ("escalate", 2, at("2026-12-05 14:00"), "pending")]
    assert db.session.get(WorkOrder, live.work_order_id).due_at == at("2026-12-05 12:00")
    assert db.session.get(WorkOrder, done.work_order_id).due_at == at("2026-12-07 12:00")


def test_the_dry_run_shows_due_times_in_working_time(flow):
    calendar = _calendar(flow)
    _timed_template(flow, sla_calendar=calendar["id"])
    body = {"start_at": "2026-12-04T17:00:00+08:00"}
    steps = flow.client.post("/api/v1/templates/timed/dry-run", json=body, headers=flow.h("admin")).json["steps"]
    assert steps[0]["due_at"] == "2026-12-07T04:00:00+00:00"
    assert "Warehouse hours" in steps[0]["due_explained"] and "休息日" in steps[0]["due_explained"]


def test_metrics_count_on_time_against_the_working_due_time_and_report_working_durations(flow):
    from app.metrics.catch_up import catch_up_facts
    from app.workorders.claims import claim_task
    from app.workorders.completion import complete_task

    calendar = _calendar(flow)
    _timed_template(flow, sla_calendar=calendar["id"])
    task = _open(flow, at("2026-12-04 17:00"))  # due on Monday at 12:00 in working time (21:00 on Friday by the wall)
    worker = flow.demo.user("staff.wh1")
    query = {"from": "2026-12-04", "to": "2026-12-07"}

    def sla():
        r = flow.client.get("/api/v1/metrics/summary", query_string=query, headers=flow.h("admin"))
        assert r.status_code == 200, r.json
        return r.json["sla"], r.json["steps"][0]

    claim_task(user=worker, task_id=task.id, now=at("2026-12-07 10:00"), max_skew=300)
    db.session.commit()
    total, _ = sla()  # the open work order, read live
    assert total["time_to_claim"]["median"] == 65 * 3600 and total["working_time_to_claim"]["median"] == 2 * 3600
    complete_task(user=worker, task_id=task.id, outcome=None, note=None, data=None, now=at("2026-12-07 11:00"), max_skew=300)
    catch_up_facts(now=at("2026-12-08 00:00"), tz="Asia/Shanghai")
    db.session.commit()
    total, step = sla()  # the closed one, from its facts
    assert (total["on_time"], total["late"]) == (1, 0)  # on time: the due time that applied was Monday 12:00
    assert total["time_to_claim"]["median"] == 65 * 3600 and total["working_time_to_claim"]["median"] == 2 * 3600
    assert total["time_to_complete"]["median"] == 66 * 3600 and total["working_time_to_complete"]["median"] == 3 * 3600
    assert step["working_time_to_complete"]["median"] == 3 * 3600


def test_the_readme_calendar_example_works_as_it_says(flow):
    import json
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Business hours and holidays"):readme.index("## HTTP API")]
    body = json.loads(re.search(r"/calendars .*?-d '(\{.*?\})'", section, re.S).group(1))
    calendar = _calendar(flow, **body)
    assert (calendar["holidays"], calendar["workdays"]) == (["2026-12-31"], [{"date": "2026-12-27", "as": "sat"}])
    assert calendar["id"] == 2  # the README patches department 4 with calendar 2 (the built-in one is 1)
    _timed_template(flow, sla_calendar=calendar["id"], remind_before="PT1H", escalation={"interval": "PT2H", "max_level": 3})
    task = _open(flow, at("2026-12-04 16:30"))
    assert task.due_at == at("2026-12-05 12:00")
    assert [fire_at for _, _, fire_at, _ in _timers(task.id)] == [at("2026-12-05 11:00"), at("2026-12-05 12:00"),
                                                                 at("2026-12-07 10:30"), at("2026-12-07 12:00") + timedelta(hours=1, minutes=30)]
    explained = flow.client.get(f"/api/v1/tasks/{task.id}", headers=flow.h("staff.wh1")).json["due_explained"]
    assert explained.replace("\n", "") in section.replace("\n", ""), explained
    err = assert_error(flow.client.post("/api/v1/calendars", json={**body, "week": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]},
                                                                   "holidays": ["2026-12-27"]}, headers=flow.h("admin")), 422)
    assert err["details"]["week.mon.1"] == ["overlaps period 0"] and err["details"]["workdays.0.date"] == ["is also listed as a holiday"]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_admins_saving_one_calendar_at_once_are_applied_one_after_the_other(flow, app):
    """Six saves of one calendar at once (each a different closing hour), while its live tasks are re-planned:
    every save gets its own version (a version names one content: compiled calendars are remembered by it), and
    the tasks end up planned on the calendar as finally saved."""
    import threading

    calendar = _calendar(flow)
    _timed_template(flow, sla_calendar=calendar["id"])
    tasks = [_open(flow, at("2026-12-04 15:00")).id for _ in range(20)]
    headers = flow.h("admin")
    db.session.remove()
    closing = [f"{h}:00" for h in range(13, 19)]
    barrier = threading.Barrier(len(closing))
    answers, errors = [None] * len(closing), []

    def save(k):
        with app.app_context():
            try:
                week = {d: [["09:00", closing[k]]] for d in ("mon", "tue", "wed", "thu", "fri")}
                barrier.wait(timeout=60)
                r = app.test_client().put(f"/api/v1/calendars/{calendar['id']}", headers=headers,
                                          json={"name": f"closes at {closing[k]}", "timezone": "Asia/Shanghai", "week": week})
                answers[k] = (r.status_code, r.get_json())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(k,)) for k in range(len(closing))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert all(status == 200 for status, _ in answers), answers
    assert sorted(body["version"] for _, body in answers) == list(range(2, 2 + len(closing)))
    final = flow.client.get(f"/api/v1/calendars/{calendar['id']}", headers=headers).json
    close = int(final["week"]["mon"][0][1][:2])
    # Opened on Friday at 15:00 with 4 working hours: what is left of Friday, the rest on Monday from 09:00.
    friday = max(close - 15, 0)
    expected = at("2026-12-04 15:00") + timedelta(hours=4) if friday >= 4 else at("2026-12-07 09:00") + timedelta(hours=4 - friday)
    assert {db.session.get(Task, t).due_at for t in tasks} == {expected}, (final["name"], expected)


def test_a_calendar_s_save_answers_the_version_it_wrote_when_another_save_lands_right_after(flow):
    """The answer to a save shows that save: another admin's save committed between this one's commit and its
    answer does not leak into it (six saves at once answered 2, 4, 4, 5, 6, 7 when the answer read the row again)."""
    from sqlalchemy import event, text

    calendar = _calendar(flow)
    session = db.session()
    landed = []

    def another_save(_session):
        if not landed:
            landed.append(True)
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE calendars SET version = version + 1, name = 'Saved by someone else' WHERE id = :id"),
                             {"id": calendar["id"]})

    event.listen(session, "after_commit", another_save)
    try:
        r = flow.client.put(f"/api/v1/calendars/{calendar['id']}", headers=flow.h("admin"),
                            json={"name": "Closes at five", "timezone": "Asia/Shanghai", "week": WEEKDAYS_9_18})
    finally:
        event.remove(session, "after_commit", another_save)
    assert landed
    assert r.status_code == 200, r.json
    assert (r.json["version"], r.json["name"]) == (2, "Closes at five")
    db.session.expire_all()
    final = flow.client.get(f"/api/v1/calendars/{calendar['id']}", headers=flow.h("admin")).json
    assert (final["version"], final["name"]) == (3, "Saved by someone else")
