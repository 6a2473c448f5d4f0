"""The read model of closed work is written by the job (`catch_up`), never by a summary, on both databases."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from app.common.clock import utcnow
from app.extensions import db
from app.metrics.catch_up import catch_up_facts, facts_as_of, rebuild_facts
from app.metrics.models import StepDay, TaskFact, WorkOrderFact
from app.workorders.models import TimelineEvent
from tests.metrics.conftest import NOW, WEEK, build_week, catch_up, summary_for

TZ = "Asia/Shanghai"
CLOSED_WEEK = ("wo1", "wo2", "wo3", "wo5", "wo7")  # closed work orders of the fixture (WO7 is of the next week)


class Statements:
    """Every statement sent to the database, and every commit, while listening."""

    def __init__(self):
        self.sql: list[str] = []
        self.commits = 0

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.sql.append(statement)

    def _commit(self, conn):
        self.commits += 1

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._statement)
        event.remove(db.engine, "commit", self._commit)


def _first_word(sql: str) -> str:
    return sql.lstrip().split(None, 1)[0].upper()


def _facts() -> tuple[int, int, int]:
    """Work-order facts, task facts, and tasks counted in the per-day totals."""
    return (db.session.scalar(select(func.count()).select_from(WorkOrderFact)),
            db.session.scalar(select(func.count()).select_from(TaskFact)),
            db.session.scalar(select(func.coalesce(func.sum(StepDay.every), 0))))


def test_the_summary_and_the_export_only_read(client, backend, flow, week):
    admin, lead = flow.h("admin"), flow.h("mgr.ops")  # signing in writes: done before listening
    db.session.commit()
    calls = [("/api/v1/metrics/summary", {**WEEK, "group_by": group_by}, headers)
             for group_by in (None, "day", "department", "category") for headers in (admin, lead)]
    calls += [("/api/v1/metrics/export.csv", {**WEEK, "section": section, "group_by": "week"}, lead)
              for section in ("groups", "steps", "pareto", "tags", "backlog", "escalations", "scores")]
    with Statements() as seen:
        for url, query, headers in calls:
            response = client.get(url, query_string={k: v for k, v in query.items() if v}, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
    # On SQLite the app opens every transaction itself (app/__init__.py), and a GET's with a plain BEGIN, which
    # takes no write lock: that statement aside, everything sent is a SELECT, on both databases. Each request's
    # read-only transaction ends with one COMMIT, which writes nothing (a ROLLBACK would make psycopg drop its
    # prepared statements: app/common/database.py).
    assert "BEGIN IMMEDIATE" not in seen.sql
    statements = [sql for sql in seen.sql if not (backend == "sqlite" and sql == "BEGIN")]
    assert statements, "nothing was recorded"
    assert {_first_word(sql) for sql in statements} == {"SELECT"}, [sql for sql in statements if _first_word(sql) != "SELECT"]
    assert not [sql for sql in statements if "advisory" in sql.lower()]
    assert seen.commits == len(calls)


def test_the_job_catches_up_work_closed_after_its_last_pass(app, week, flow, demo):
    from app.jobs import run_all_once

    before = summary_for("admin", demo)
    assert before["facts_as_of"] == NOW
    wo6 = week.ids["wo6"]
    flow.finish(wo6, "a", "cs.agent1")
    flow.finish(wo6, "b", "staff.wh1")

    # Closed after the last pass: no longer open, not yet in the read model, so not counted at all.
    pending = summary_for("admin", demo)
    assert pending["facts_as_of"] == NOW
    assert pending["work_orders"] == {**before["work_orders"], "total": 5, "customer": 4, "in_progress": 0}

    later = NOW + timedelta(minutes=1)
    passed = run_all_once(now=later, config=app.config)
    assert (passed["metric_facts_built"], passed["metric_facts_left_for_next_pass"]) == (1, False)
    after = summary_for("admin", demo)
    assert after["facts_as_of"] == later
    assert after["work_orders"] == {**before["work_orders"], "in_progress": 0, "resolved": 4}
    assert after["sla"]["tasks"] == before["sla"]["tasks"] + 1  # WO6's b

    # Another pass finds nothing new; a rebuild gives the same figures.
    assert run_all_once(now=later + timedelta(minutes=1), config=app.config)["metric_facts_built"] == 0
    counts = _facts()
    rebuild_facts(now=later, tz=TZ)
    assert _facts() == counts
    assert summary_for("admin", demo) == {**after, "facts_as_of": later}


def test_a_backlog_is_worked_off_across_passes(flow, client, demo):
    week = build_week(flow, client, demo)
    # A new read model: closed work orders by id, two a pass; no stamp until none is left.
    assert summary_for("admin", demo)["facts_as_of"] is None
    assert catch_up(batch_size=2) == {"built": 2, "more": True, "busy": False}
    assert facts_as_of(tz=TZ) is None and summary_for("admin", demo)["facts_as_of"] is None
    assert catch_up(batch_size=2) == {"built": 2, "more": True, "busy": False}
    assert catch_up(batch_size=2) == {"built": 1, "more": False, "busy": False}
    assert facts_as_of(tz=TZ) == NOW
    whole = summary_for("admin", demo, group_by="day")
    counts = _facts()
    rebuild_facts(now=NOW, tz=TZ)
    assert _facts() == counts and summary_for("admin", demo, group_by="day") == whole

    # Then, work closed since the stamp, oldest close first, one a pass: the stamp stops at the first one waiting.
    for name, steps in (("wo4", (("a", "cs.agent1"), ("b", "staff.wh1"))), ("wo6", (("a", "cs.agent1"), ("b", "staff.wh1")))):
        for step, login in steps:
            flow.finish(week.ids[name], step, login)
    now = utcnow()
    closed_at = dict(db.session.execute(select(TimelineEvent.work_order_id, TimelineEvent.at)
                                        .where(TimelineEvent.kind == "resolved",
                                               TimelineEvent.work_order_id.in_((week.ids["wo4"], week.ids["wo6"])))).all())
    first, second = sorted(closed_at, key=lambda work_order_id: (closed_at[work_order_id], work_order_id))
    assert catch_up(now=now, batch_size=1) == {"built": 1, "more": True, "busy": False}
    assert facts_as_of(tz=TZ) == closed_at[second]  # the close time of the one left waiting
    assert db.session.get(WorkOrderFact, first) is not None and db.session.get(WorkOrderFact, second) is None
    assert catch_up(now=now, batch_size=1) == {"built": 1, "more": False, "busy": False}
    assert facts_as_of(tz=TZ) == now
    assert catch_up(now=now, batch_size=1) == {"built": 0, "more": False, "busy": False}
    assert summary_for("admin", demo)["work_orders"]["resolved"] == 5


def test_a_read_model_from_before_the_job_is_completed_by_the_next_pass(flow, client, demo):
    from app.metrics import facts
    from app.metrics.catch_up import STATE_KEY
    from app.metrics.models import MetricSetting
    from app.metrics.period import prepare_connection
    from app.workorders.models import WorkOrder

    week = build_week(flow, client, demo)
    # Before the job, a summary of the week wrote the facts of that week's closed work only (not WO7's), and
    # its own kind of state.
    prepare_connection(TZ)
    facts.build(WorkOrder.id.in_([week.ids[name] for name in ("wo1", "wo2", "wo3", "wo5")]), NOW, TZ)
    db.session.add(MetricSetting(key=STATE_KEY, value={"at": NOW.isoformat(), "tz": TZ,
                                                       "checked": {"2025-03-03/2025-03-09": NOW.isoformat()}}))
    db.session.commit()
    assert summary_for("admin", demo)["facts_as_of"] is None  # that state vouches for nothing
    assert catch_up() == {"built": 1, "more": False, "busy": False}
    assert db.session.get(WorkOrderFact, week.ids["wo7"]) is not None and facts_as_of(tz=TZ) == NOW
    counts = _facts()
    rebuild_facts(now=NOW, tz=TZ)
    assert _facts() == counts


def test_closed_work_without_its_event_is_found_by_the_hourly_check(week, flow, demo):
    wo6 = week.ids["wo6"]
    flow.finish(wo6, "a", "cs.agent1")
    flow.finish(wo6, "b", "staff.wh1")
    # As after a bulk import: a closed work order with no timeline event to find it by.
    db.session.execute(TimelineEvent.__table__.delete().where(TimelineEvent.work_order_id == wo6))
    db.session.commit()
    assert catch_up(now=NOW + timedelta(minutes=5))["built"] == 0  # checked at NOW: not yet again
    assert catch_up(now=NOW + timedelta(hours=1))["built"] == 1
    assert db.session.get(WorkOrderFact, wo6) is not None


def _postgresql_only(backend):
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the advisory lock is PostgreSQL's")


def test_concurrent_catch_ups_do_not_double_count(app, backend, flow, client, demo):
    _postgresql_only(backend)
    build_week(flow, client, demo)
    db.session.commit()
    n = 4
    barrier = threading.Barrier(n)
    results, errors = [], []

    def one_pass():
        try:
            with app.app_context():
                barrier.wait()
                results.append(catch_up_facts(now=NOW, tz=TZ))
                db.session.remove()
        except Exception as exc:  # surfaced below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == n
    assert sum(r["built"] for r in results) == len(CLOSED_WEEK)
    catch_up()  # whichever passes were skipped as busy: nothing is left for a later one
    assert catch_up()["built"] == 0
    counts = _facts()
    whole = summary_for("admin", demo, group_by="day")
    rebuild_facts(now=NOW, tz=TZ)
    assert _facts() == counts
    assert counts[0] == len(CLOSED_WEEK) and counts[1] == counts[2]  # each task once in the per-day totals
    assert summary_for("admin", demo, group_by="day") == whole


def test_a_pass_skips_while_another_holds_the_lock(app, backend, flow, client, demo):
    _postgresql_only(backend)
    build_week(flow, client, demo)
    db.session.commit()
    from app.metrics.catch_up import LOCK_KEY

    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})  # a rebuild, say, in progress
        assert catch_up() == {"built": 0, "more": False, "busy": True}
        assert _facts()[0] == 0
        other.rollback()
    assert catch_up()["built"] == len(CLOSED_WEEK)
