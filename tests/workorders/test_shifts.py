"""Shifts at work (docs/design.md §16), with injected time: who is on duty, the end of a shift, the night's manager."""
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.escalation.sweep import fire_due_timers
from app.extensions import db
from app.flows import service as flows
from app.flows.schemas import TemplateSchema
from app.jobs import run_all_once
from app.notify.models import Notification
from app.org import service as org
from app.org.duty import on_duty_at
from app.org.models import Group, GroupMember, Shift, User
from app.workorders.claims import claim_task
from app.workorders.models import Task, TaskCandidate, TimelineEvent
from app.workorders.service import add_comment, create_work_order
from app.workorders.shiftend import hand_over_ended_shifts
from tests.conftest import assert_error, racing_app

TZ = "Asia/Shanghai"
# Monday 7 December 2026, 10:00 in Shanghai.
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def _people(n, prefix="shift", **fields):
    return [org.create_user(login=f"{prefix}{i:02d}", password="baton-demo", name=f"Person {i}", roles=["staff"], **fields)
            for i in range(n)]


def _shift(who=None, group=None, starts=T0 - HOUR, ends=T0 + HOUR, handover=False):
    shift = Shift(user_id=who.id if who else None, group_id=group, starts_at=starts, ends_at=ends, handover=handover, created_at=T0)
    db.session.add(shift)
    db.session.commit()
    return shift


def _template(key, people, **step):
    body = {"key": key, "name": key, "steps": [{
        "key": "handle", "title": "Handle", "mode": "pool", "assignees": {"users": [p.id for p in people]}, **step}]}
    flows.create_template(body=TemplateSchema().load(body), created_by=None, now=T0)
    db.session.commit()


def _create(key, at=T0, **body):
    work_order = create_work_order(body={"template": key, "title": body.pop("title", key), **body}, created_by=None,
                                   department_id=None, now=at, tz=TZ)
    return db.session.scalars(select(Task).where(Task.work_order_id == work_order.id)).one()


def _offered(task_id):
    return set(db.session.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == task_id)))


def _on_duty(people, now):
    users = User.__table__
    return set(db.session.scalars(select(users.c.id).where(users.c.id.in_([p.id for p in people]), on_duty_at(now, users))))


def test_someone_with_shifts_is_on_duty_only_inside_them_and_someone_without_follows_their_switch(app):
    on, later, group_on, switched_off, free, free_off = _people(6)
    _shift(on)
    _shift(later, starts=T0 + 2 * HOUR, ends=T0 + 10 * HOUR)
    group = Group(name="Night pickers", member_rows=[GroupMember(user_id=group_on.id)])
    db.session.add(group)
    db.session.commit()
    _shift(group=group.id)
    _shift(switched_off)
    db.session.get(User, switched_off.id).on_duty = False
    db.session.get(User, free_off.id).on_duty = False
    db.session.commit()
    assert _on_duty([on, later, group_on, switched_off, free, free_off], T0) == {on.id, group_on.id, free.id}
    assert _on_duty([on, later, group_on, free], T0 + 3 * HOUR) == {later.id, free.id}  # a shift is [start, end)
    assert _on_duty([on], T0 + HOUR) == set()


def test_an_offer_skips_people_off_shift(app):
    on, off, free = _people(3)
    _shift(on)
    _shift(off, starts=T0 + 2 * HOUR, ends=T0 + 10 * HOUR)  # tonight: not now
    _template("offer", [on, off, free])
    assert _offered(_create("offer").id) == {on.id, free.id}
    # Once their shift starts, the next offer reaches them, and the first one's does not.
    assert _offered(_create("offer", at=T0 + 3 * HOUR).id) == {off.id, free.id}


def test_least_loaded_dispatch_skips_people_off_shift(app):
    on, off, free = sorted(_people(3), key=lambda p: p.id)
    _shift(on, ends=T0 + 2 * HOUR)
    _shift(off, starts=T0 + 2 * HOUR, ends=T0 + 10 * HOUR)
    _template("ll-shift", [on, off, free], dispatch="least_loaded")
    given = [_create("ll-shift", title=f"t{i}").assignee_id for i in range(4)]
    assert sorted(given) == sorted([on.id, free.id, on.id, free.id])
    # At the change of shift, `off` is on and holds nothing: the next two go to them, none to `on`.
    later = [_create("ll-shift", at=T0 + 3 * HOUR, title=f"later {i}").assignee_id for i in range(2)]
    assert later == [off.id, off.id]


def test_the_end_of_a_shift_hands_back_untouched_claimed_tasks_with_the_note_once(app):
    night, other = _people(2)
    shift = _shift(night, starts=T0 - 8 * HOUR, ends=T0 + HOUR, handover=True)
    _template("hand", [night, other], handover_at_shift_end=True)
    _template("keep", [night, other])  # its step keeps what was claimed
    untouched, touched, kept = _create("hand", title="untouched"), _create("hand", title="touched"), _create("keep")
    person = db.session.get(User, night.id)
    for task in (untouched, touched, kept):
        claim_task(user=person, task_id=task.id, now=T0, max_skew=300)
    add_comment(user=db.session.get(User, night.id), work_order_id=touched.work_order_id, body="on my way", now=T0 + HOUR / 2)

    assert hand_over_ended_shifts(now=T0 + HOUR / 2) == 0  # not over yet
    assert hand_over_ended_shifts(now=T0 + HOUR + timedelta(minutes=1)) == 1
    db.session.expire_all()
    back = db.session.get(Task, untouched.id)
    assert (back.status, back.assignee_id) == ("open", None)
    assert _offered(back.id) == {other.id}
    assert db.session.get(Task, touched.id).assignee_id == night.id  # started: it stays theirs
    assert db.session.get(Task, kept.id).assignee_id == night.id  # the step does not hand over
    (event,) = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "handed_back")).all()
    assert event.task_id == untouched.id and event.actor_id is None
    assert event.details["reason"] == "shift_end" and event.details["from_user"] == night.id
    assert event.details["handover"] == {"shift_id": shift.id, "ended_at": (T0 + HOUR).isoformat()}
    offered = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "task.offered", Notification.user_id == other.id))
    assert offered >= 1
    # Once: the worker's next pass finds nothing more to do.
    summary = run_all_once(now=T0 + 2 * HOUR, config=app.config)
    assert summary["tasks_handed_back_shift_end"] == 0
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "handed_back")) == 1


def test_a_shift_without_handover_or_followed_by_another_keeps_its_work(app):
    quiet, double = _people(2)
    _shift(quiet, ends=T0 + HOUR, handover=False)
    _shift(double, ends=T0 + HOUR, handover=True)
    _shift(double, starts=T0 + HOUR, ends=T0 + 9 * HOUR)  # straight into the next one
    _template("pair", [quiet, double], handover_at_shift_end=True)
    tasks = [_create("pair", title="q"), _create("pair", title="d")]
    claim_task(user=db.session.get(User, quiet.id), task_id=tasks[0].id, now=T0, max_skew=300)
    claim_task(user=db.session.get(User, double.id), task_id=tasks[1].id, now=T0, max_skew=300)
    assert hand_over_ended_shifts(now=T0 + 2 * HOUR) == 0
    db.session.expire_all()
    assert [db.session.get(Task, t.id).assignee_id for t in tasks] == [quiet.id, double.id]


def test_the_step_setting_is_for_pool_steps_and_checked_at_its_path(flow):
    body = {"key": "bad-handover", "name": "Bad", "steps": [{"key": "s", "title": "S", "mode": "each",
            "assignees": {"users": [flow.demo.uid("staff.wh1")]}, "handover_at_shift_end": True}]}
    error = assert_error(flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin")), 422)
    assert "steps.0.handover_at_shift_end" in error["details"], error
    body["steps"][0].update(mode="pool", handover_at_shift_end="yes")
    error = assert_error(flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin")), 422)
    assert "steps.0.handover_at_shift_end" in error["details"], error


def test_an_escalation_at_three_in_the_night_reaches_the_manager_on_the_night_shift(app):
    """The warehouse has a day lead and a night lead who stand in for each other; the picker reports to the day lead.
    At 03:00 the day lead is off shift, so the escalation reaches the night lead; at 15:00, the day lead."""
    day, night = _people(2, prefix="lead")
    db.session.get(User, day.id).delegate_id = night.id
    db.session.get(User, night.id).delegate_id = day.id
    (picker,) = _people(1, prefix="picker", manager_id=day.id)
    shanghai = timezone(timedelta(hours=8))
    for d in (6, 7):
        _shift(day, starts=datetime(2026, 12, d, 8, tzinfo=shanghai), ends=datetime(2026, 12, d, 20, tzinfo=shanghai))
        _shift(night, starts=datetime(2026, 12, d, 20, tzinfo=shanghai), ends=datetime(2026, 12, d + 1, 8, tzinfo=shanghai))
    _shift(picker, starts=datetime(2026, 12, 6, 8, tzinfo=shanghai), ends=datetime(2026, 12, 8, 8, tzinfo=shanghai))
    _template("night-esc", [picker], sla="PT30M")

    def escalated_to(at):
        task = _create("night-esc", at=at - timedelta(minutes=30), title=f"at {at}")
        claim_task(user=db.session.get(User, picker.id), task_id=task.id, now=at - timedelta(minutes=29), max_skew=300)
        fire_due_timers(now=at + timedelta(seconds=1))
        (event,) = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalated",
                                                                  TimelineEvent.task_id == task.id)).all()
        return set(event.details["notified"])

    assert escalated_to(datetime(2026, 12, 7, 3, tzinfo=shanghai)) == {night.id}
    assert escalated_to(datetime(2026, 12, 7, 15, tzinfo=shanghai)) == {day.id}


# --- real threads on PostgreSQL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_runs_at_once_hand_each_shift_end_back_once(app):
    people = _people(4, prefix="race")
    _template("race-hand", people, handover_at_shift_end=True)
    for person in people:
        _shift(person, starts=T0 - 8 * HOUR, ends=T0 + HOUR, handover=True)
    tasks = []
    for i in range(20):
        task = _create("race-hand", title=f"r{i}")
        claim_task(user=db.session.get(User, people[i % 4].id), task_id=task.id, now=T0, max_skew=300)
        tasks.append(task.id)
    db.session.remove()
    with racing_app(app, 4) as racing:

        def run(_):
            with racing.app_context():
                moved = hand_over_ended_shifts(now=T0 + 2 * HOUR)
                db.session.remove()
                return moved

        with ThreadPoolExecutor(2) as pool:
            moved = sum(pool.map(run, range(2)))
    assert moved == 20
    events = db.session.scalars(select(TimelineEvent.task_id).where(TimelineEvent.kind == "handed_back")).all()
    assert sorted(events) == sorted(tasks)
    assert db.session.scalar(select(func.count()).select_from(Shift).where(Shift.handed_over_at.is_(None))) == 0


def test_the_team_board_says_who_is_on_duty_by_their_shifts(flow):
    from app.common.clock import utcnow

    now = utcnow()
    agent1, agent2 = flow.demo.user("cs.agent1"), flow.demo.user("cs.agent2")
    _shift(agent1, starts=now - HOUR, ends=now + HOUR)
    _shift(agent2, starts=now + 10 * HOUR, ends=now + 18 * HOUR)  # tonight's
    board = flow.client.get("/api/v1/team", headers=flow.h("lead.cs")).json
    duty = {p["id"]: p["on_duty"] for p in board["people"]}
    assert duty[agent1.id] is True and duty[agent2.id] is False


def test_a_transfer_to_someone_off_shift_is_refused(flow):
    from app.common.clock import utcnow

    now = utcnow()
    _shift(flow.demo.user("cs.agent2"), starts=now + 10 * HOUR, ends=now + 18 * HOUR)  # tonight's, not now
    task = flow.create("complaint")["tasks"][0]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    error = assert_error(flow.act(task["id"], "transfer", "cs.agent1", to_user=flow.demo.uid("cs.agent2")), 422, "user_unavailable")
    assert "to_user" in error["details"]
    _shift(flow.demo.user("cs.agent2"), starts=now - HOUR, ends=now + HOUR)  # now on shift: taken
    assert flow.act(task["id"], "transfer", "cs.agent1", to_user=flow.demo.uid("cs.agent2")).status_code == 200
