"""The hot paths a phone hits all day answer exactly as the full rules do, in the few statements they promise."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text

from app.common.clock import utcnow
from app.common.idempotency import IdempotencyRecord
from app.extensions import db
from app.flows import versions
from app.notify.messages import render
from app.notify.models import Notification
from app.org.models import User
from app.workorders import presenters
from app.workorders.models import Task, TaskCandidate, TimelineEvent, Timer, WorkOrder, WorkOrderDepartment, WorkOrderStep
from app.workorders.schemas import TaskSchema, WorkOrderCreatedSchema
from tests.conftest import next_number, numbered_without_gaps, racing_app, statements


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


@pytest.mark.parametrize("late", [False, True])
def test_a_claim_and_a_completion_replayed_from_a_phone_keep_the_device_time(flow, backend, late):
    """A phone's outbox sends when each action happened; the one rule decides whether that time is believed."""
    _pool_template(flow)
    (task,) = flow.create("hot")["tasks"]
    created = datetime.fromisoformat(task["created_at"])
    # Believed: after the offer was made. Not believed: before the task existed (a phone's clock gone wrong).
    claimed_at = created - timedelta(minutes=5) if late else created + timedelta(milliseconds=1)
    flow.h("cs.agent1")  # signed in before counting
    with statements() as seen:
        claimed = flow.act(task["id"], "claim", "cs.agent1", occurred_at=claimed_at.isoformat())
    assert claimed.status_code == 200, claimed.json
    if backend == "postgresql":
        assert len(seen) <= 4, seen
    done_at = created + timedelta(milliseconds=2)
    with statements() as seen:
        done = flow.act(task["id"], "complete", "cs.agent1", occurred_at=done_at.isoformat())
    assert done.status_code == 200, done.json
    if backend == "postgresql":
        assert len(seen) <= 4, seen
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    assert row.claimed_effective_at == (row.claimed_at if late else claimed_at)
    assert row.completed_effective_at == done_at and row.device_time_untrusted is late
    assert done.json["device_time_untrusted"] is late
    events = {e.kind: e for e in db.session.scalars(select(TimelineEvent).where(TimelineEvent.task_id == task["id"]))}
    assert events["claimed"].occurred_at == claimed_at and events["claimed"].details == {"device_time_trusted": not late}
    assert events["completed"].occurred_at == done_at and events["completed"].details["device_time_trusted"] is True


def test_finishing_a_work_order_leaves_what_the_full_rules_leave(flow, backend):
    """The last task of the last step: the same rows on both databases (PostgreSQL in a few statements)."""
    _pool_template(flow)
    wo = flow.create("hot", title="Crate 9")
    (task,) = wo["tasks"]
    claimed = flow.act(task["id"], "claim", "cs.agent1").json
    with statements() as seen:
        response = flow.act(task["id"], "complete", "cs.agent1", outcome="not_needed", note="empty crate",
                            version=claimed["version"])
    assert response.status_code == 200, response.json
    if backend == "postgresql":  # who signed in, the read under the lock, the write, the creator's notification
        assert len(seen) <= 4, seen
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    assert response.json == TaskSchema().dump(presenters.present_one(row, utcnow()))
    assert (row.status, row.outcome, row.note, row.completed_by_id, row.data) == \
        ("completed", "not_needed", "empty crate", flow.demo.uid("cs.agent1"), {})
    order = db.session.get(WorkOrder, wo["id"])
    assert order.status == "resolved" and order.resolved_at == row.completed_at and order.started_at is not None
    assert response.json["work_order"]["status"] == "resolved"
    events = db.session.execute(select(TimelineEvent.kind, TimelineEvent.task_id, TimelineEvent.details)
                                .where(TimelineEvent.work_order_id == wo["id"]).order_by(TimelineEvent.id)).all()
    assert [e.kind for e in events][-3:] == ["completed", "step_completed", "resolved"]
    assert events[-3].details == {"outcome": "not_needed", "note": "empty crate", "data": {}, "device_time_trusted": True}
    assert events[-3].task_id == task["id"] and events[-2].details == {"step": "pick"}
    assert db.session.scalar(select(WorkOrderStep.status).where(WorkOrderStep.work_order_id == wo["id"])) == "completed"
    assert db.session.scalar(select(WorkOrderStep.last_handler_id).where(WorkOrderStep.work_order_id == wo["id"])) == \
        flow.demo.uid("cs.agent1")
    assert set(db.session.scalars(select(Timer.status).where(Timer.task_id == task["id"]))) == {"stale"}
    assert not db.session.scalar(select(func.count()).select_from(TaskCandidate).where(
        TaskCandidate.task_id == task["id"], TaskCandidate.is_open.is_(True)))
    told = db.session.scalars(select(Notification).where(Notification.kind == "work_order.resolved")).all()
    assert [n.user_id for n in told] == [flow.demo.uid("lead.cs")]
    # Finished already: refused as before, with who and when.
    again = flow.act(task["id"], "complete", "cs.agent1")
    assert again.status_code == 409 and again.json["error"]["code"] == "task_completed"


def test_a_task_with_a_form_or_a_stale_version_takes_the_full_rules(flow):
    _pool_template(flow)
    (task,) = flow.create("hot")["tasks"]
    claimed = flow.act(task["id"], "claim", "cs.agent1").json
    stale = flow.act(task["id"], "complete", "cs.agent1", version=claimed["version"] - 1)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "task_changed"
    unknown = flow.act(task["id"], "complete", "cs.agent1", outcome="exploded")
    assert unknown.status_code == 422 and "outcome" in unknown.json["error"]["details"]
    assert flow.act(task["id"], "complete", "cs.agent2").status_code == 409  # a colleague holds it


# SQLite's BEGIN IMMEDIATE serialises every transaction, so only PostgreSQL races for real.
@pytest.mark.parametrize("backend", ["postgresql"])
def _claimed_tasks(flow, rounds: int, title: str) -> list[dict]:
    """`rounds` plain work orders whose one task cs.agent1 holds."""
    _pool_template(flow)
    tasks = []
    for i in range(rounds):
        (task,) = flow.create("hot", title=f"{title} {i}")["tasks"]
        assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
        tasks.append(task)
    return tasks


def _at_once(app, flow, tasks: list[dict], action: str, bodies: list[dict]) -> list[list[tuple]]:
    """cs.agent1's devices (one thread and connection each, one body each) sending `action` for each task at the
    same moment: per task, each device's (status, error code)."""
    headers = flow.h("cs.agent1")
    db.session.rollback()
    devices = len(bodies)
    barrier = threading.Barrier(devices)
    results = [[None] * devices for _ in tasks]

    def device(k):
        with racing.app_context():
            client = racing.test_client()
            for n, task in enumerate(tasks):
                barrier.wait(timeout=120)
                response = client.post(f"/api/v1/tasks/{task['id']}/{action}", headers=headers, json=bodies[k])
                results[n][k] = (response.status_code, (response.get_json().get("error") or {}).get("code"))
            db.session.remove()

    with racing_app(app, devices + 2) as racing, ThreadPoolExecutor(devices) as pool:
        list(pool.map(device, range(devices)))
    return results


def test_a_completion_sent_from_several_devices_at_once_finishes_the_work_order_once(app, flow, auth):
    """The same person's phone and tablet (and a retry) finishing the same last task at the same moment."""
    devices = 6
    tasks = _claimed_tasks(flow, 12, "race")
    results = _at_once(app, flow, tasks, "complete", [{"outcome": "done"}] * devices)
    for n, task in enumerate(tasks):
        assert sorted(r[0] for r in results[n]) == [200] + [409] * (devices - 1), results[n]
        assert {r[1] for r in results[n] if r[0] == 409} == {"task_completed"}
        kinds = db.session.scalars(select(TimelineEvent.kind).where(TimelineEvent.work_order_id == task["work_order_id"])).all()
        assert (kinds.count("completed"), kinds.count("step_completed"), kinds.count("resolved")) == (1, 1, 1), kinds
    told = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "work_order.resolved"))
    assert told == len(tasks)


def _snapshot(wo_id: int) -> dict:
    """Everything a creation writes for one work order, without ids, numbers and the moment it was written."""
    def rows(model, *order, skip=("id", "work_order_id")):
        table = model.__table__
        found = db.session.execute(select(table).where(table.c.work_order_id == wo_id).order_by(*order)).mappings().all()
        return [{k: v for k, v in r.items() if k not in skip} for r in found]

    order = db.session.get(WorkOrder, wo_id)
    task_ids = db.session.scalars(select(Task.id).where(Task.work_order_id == wo_id).order_by(Task.id)).all()
    return {
        "work_order": {c: getattr(order, c) for c in WorkOrder.__table__.c.keys() if c not in ("id", "number")},
        "steps": rows(WorkOrderStep, WorkOrderStep.id),
        "tasks": rows(Task, Task.id, skip=("id", "work_order_id", "step_id")),
        "candidates": sorted(db.session.execute(select(TaskCandidate.user_id, TaskCandidate.is_open)
                                                .where(TaskCandidate.task_id.in_(task_ids))).all()),
        "timers": sorted(db.session.execute(select(Timer.kind, Timer.level, Timer.fire_at, Timer.status)
                                            .where(Timer.task_id.in_(task_ids))).all()),
        "departments": sorted(db.session.scalars(select(WorkOrderDepartment.department_id)
                                                 .where(WorkOrderDepartment.work_order_id == wo_id))),
        "timeline": [(e.kind, e.actor_id, e.details) for e in db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.work_order_id == wo_id).order_by(TimelineEvent.id))],
        "told": sorted(db.session.execute(select(Notification.user_id, Notification.kind, Notification.title)
                                          .where(Notification.url.like(f"/#/task/{task_ids[0]}"))).all()),
    }


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_plain_creation_writes_what_the_engine_writes(app, flow):
    """One plan, two writers: the API's few statements and the engine leave the same rows and give the same answer."""
    from app.workorders import fastpaths, service

    _pool_template(flow)
    lead = db.session.get(User, flow.demo.uid("lead.cs"))
    body = {"template": "hot", "title": "Crate 11", "order_no": "SO-11", "priority": "P2", "data": {}}
    now = utcnow()
    tz = app.config["BUSINESS_TIMEZONE"]
    versions.forget("hot")  # what this process remembers of an earlier test's template "hot"
    fast = fastpaths.create(dict(body), lead, lead.department_id, now, tz)
    assert fast is not None  # the plain case takes the few statements
    lead = db.session.get(User, flow.demo.uid("lead.cs"))
    engine = service.create_work_order(body=dict(body), created_by=lead, department_id=lead.department_id, now=now, tz=tz)
    fast_answer = WorkOrderCreatedSchema().dump(fast)
    engine_answer = WorkOrderCreatedSchema().dump(presenters.work_order_view(user=lead, work_order=engine, now=now,
                                                                              with_timeline=False))
    db.session.expire_all()
    assert _snapshot(fast_answer["id"]) == _snapshot(engine_answer["id"])
    numbers = sorted([fast_answer.pop("number"), engine_answer.pop("number")])
    assert numbers[1][-4:] == f"{int(numbers[0][-4:]) + 1:04d}"  # consecutive numbers of the same day
    for answer in (fast_answer, engine_answer):
        answer.pop("id")
        for task in answer["tasks"]:
            for key in ("id", "work_order_id"):
                task.pop(key)
            task["work_order"] = {k: v for k, v in task["work_order"].items() if k not in ("id", "number")}
    assert fast_answer == engine_answer


def test_a_creation_answers_with_its_first_task(flow, backend):
    _pool_template(flow)
    versions.forget("hot")  # what this process remembers of an earlier test's template "hot"
    flow.create("hot", title="Crate 11")  # this process learns the template's current version
    with statements() as seen:
        wo = flow.create("hot", title="Crate 12")
    if backend == "postgresql":  # who signed in, who is offered it (3), the write, the notifications
        assert len(seen) <= 6, [" ".join(s.split())[:90] for s in seen]
    (task,) = wo["tasks"]
    assert wo["tasks_total"] == 1 and task["status"] == "open" and task["step_title"] == "Pick it"
    assert [p["id"] for p in task["candidate_people"]] == sorted([flow.demo.uid("cs.agent1"), flow.demo.uid("cs.agent2")])
    assert flow.detail(wo["id"])["number"] == wo["number"]
    assert task["id"] in [t["id"] for t in flow.inbox("cs.agent1")["pool"]]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_plain_creations_at_once_take_every_number_of_the_day_once(app, flow):
    """The number is taken inside the creation's one statement: concurrent creations never share or skip one."""
    threads, each = 12, 5
    _pool_template(flow)
    versions.forget("hot")
    headers = flow.h("lead.cs")
    db.session.rollback()
    barrier = threading.Barrier(threads)

    def create(i):
        with racing.app_context():
            client = racing.test_client()
            barrier.wait(timeout=60)
            numbers = []
            for j in range(each):
                response = client.post("/api/v1/work-orders", headers=headers, json={"template": "hot", "title": f"c{i}-{j}"})
                assert response.status_code == 201, response.get_json()
                assert len(response.get_json()["tasks"]) == 1
                numbers.append(response.get_json()["number"])
            db.session.remove()
            return numbers

    with racing_app(app, threads + 2) as racing, ThreadPoolExecutor(threads) as pool:
        numbers = [n for chunk in pool.map(create, range(threads)) for n in chunk]
    assert len(numbers) == threads * each and numbered_without_gaps(numbers)
    assert db.session.scalar(select(func.count()).select_from(Task)) == threads * each


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_template_changed_since_this_process_looked_opens_on_the_new_version_without_a_gap(flow):
    """The remembered version is checked in the statement; the engine then opens the work order with the number
    already taken."""
    _pool_template(flow)
    versions.forget("hot")
    first = flow.create("hot", title="before")
    changed = flow.client.put("/api/v1/templates/hot", headers=flow.h("admin"), json={
        "key": "hot", "name": "Hot path", "priority": "P3", "steps": [
            {"key": "pick", "title": "Pick it now", "mode": "pool", "assignees": {"users": [flow.demo.uid("cs.agent1")]},
             "sla": "PT4H", "outcomes": ["done"]}]})
    assert changed.status_code == 200, changed.json
    second = flow.create("hot", title="after")
    assert second["template_version"] == first["template_version"] + 1
    assert second["tasks"][0]["step_title"] == "Pick it now"
    assert next_number(second["number"], first["number"])
    third = flow.create("hot", title="fast again")  # the new version is remembered now
    assert next_number(third["number"], second["number"]) and third["template_version"] == second["template_version"]


def test_a_use_case_reads_its_template_version_once(flow):
    """Completing a middle step through the engine (the form's check, the router, the next step): the version is read
    once before the commit and once for the answer, not at every turn (the identity map holds it only weakly)."""
    people = [flow.demo.uid("cs.agent1")]
    flow.template({"key": "two", "name": "Two steps", "steps": [
        {"key": "a", "title": "A", "mode": "pool", "assignees": {"users": people}},
        {"key": "b", "title": "B", "mode": "pool", "assignees": {"users": people}, "after": ["a"]}]})
    (task,) = flow.create("two")["tasks"]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    with statements() as seen:
        assert flow.act(task["id"], "complete", "cs.agent1").status_code == 200
    reads = [s for s in seen if s.lstrip().startswith("SELECT flow_templates.id")]
    assert len(reads) <= 2, reads


def _agent(flow) -> User:
    return db.session.get(User, flow.demo.uid("cs.agent1"))  # read again: each commit expires it


def _twins_claimed(app, flow, now) -> list[dict]:
    """Two plain work orders opened at the same moment and claimed by cs.agent1 at `now`: the same rows but ids."""
    from app.workorders import claims, fastpaths

    _pool_template(flow)
    versions.forget("hot")  # what this process remembers of an earlier test's template "hot"
    lead = db.session.get(User, flow.demo.uid("lead.cs"))
    body, tz = {"template": "hot", "title": "Twins"}, app.config["BUSINESS_TIMEZONE"]
    tasks = [WorkOrderCreatedSchema().dump(fastpaths.create(dict(body), lead, lead.department_id, now, tz))["tasks"][0]
             for _ in range(2)]
    for task in tasks:
        claims.claim_task(user=_agent(flow), task_id=task["id"], now=now, max_skew=300)
    db.session.commit()
    return tasks


def _same_rows_and_answers(tasks: list[dict], fast: dict, full: dict) -> dict:
    """The twins, one acted on by a fast path and one by the full rules, left the same rows (answered: the fast
    one's) and got the same answer."""
    db.session.expire_all()
    fast_rows, full_rows = (_snapshot(task["work_order_id"]) for task in tasks)
    assert fast_rows == full_rows
    answers = [TaskSchema().dump(answer) for answer in (fast, full)]
    for answer in answers:
        for key in ("id", "work_order_id"):
            answer.pop(key)
        answer["work_order"] = {k: v for k, v in answer["work_order"].items() if k not in ("id", "number")}
    assert answers[0] == answers[1]
    return fast_rows


def test_a_release_answers_as_the_full_rules_do(flow, backend):
    """Given back by who holds it: open again to every candidate, in one statement on PostgreSQL."""
    _pool_template(flow)
    wo = flow.create("hot", title="Crate 12", order_no="SO-12")
    (task,) = wo["tasks"]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    assert flow.act(task["id"], "release", "cs.agent2").status_code == 403  # not theirs to give back
    with statements() as seen:
        response = flow.act(task["id"], "release", "cs.agent1", reason="wrong shelf")
    assert response.status_code == 200, response.json
    if backend == "postgresql":  # who signed in, the release
        assert len(seen) <= 2, seen
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    assert response.json == TaskSchema().dump(presenters.present_one(row, utcnow()))
    assert (row.status, row.assignee_id, row.claimed_at, response.json["assignee"]) == ("open", None, None, None)
    assert sorted(db.session.execute(select(TaskCandidate.user_id, TaskCandidate.is_open)
                                     .where(TaskCandidate.task_id == task["id"])).all()) == \
        sorted((flow.demo.uid(login), True) for login in ("cs.agent1", "cs.agent2"))
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.task_id == task["id"],
                                                            TimelineEvent.kind == "released")).all()
    assert [(e.actor_id, e.details) for e in events] == [(flow.demo.uid("cs.agent1"), {"reason": "wrong shelf"})]
    assert db.session.execute(text("SELECT open FROM person_loads WHERE user_id = :u"),
                              {"u": flow.demo.uid("cs.agent1")}).scalar() == 0  # the loads' triggers counted it
    # Released again: refused as before (nobody holds it now); the colleague may take it.
    again = flow.act(task["id"], "release", "cs.agent1")
    assert again.status_code == 403 and again.json["error"]["code"] == "not_assignee", again.json
    assert flow.act(task["id"], "claim", "cs.agent2").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_release_writes_what_the_full_rules_write(app, flow):
    """One rule, two writers: the few statements and `claims.release_task` leave the same rows and answer alike."""
    from app.workorders import claims, fastpaths

    now = utcnow()
    tasks = _twins_claimed(app, flow, now)
    fast = fastpaths.release(_agent(flow), tasks[0]["id"], now, "later")
    assert fast is not None  # the plain case takes the one statement
    full = presenters.present_one(claims.release_task(user=_agent(flow), task_id=tasks[1]["id"], now=now, reason="later"), now)
    _same_rows_and_answers(tasks, fast, full)


def test_a_release_sent_from_several_devices_at_once_gives_the_task_back_once(app, flow):
    devices = 4
    tasks = _claimed_tasks(flow, 8, "give back")
    results = _at_once(app, flow, tasks, "release", [{}] * devices)
    for n, task in enumerate(tasks):
        assert sorted(results[n], key=str) == [(200, None)] + [(403, "not_assignee")] * (devices - 1), results[n]
        kinds = db.session.scalars(select(TimelineEvent.kind).where(TimelineEvent.task_id == task["id"])).all()
        assert kinds.count("released") == 1, kinds
    assert db.session.execute(text("SELECT open FROM person_loads WHERE user_id = :u"),
                              {"u": flow.demo.uid("cs.agent1")}).scalar() == 0


def test_a_transfer_answers_as_the_full_rules_do(flow, backend):
    """Handed on by who holds it to someone who was not offered it (another department): they hold it, are a
    candidate, their department takes part, they are told; on PostgreSQL in four statements."""
    _pool_template(flow)
    wo = flow.create("hot", title="Crate 14", order_no="SO-14")
    (task,) = wo["tasks"]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    driver = flow.demo.uid("driver.li")
    refused = flow.act(task["id"], "transfer", "cs.agent2", to_user=driver)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "lead_required"
    unknown = flow.act(task["id"], "transfer", "cs.agent1", to_user=2_000_000)
    assert unknown.status_code == 422 and unknown.json["error"]["details"] == {"to_user": ["does not exist or is inactive"]}
    flow.h("cs.agent1")  # signed in before counting
    with statements() as seen:
        response = flow.act(task["id"], "transfer", "cs.agent1", to_user=driver, reason="he is at the dock")
    assert response.status_code == 200, response.json
    if backend == "postgresql":  # who signed in, who takes it, the transfer, their notification
        assert len(seen) <= 4, seen
    db.session.expire_all()
    row = db.session.get(Task, task["id"])
    assert response.json == TaskSchema().dump(presenters.present_one(row, utcnow()))
    assert (row.status, row.assignee_id, response.json["assignee"]["id"]) == ("claimed", driver, driver)
    assert sorted(db.session.execute(select(TaskCandidate.user_id, TaskCandidate.is_open)
                                     .where(TaskCandidate.task_id == task["id"])).all()) == \
        sorted([(flow.demo.uid("cs.agent1"), False), (flow.demo.uid("cs.agent2"), False), (driver, False)])
    assert flow.demo.dept("DLV-SH") in db.session.scalars(
        select(WorkOrderDepartment.department_id).where(WorkOrderDepartment.work_order_id == wo["id"])).all()
    (event,) = db.session.scalars(select(TimelineEvent).where(TimelineEvent.task_id == task["id"],
                                                                TimelineEvent.kind == "transferred")).all()
    assert (event.actor_id, event.details) == (flow.demo.uid("cs.agent1"), {
        "from_user": flow.demo.uid("cs.agent1"), "to_user": driver, "reason": "he is at the dock"})
    told = db.session.scalars(select(Notification).where(Notification.kind == "task.transferred")).all()
    assert [n.user_id for n in told] == [driver] and told[0].url == f"/#/task/{task['id']}"
    loads = dict(db.session.execute(text("SELECT user_id, open FROM person_loads")).all())
    assert (loads.get(flow.demo.uid("cs.agent1")), loads.get(driver)) == (0, 1)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_transfer_writes_what_the_full_rules_write(app, flow):
    """One rule, two writers: the few statements and `handoffs.transfer_task` leave the same rows and answer alike."""
    from app.workorders import fastpaths, handoffs

    now = utcnow()
    tasks = _twins_claimed(app, flow, now)
    driver = flow.demo.uid("driver.li")
    fast = fastpaths.transfer(_agent(flow), tasks[0]["id"], driver, now, "dock")
    assert fast is not None  # the plain case takes the few statements
    full = presenters.present_one(handoffs.transfer_task(user=_agent(flow), task_id=tasks[1]["id"], to_user=driver, now=now,
                                                         reason="dock"), now)
    rows = _same_rows_and_answers(tasks, fast, full)
    assert (driver, "task.transferred") in [told[:2] for told in rows["told"]]


def test_a_transfer_sent_from_several_devices_at_once_hands_the_task_on_once(app, flow):
    """The holder's phone and tablet handing the same task to different people at the same moment: one wins; the
    others find it is no longer theirs (a lead could still move it: 403 lead_required, as the full rules say)."""
    tasks = _claimed_tasks(flow, 6, "hand on")
    targets = [flow.demo.uid(login) for login in ("driver.li", "driver.wang", "driver.chen")]
    devices = len(targets)
    results = _at_once(app, flow, tasks, "transfer", [{"to_user": target} for target in targets])
    for n, task in enumerate(tasks):
        assert sorted(results[n], key=str) == [(200, None)] + [(403, "lead_required")] * (devices - 1), results[n]
        events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.task_id == task["id"],
                                                                TimelineEvent.kind == "transferred")).all()
        winner = targets[[r[0] for r in results[n]].index(200)]
        assert [e.details["to_user"] for e in events] == [winner]
        assert db.session.get(Task, task["id"]).assignee_id == winner


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_phone_s_claim_commits_its_change_its_key_and_its_answer_at_once(flow):
    """The outbox sends every action with an Idempotency-Key: the claim, the key and the answer for its replays are
    one transaction (one COMMIT, where the key's answer used to be a second), in two statements more than without."""
    _pool_template(flow)
    (warm,) = flow.create("hot", title="Crate 20")["tasks"]
    (task,) = flow.create("hot", title="Crate 21")["tasks"]
    assert flow.act(warm["id"], "claim", "cs.agent1").status_code == 200  # this process has read the template
    headers = {**flow.h("cs.agent1"), "Idempotency-Key": "claim-once"}
    commits = []

    def count(_connection):
        commits.append(1)

    event.listen(db.engine, "commit", count)
    try:
        with statements() as seen:
            first = flow.client.post(f"/api/v1/tasks/{task['id']}/claim", json={}, headers=headers)
    finally:
        event.remove(db.engine, "commit", count)
    assert first.status_code == 200, first.json
    assert len(commits) == 1
    assert len(seen) <= 5, [" ".join(s.split())[:60] for s in seen]  # sign-in, the key, the claim, the notifications, the answer
    again = flow.client.post(f"/api/v1/tasks/{task['id']}/claim", json={}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json
    db.session.expire_all()
    record = db.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "claim-once"))
    assert (record.state, record.status_code) == ("done", 200)
    assert db.session.get(Task, task["id"]).assignee_id == flow.demo.uid("cs.agent1")


def test_the_hot_paths_statements_are_converted_once_per_process():
    """psycopg remembers how it turned a statement's `%(name)s` into `$n` only for statements up to 4 KB with at most
    50 parameters, and converts longer ones again on every execution: each prebuilt statement of the hot paths
    stays within both, as PostgreSQL's driver receives it."""
    from psycopg import _queries
    from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
    from sqlalchemy.sql.elements import TextClause

    from app.workorders import fastpaths

    dialect = pg_psycopg.dialect()
    prebuilt = {name: value for name, value in vars(fastpaths).items() if isinstance(value, TextClause)}
    assert {"_CREATE", "_CLAIM"} <= prebuilt.keys()
    for name, statement in prebuilt.items():
        compiled = statement.compile(dialect=dialect)
        assert len(str(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, name
        assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS, name
