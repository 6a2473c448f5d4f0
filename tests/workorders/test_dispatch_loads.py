"""People's open loads kept by the database (docs/design.md §16, app/workorders/loads.py), and the desk's walk
through them: the rows always agree with a recount of the tasks, whoever wrote the tasks, and a walked decision is
the decision a whole read makes."""
import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from app.extensions import db
from app.org import service as org
from app.org.models import Shift, User
from app.workorders import bulk, dispatch
from app.workorders.claims import claim_task, release_task
from app.workorders.completion import complete_task
from app.workorders.dispatch import NEVER_GIVEN, Desk, Offer, decide
from app.workorders.handback import hand_back
from app.workorders.handoffs import transfer_task
from app.workorders.handout import hand_out_waiting
from app.workorders.models import DispatchSeat, DispatchSet, PersonLoad, Task, TaskLoadChange, TaskStatus
from app.workorders.service import cancel_work_order
from tests.conftest import racing_app
from tests.workorders.test_dispatch import T0, TZ, _create, _people, _template


def _kept():
    """What the rows say: open loads, loads of each template (zeros left out), and whether every copy agrees."""
    people = {u: n for u, n in db.session.execute(select(PersonLoad.user_id, PersonLoad.open)) if n}
    seats = {(k, u): n for k, u, n in db.session.execute(select(DispatchSeat.template_key, DispatchSeat.user_id, DispatchSeat.held)) if n}
    copies = {u: n for u, n in db.session.execute(select(DispatchSeat.user_id, DispatchSeat.load)) if n != people.get(u, 0)}
    return people, seats, copies


def _recount():
    claimed = (Task.status == TaskStatus.CLAIMED) & Task.assignee_id.is_not(None)
    people = dict(db.session.execute(select(Task.assignee_id, func.count()).where(claimed).group_by(Task.assignee_id)).all())
    seats = {(k, u): n for k, u, n in db.session.execute(
        select(Task.template_key, Task.assignee_id, func.count()).where(claimed).group_by(Task.template_key, Task.assignee_id))}
    return people, seats, {}


def _agree():
    db.session.commit()
    assert _kept() == _recount()
    assert db.session.scalar(select(func.count()).select_from(TaskLoadChange)) == 0, "change rows outlive their transaction"


def _user(person):
    return db.session.get(User, person.id)


def test_the_loads_agree_with_a_recount_after_every_kind_of_change(app):
    a, b, c, d = sorted(_people(4), key=lambda p: p.id)
    _template("mix-ll", [a, b, c], "least_loaded", capacity=3)
    _template("mix-rr", [a, b, c, d], "round_robin")
    pool = _template("mix-pool", [a, b, c, d], "claim")
    at = T0
    ll = [_create("mix-ll", at=at, title=f"ll {i}") for i in range(7)]
    rr = [_create("mix-rr", at=at, title=f"rr {i}") for i in range(5)]
    offers = [_create("mix-pool", at=at, title=f"pool {i}") for i in range(4)]
    _agree()

    claim_task(user=_user(d), task_id=offers[0].id, now=at, max_skew=300)
    claim_task(user=_user(a), task_id=offers[1].id, now=at, max_skew=300)
    _agree()
    release_task(user=_user(a), task_id=offers[1].id, now=at)
    release_task(user=db.session.get(User, ll[0].assignee_id), task_id=ll[0].id, now=at)
    _agree()
    complete_task(user=db.session.get(User, ll[1].assignee_id), task_id=ll[1].id, outcome=None, note=None, data=None,
                  now=at + timedelta(minutes=1), max_skew=300)
    _agree()
    holder = db.session.get(User, rr[0].assignee_id)
    other = next(p for p in (a, b, c, d) if p.id != holder.id)
    transfer_task(user=holder, task_id=rr[0].id, to_user=other.id, now=at + timedelta(minutes=2))
    _agree()
    admin = org.create_user(login="mixadmin", password="baton-demo", name="Admin", roles=["admin"])
    cancel_work_order(user=admin, work_order_id=rr[1].work_order_id, reason="mistake", now=at + timedelta(minutes=3))
    _agree()
    assert hand_out_waiting(now=at + timedelta(minutes=4)) >= 1
    _agree()
    # Someone leaves: everything they hold goes back to the pools (and out again).
    leaving = _user(b)
    leaving.active = False
    hand_back(b.id, at + timedelta(minutes=5), actor_id=None)
    _agree()
    # The bulk writer and its hand-out; then the hand-out job once more.
    bulk.create_work_orders(template=pool, items=[{"title": f"recall {i}"} for i in range(6)], now=at, tz=TZ,
                            created_by_id=None, department_id=None, source="recall")
    _agree()
    bulk.create_work_orders(template=_template("mix-bulk", [a, c, d], "least_loaded", capacity=2),
                            items=[{"title": f"bulk {i}"} for i in range(8)], now=at, tz=TZ, created_by_id=None,
                            department_id=None, source="recall")
    _agree()
    hand_out_waiting(now=at + timedelta(minutes=6))
    _agree()
    # A rolled back change leaves no trace.
    claim_task(user=_user(c), task_id=offers[2].id, now=at, max_skew=300)
    db.session.rollback()
    _agree()
    assert _kept()[0], "somebody holds something"


def test_raw_writes_of_tasks_keep_the_loads(app):
    """Set-based Core updates, raw SQL and deletes of tasks: the triggers count them like the services' writes."""
    a, b, c = sorted(_people(3), key=lambda p: p.id)
    _template("raw", [a, b, c], "least_loaded")
    tasks = [_create("raw", title=f"raw {i}") for i in range(6)]
    _agree()
    # The holder changes under a Core UPDATE (no ORM, no service).
    db.session.execute(update(Task.__table__).where(Task.__table__.c.id == tasks[0].id).values(assignee_id=c.id))
    _agree()
    assert _kept()[0][c.id] == _recount()[0][c.id]
    # Several at once, status and holder, in raw SQL.
    db.session.execute(text("UPDATE tasks SET status = 'completed' WHERE id IN (:x, :y)"), {"x": tasks[1].id, "y": tasks[2].id})
    db.session.execute(text("UPDATE tasks SET status = 'open', assignee_id = NULL WHERE id = :x"), {"x": tasks[3].id})
    _agree()
    db.session.execute(text("UPDATE tasks SET status = 'claimed', assignee_id = :a WHERE id = :x"), {"a": a.id, "x": tasks[3].id})
    db.session.execute(text("UPDATE tasks SET template_key = 'raw-other' WHERE id = :x"), {"x": tasks[4].id})
    _agree()
    # The same task moved twice in one transaction; then deleted.
    db.session.execute(update(Task.__table__).where(Task.__table__.c.id == tasks[5].id).values(assignee_id=a.id))
    db.session.execute(update(Task.__table__).where(Task.__table__.c.id == tasks[5].id).values(assignee_id=b.id))
    _agree()
    db.session.execute(text("DELETE FROM timeline_events WHERE task_id = :x"), {"x": tasks[5].id})
    db.session.execute(text("DELETE FROM task_candidates WHERE task_id = :x"), {"x": tasks[5].id})
    db.session.execute(text("DELETE FROM tasks WHERE id = :x"), {"x": tasks[5].id})
    _agree()


def test_a_desk_counts_the_changes_of_its_own_transaction(app):
    """A completion that frees a place and the dispatch of the next offer in one transaction: the desk sees the place."""
    a, b = sorted(_people(2), key=lambda p: p.id)
    _template("same-tx", [a, b], "least_loaded", capacity=1)
    first, second = (_create("same-tx", at=T0 + timedelta(minutes=i), title=f"t{i}") for i in range(2))
    assert {first.assignee_id, second.assignee_id} == {a.id, b.id}
    db.session.execute(update(Task.__table__).where(Task.__table__.c.id == first.id).values(status="completed"))
    desk = Desk("same-tx", T0 + timedelta(minutes=5))
    assert desk.has_room(first.assignee_id, 1) and not desk.has_room(second.assignee_id, 1)
    db.session.rollback()


# --- the walk: a decision among a big set reads a few seats in order, and decides as a whole read would -------------


def _world(people):
    """Loads of 0 to 4 open tasks (some of another template), turns at different times, someone off duty, someone off
    shift, someone inactive."""
    rng = random.Random(17)
    ids = [p.id for p in people]
    _template("walk", people, "claim")
    _template("walk-other", people, "claim")
    for i, person in enumerate(ids):
        for n in range(rng.randrange(5)):
            task = _create("walk" if n % 2 else "walk-other", title=f"{person}-{n}")
            claim_task(user=db.session.get(User, person), task_id=task.id, now=T0, max_skew=300)
    desk = Desk("walk", T0)
    for k, person in enumerate(rng.sample(ids, len(ids) // 2)):
        desk.now = T0 - timedelta(minutes=rng.randrange(4))  # equal turns too: then the lowest id
        desk.given(person, None)
        desk.save()
    db.session.commit()
    db.session.get(User, ids[3]).on_duty = False
    db.session.get(User, ids[5]).active = False
    db.session.add(Shift(user_id=ids[7], group_id=None, starts_at=T0 + timedelta(hours=1), ends_at=T0 + timedelta(hours=2),
                         handover=False, created_at=T0))
    db.session.commit()
    return ids


def _offers(ids, how, capacity, n, not_to=None, candidates=None):
    candidates = tuple(candidates or ids)
    return [Offer(10_000 + k, 10_000 + k, "handle", how, capacity, candidates, "P3", None, T0 + timedelta(seconds=k), None,
                  "WO-W", "walk", "Handle", not_to(k) if not_to else None) for k in range(n)]


def _decisions(ids, walk_from, monkeypatch, batches, pending=None):
    monkeypatch.setattr(dispatch, "WALK_FROM", walk_from)
    answers = []
    for offers in batches:
        if pending:
            pending()
        desk = Desk("walk", T0 + timedelta(minutes=30))
        answers.append([(o.task_id, u) for o, u in decide(desk, offers)])
        db.session.rollback()  # the same world for the next batch and the other way
    return answers


@pytest.mark.parametrize("how", ["least_loaded", "round_robin"])
def test_a_walked_decision_is_the_decision_of_a_whole_read(app, backend, monkeypatch, how):
    people = sorted(_people(24, prefix="walk"), key=lambda p: p.id)
    ids = _world(people)
    _agree()
    monkeypatch.setattr(dispatch, "FIRST_PAGE", 2)  # several pages even among a few people
    rng = random.Random(5)
    batches = [
        _offers(ids, how, None, 1),
        _offers(ids, how, None, 30),
        _offers(ids, how, 3, 40),
        _offers(ids, how, 2, 25, not_to=lambda k: ids[k % len(ids)]),
        _offers(ids, how, 4, 12, candidates=sorted(rng.sample(ids, 13))),
    ]
    whole = _decisions(ids, 10_000, monkeypatch, batches)
    walked = _decisions(ids, 0, monkeypatch, batches)
    assert walked == whole
    assert all(len(b) for b in whole[:3])
    if backend == "postgresql":  # seated in a transaction of its own, kept (SQLite seats in the desk's, rolled back here)
        seats = select(func.count()).select_from(DispatchSeat).where(DispatchSeat.template_key == "walk")
        assert db.session.scalar(seats) == len(ids)
        assert db.session.scalar(seats.where(DispatchSeat.given_at == NEVER_GIVEN)) >= 1

    # With changes of this very transaction not applied yet (PostgreSQL applies them at commit): the same answers.
    def pending():
        held = db.session.scalars(select(Task.id).where(Task.status == TaskStatus.CLAIMED).order_by(Task.id).limit(6)).all()
        db.session.execute(update(Task.__table__).where(Task.__table__.c.id.in_(held[:3])).values(status="completed"))
        db.session.execute(update(Task.__table__).where(Task.__table__.c.id.in_(held[3:])).values(assignee_id=ids[0]))

    assert _decisions(ids, 0, monkeypatch, batches, pending) == _decisions(ids, 10_000, monkeypatch, batches, pending)
    _agree()


# --- the migration ---------------------------------------------------------------------------------------------------


def test_the_migration_counts_the_loads_so_far_and_installs_the_triggers(fresh_url):
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.conftest import FAST_HASH

    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        upgrade(revision="a9d3c6e1f4b7")
        a, b, c = sorted(_people(3, prefix="mig"), key=lambda p: p.id)
        _template("mig", [a, b, c], "claim")
        a, b, c = a.id, b.id, c.id
        tasks = [_create("mig", title=f"m{i}").id for i in range(5)]
        for task, person in zip(tasks, (a, a, b, c)):
            claim_task(user=db.session.get(User, person), task_id=task, now=T0, max_skew=300)
        db.session.execute(text("INSERT INTO dispatch_turns (template_key, user_id, given_at) VALUES ('mig', :u, :at)"),
                           {"u": b, "at": T0.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else T0})
        db.session.commit()

        upgrade()
        assert _kept() == _recount() and _recount()[0] == {a: 2, b: 1, c: 1}
        assert db.session.get(DispatchSeat, ("mig", b)).given_at == T0
        # The triggers are there: a raw change is counted.
        db.session.execute(text("UPDATE tasks SET assignee_id = :c WHERE id = :t"), {"c": c, "t": tasks[0]})
        _agree()
        assert _kept()[0] == {a: 1, b: 1, c: 2}
        db.session.remove()  # its locks would keep the downgrade waiting

        downgrade(revision="a9d3c6e1f4b7")
        assert db.session.execute(text("SELECT user_id FROM dispatch_turns")).scalars().all() == [b]
        db.session.execute(text("UPDATE tasks SET assignee_id = :a WHERE id = :t"), {"a": a, "t": tasks[0]})  # no triggers left
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


# --- stored candidate sets ------------------------------------------------------------------------------------------


def _stored(digest: str) -> int:
    return db.session.scalar(select(func.count()).select_from(DispatchSet).where(DispatchSet.digest == digest))


def test_sets_no_template_remembers_are_pruned(app):
    people = sorted(_people(3, prefix="set"), key=lambda p: p.id)
    ids = [p.id for p in people]
    desk = Desk("sets", T0)
    assert dispatch._seat_everyone("sets", ids, "kept-digest")
    desk.seated = ["kept-digest"]
    desk.save()
    db.session.commit()
    assert dispatch._seat_everyone("sets", ids[:2], "forgotten")  # seated by a transaction that never named it
    db.session.commit()
    assert (_stored("kept-digest"), _stored("forgotten")) == (3, 2)
    assert dispatch.prune_sets() == 1
    assert (_stored("kept-digest"), _stored("forgotten")) == (3, 0)
    assert dispatch.prune_sets() == 0


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_set_being_seated_is_not_pruned(app):
    """A desk stores its new set at once but names it in its pointer only when it commits: a prune meanwhile waits
    for it (without the pointers' lock it deleted the set, and the desk committed a name with no members)."""
    people = sorted(_people(3, prefix="seat"), key=lambda p: p.id)
    ids = [p.id for p in people]
    db.session.commit()
    stored, release, pruned = threading.Event(), threading.Event(), []

    def desk_seating():
        with racing.app_context():
            desk = Desk("seating", T0)  # the template's pointer row, locked for this transaction
            assert dispatch._seat_everyone("seating", ids, "being-seated")  # committed at once, on its own
            stored.set()
            release.wait(timeout=30)
            desk.seated = ["being-seated"]
            desk.save()
            db.session.commit()
            db.session.remove()

    def prune():
        with racing.app_context():
            stored.wait(timeout=30)
            pruned.append(dispatch.prune_sets())
            db.session.remove()

    with racing_app(app, 4) as racing:
        threads = [threading.Thread(target=desk_seating), threading.Thread(target=prune)]
        for thread in threads:
            thread.start()
        stored.wait(timeout=30)
        time.sleep(0.5)  # the prune has had its chance to run
        assert pruned == []  # it waits for the desk
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert pruned == [0] and _stored("being-seated") == 3
