"""The reporting line and the stand-ins, one rule (app/org/lines.py) for the engine, the sweep and the fallback."""
import pytest
from sqlalchemy import update

from app.common.clock import utcnow
from app.extensions import db
from app.flows import service as flows
from app.flows.schemas import TemplateSchema
from app.org import service as org
from app.org.lines import People
from app.org.models import User
from app.workorders.models import Task, TaskCandidate
from app.workorders.service import create_work_order
from tests.conftest import statements

PASSWORD = "violet-harbour-71"


@pytest.fixture
def line(app):
    """staff → m1 → m2 → m3 (the top). m1 is away with delegate d1; m2 is away with nobody to stand in."""
    people = {}

    def person(login, manager=None):
        people[login] = org.create_user(login=login, password=PASSWORD, name=login.title(),
                                        manager_id=people[manager] if manager else None).id

    person("m3")
    person("m2", "m3")
    person("m1", "m2")
    person("staff", "m1")
    person("d1")
    person("d2")
    away("m1", delegate=people["d1"], ids=people)
    away("m2", ids=people)
    return people


def away(login, *, ids, delegate=None, active=True):
    db.session.execute(update(User).where(User.id == ids[login]).values(on_duty=False, delegate_id=delegate, active=active))
    db.session.commit()


def reached(ids, level, who="staff"):
    target = People([ids[who]], now=utcnow()).manager_at_level(ids[who], level)
    names = {v: k for k, v in ids.items()}
    return names.get(target)


def test_each_level_reaches_the_stand_in_of_the_manager_that_many_steps_up(line):
    assert People([line["staff"]], now=utcnow()).chain(line["staff"], 10) == [line["m1"], line["m2"], line["m3"]]
    assert reached(line, 1) == "d1"  # m1 is away: their delegate answers
    assert reached(line, 2) == "m3"  # m2 is away with nobody standing in: past them, up the line
    assert reached(line, 3) == "m3"
    assert reached(line, 4) == "m3"  # past the top of the line: the top


def test_a_delegate_who_is_away_hands_on_to_their_own_delegate(line):
    away("d1", delegate=line["d2"], ids=line)
    assert reached(line, 1) == "d2"
    away("d2", delegate=line["d1"], ids=line)  # a loop of delegates, all away: nobody there, so up the line
    assert reached(line, 1) == "m3"


def test_an_inactive_manager_is_passed_like_one_who_is_away(line):
    db.session.execute(update(User).where(User.id == line["m1"]).values(active=False, delegate_id=None, on_duty=True))
    db.session.commit()
    assert reached(line, 1) == "m3"


def test_a_whole_line_and_its_delegates_are_read_in_one_statement(line):
    """Four levels up and a chain of delegates: one recursive read, however long the lines (it was one per level)."""
    away("d1", delegate=line["d2"], ids=line)
    with statements() as reads:
        people = People([line["staff"]], now=utcnow())
    assert len(reads) == 1, reads
    assert {line[k] for k in ("staff", "m1", "m2", "m3", "d1", "d2")} <= set(people.rows)


def test_a_loop_in_the_reporting_line_ends_the_line(line):
    db.session.execute(update(User).where(User.id == line["m3"]).values(manager_id=line["staff"]))
    db.session.commit()
    assert People([line["staff"]], now=utcnow()).chain(line["staff"], 10) == [line["m1"], line["m2"], line["m3"]]


def test_a_step_nobody_was_found_for_goes_to_the_stand_in_of_the_departments_head(app, line):
    """The fallback takes the same rule as every handler: a head who is away is not given work they cannot see."""
    empty = org.create_department(code="EMPTY", name="Nobody works here", head_id=line["m1"])
    template = TemplateSchema().load({"key": "orphan", "name": "Orphan", "owner_department_id": empty.id, "steps": [
        {"key": "do", "title": "Do it", "mode": "pool", "assignees": {"departments": [empty.id]}}]})
    flows.create_template(body=template, created_by=None, now=utcnow())
    work_order = create_work_order(body={"template": "orphan", "title": "Nobody is named"}, created_by=None,
                                   department_id=empty.id, now=utcnow(), tz="Asia/Shanghai")
    (task,) = db.session.scalars(db.select(Task).where(Task.work_order_id == work_order.id)).all()
    candidates = set(db.session.scalars(db.select(TaskCandidate.user_id).where(TaskCandidate.task_id == task.id)))
    assert candidates == {line["d1"]}  # m1 heads the department but is away: d1 stands in
