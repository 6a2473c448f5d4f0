"""The hot paths a phone hits all day answer exactly as the full rules do, in the few statements they promise."""
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from app.common.clock import utcnow
from app.extensions import db
from app.notify.messages import render
from app.notify.models import Notification
from app.org.models import User
from app.workorders import presenters
from app.workorders.models import Task, TimelineEvent, WorkOrder
from app.workorders.schemas import TaskSchema


@contextmanager
def statements():
    seen: list[str] = []
    listener = lambda _c, _cur, statement, *_: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def _pool_template(flow, key="hot", title="Pick it"):
    people = [flow.demo.uid("cs.agent1"), flow.demo.uid("cs.agent2")]
    flow.template({"key": key, "name": "Hot path", "priority": "P3", "steps": [
        {"key": "pick", "title": title, "mode": "pool", "assignees": {"users": people}, "sla": "PT4H",
         "outcomes": ["done", "not_needed"]}]})


def test_a_claim_answers_as_the_full_rules_do(flow, backend):
    _pool_template(flow)
    wo = flow.create("hot", title="Crate 7", order_no="SO-77")
    (task,) = wo["tasks"]
    flow.h("cs.agent1")  # signed in before counting
    with statements() as seen:
        response = flow.act(task["id"], "claim", "cs.agent1")
    assert response.status_code == 200, response.json
    if backend == "postgresql":  # who signed in, the claim, the "taken" notifications (the template is cached after once)
        assert len(seen) <= 4, seen
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    full = TaskSchema().dump(presenters.present_one(row, utcnow()))
    assert response.json == full
    assert response.json["assignee"]["name"] == db.session.get(User, flow.demo.uid("cs.agent1")).name
    assert response.json["work_order"]["refs"] == {"order_no": "SO-77"}
    assert db.session.get(WorkOrder, wo["id"]).status == "in_progress"
    events = db.session.scalars(select(TimelineEvent.kind).where(TimelineEvent.task_id == task["id"])).all()
    assert events.count("claimed") == 1
    # The other candidate is told, in their own language; the claimer is not.
    other = db.session.get(User, flow.demo.uid("cs.agent2"))
    told = db.session.scalars(select(Notification).where(Notification.kind == "task.taken")).all()
    assert [n.user_id for n in told] == [other.id]
    title, body = render("task.taken", other.locale, {"who": response.json["assignee"]["name"], "number": wo["number"],
                                                       "step": "Pick it"})
    assert (told[0].title, told[0].body) == (title, body) and told[0].url == f"/#/task/{task['id']}"
    # A second claim by the winner is a no-op, a colleague's is refused, exactly as before.
    assert flow.act(task["id"], "claim", "cs.agent1").json == full
    refused = flow.act(task["id"], "claim", "cs.agent2")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "task_taken"
    assert refused.json["error"]["details"]["by"]["id"] == flow.demo.uid("cs.agent1")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_cached_template_version_is_checked(flow):
    """A template version is cached per process by its row's xmin: a row written again is read again."""
    _pool_template(flow)
    first = flow.create("hot")
    assert flow.act(first["tasks"][0]["id"], "claim", "cs.agent1").json["step_title"] == "Pick it"
    # Written behind the app's back (a restore, a hand edit): the same id, another transaction.
    db.session.execute(text("UPDATE flow_templates SET steps = jsonb_set(steps, '{0,title}', '\"Pick it up\"') WHERE key = 'hot'"))
    db.session.commit()
    second = flow.create("hot")
    assert flow.act(second["tasks"][0]["id"], "claim", "cs.agent1").json["step_title"] == "Pick it up"


def test_an_offer_that_is_not_claimed_online_takes_the_full_rules(flow):
    """A claim replayed from a phone's outbox carries its device time: the effective time is the device's."""
    _pool_template(flow)
    (task,) = flow.create("hot")["tasks"]
    at = datetime.fromisoformat(task["created_at"]) + timedelta(milliseconds=1)
    response = flow.act(task["id"], "claim", "cs.agent1", occurred_at=at.isoformat())
    assert response.status_code == 200, response.json
    db.session.expire_all()
    claimed = db.session.get(Task, task["id"])
    assert claimed.claimed_effective_at == at and not claimed.device_time_untrusted
