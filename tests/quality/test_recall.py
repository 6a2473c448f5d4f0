"""The recall fan-out: idempotent whatever happens, and its bulk work orders behave exactly like the engine's."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.workorders.models import Timer
from app.extensions import db
from app.jobs import run_all_once
from app.org.models import User
from app.quality import recall
from app.workorders import bulk
from app.quality.models import Andon, AndonRecall, Order, OrderRecall, RecallJob
from app.quality.recall import run_recall_fanout
from app.workorders.models import Task, TaskCandidate, TimelineEvent, WorkOrder, WorkOrderDepartment, WorkOrderStep
from app.workorders.service import create_work_order
from tests.quality.conftest import T0, TZ, count, line, order

PULL_BA1 = {"scope": "batch", "batch_no": "BA-1", "action": "recall", "reason": "Swollen lids"}
BA1_DELIVERED = [f"SO-{n:05d}" for n in (*range(1, 11), 15)]


def fan_out(andon_id, batch_size=2_000, now=None):
    return run_recall_fanout(andon_id=andon_id, now=now or utcnow(), tz=TZ, batch_size=batch_size)


def assert_one_recall_per_order(andon_id, expected_orders):
    links = db.session.execute(select(AndonRecall.order_id, AndonRecall.work_order_id).where(AndonRecall.andon_id == andon_id)).all()
    assert len(links) == len({o for o, _ in links}) == len({w for _, w in links}) == len(expected_orders)
    recall_wos = db.session.scalars(select(WorkOrder).where(WorkOrder.source == "recall")).all()
    assert sorted(w.order_no for w in recall_wos) == sorted(expected_orders), "no orphan or duplicate recall work order"
    assert len({w.number for w in db.session.scalars(select(WorkOrder))}) == count(WorkOrder)
    first_tasks = db.session.scalar(select(func.count()).select_from(Task).join(WorkOrder, WorkOrder.id == Task.work_order_id)
                                    .where(WorkOrder.source == "recall", Task.step == "contact", Task.status == "open"))
    assert first_tasks == len(expected_orders)


def test_running_the_job_twice_creates_nothing_more(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    first = fan_out(pulled["id"], batch_size=3)
    assert first["created"] == 11 and first["batches"] >= 4
    assert fan_out(pulled["id"], batch_size=3)["created"] == 0
    assert run_all_once(now=utcnow(), config=catalogue.client.application.config)["recall_work_orders_created"] == 0
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED)
    job = db.session.scalar(select(RecallJob))
    assert (job.status, job.created, job.batches) == ("done", 11, first["batches"])


def test_a_crash_halfway_leaves_whole_batches_and_a_rerun_finishes_without_duplicates(catalogue, monkeypatch):
    pulled = catalogue.pull(**PULL_BA1)
    real = bulk.create_work_orders
    calls = {"n": 0}

    def crash_on_second_batch(**kwargs):
        calls["n"] += 1
        opened = real(**kwargs)  # the rows are written ...
        if calls["n"] == 2:
            raise RuntimeError("Lambda timed out")  # ... and the process dies before the batch commits
        return opened

    monkeypatch.setattr(bulk, "create_work_orders", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        fan_out(pulled["id"], batch_size=4)
    db.session.rollback()
    assert count(AndonRecall) == 4 and count(WorkOrder, WorkOrder.source == "recall") == 4, "the first batch committed whole"
    assert db.session.scalar(select(RecallJob.status)) == "pending"

    monkeypatch.setattr(bulk, "create_work_orders", real)
    assert fan_out(pulled["id"], batch_size=4)["created"] == 7
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED)
    kinds = [e["kind"] for e in catalogue.andon(pulled["id"])["timeline"]]
    assert kinds.count("recall_batch") == db.session.scalar(select(RecallJob.batches)) and kinds[-1] == "recall_completed"
    assert db.session.scalar(select(RecallJob.created)) == 11


def test_a_crash_after_the_work_orders_but_before_their_links_rolls_the_batch_back(catalogue, monkeypatch):
    pulled = catalogue.pull(**PULL_BA1)
    real = recall.load_rows

    def fail_links(table, rows):
        if table.name == "andon_recalls":
            raise ConnectionError("connection lost")
        return real(table, rows)

    monkeypatch.setattr(recall, "load_rows", fail_links)
    with pytest.raises(ConnectionError):
        fan_out(pulled["id"], batch_size=5)
    db.session.rollback()
    assert count(WorkOrder, WorkOrder.source == "recall") == 0 and count(Task, Task.step == "contact") == 0
    monkeypatch.setattr(recall, "load_rows", real)
    fan_out(pulled["id"], batch_size=5)
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED)


def test_a_failing_fan_out_in_the_worker_is_retried_on_the_next_pass(catalogue, monkeypatch):
    pulled = catalogue.pull(**PULL_BA1)
    config = catalogue.client.application.config

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(bulk, "create_work_orders", broken)
    summary = run_all_once(now=utcnow(), config=config)
    assert summary["recall_fanouts_failed"] == 1 and summary["recall_work_orders_created"] == 0
    monkeypatch.undo()
    summary = run_all_once(now=utcnow(), config=config)
    assert summary["recall_work_orders_created"] == 11 and summary["sales_events_delivered"] == 0
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED)


def test_deliveries_posted_late_join_the_recall(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"])
    posted = catalogue.orders(order(30, line(shipped=T0 + timedelta(days=7))), order(11, line(shipped=T0 + timedelta(days=6)))).json
    assert posted["recalls_requeued"] == [pulled["id"]]
    assert fan_out(pulled["id"])["created"] == 2
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED + ["SO-00011", "SO-00030"])
    assert catalogue.andon(pulled["id"])["progress"]["affected"] == 13


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_runners_at_once_never_duplicate(catalogue, app):
    pulled = catalogue.pull(**PULL_BA1)
    db.session.remove()
    errors, results = [], []
    barrier = threading.Barrier(3)

    def runner():
        with app.app_context():
            try:
                barrier.wait()
                for _ in range(5):
                    results.append(fan_out(pulled["id"], batch_size=2)["created"])
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(results) == 11
    assert_one_recall_per_order(pulled["id"], BA1_DELIVERED)


# ---------------------------------------------------------------- bulk rows == engine rows


def _rows(work_order_id: int) -> dict:
    """Everything the engine writes for a new work order, without ids, numbers and row order artefacts."""
    wo = db.session.get(WorkOrder, work_order_id)
    skip = {"id", "number"}
    tasks = db.session.scalars(select(Task).where(Task.work_order_id == work_order_id).order_by(Task.id)).all()
    task_index = {t.id: i for i, t in enumerate(tasks)}
    steps = db.session.scalars(select(WorkOrderStep).where(WorkOrderStep.work_order_id == work_order_id).order_by(WorkOrderStep.id)).all()
    step_keys = {s.id: s.key for s in steps}
    return {
        "work_order": {c.key: getattr(wo, c.key) for c in WorkOrder.__table__.columns if c.key not in skip},
        "steps": [(s.key, s.status, s.activation, s.activated_at, s.completed_at, s.last_handler_id, s.route) for s in steps],
        "tasks": [{**{c.key: getattr(t, c.key) for c in Task.__table__.columns if c.key not in {"id", "work_order_id", "step_id"}},
                   "step_key": step_keys[t.step_id]} for t in tasks],
        "candidates": sorted((task_index[c.task_id], c.user_id, c.is_open, c.added_at) for c in db.session.scalars(
            select(TaskCandidate).where(TaskCandidate.task_id.in_(task_index)))),
        "timers": sorted((task_index[t.task_id], t.kind, t.level, t.fire_at, t.status) for t in db.session.scalars(
            select(Timer).where(Timer.task_id.in_(task_index)))),
        "timeline": [(e.kind, task_index.get(e.task_id), e.actor_id, e.at, e.details) for e in db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.work_order_id == work_order_id).order_by(TimelineEvent.id))],
        "departments": sorted(db.session.scalars(select(WorkOrderDepartment.department_id).where(
            WorkOrderDepartment.work_order_id == work_order_id))),
    }


def test_a_bulk_recall_work_order_is_row_for_row_what_the_engine_writes(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    now = utcnow().replace(microsecond=0)
    fan_out(pulled["id"], now=now)
    bulk_wo = db.session.scalar(select(WorkOrder).where(WorkOrder.source == "recall", WorkOrder.order_no == "SO-00007"))
    puller = db.session.get(User, bulk_wo.created_by_id)
    engine_wo = create_work_order(body={
        "template": "recall", "title": bulk_wo.title, "source": "recall", "product_sku": bulk_wo.product_sku,
        "order_no": bulk_wo.order_no, "customer_ref": bulk_wo.customer_ref, "batch_no": bulk_wo.batch_no, "data": bulk_wo.data,
    }, created_by=puller, department_id=bulk_wo.department_id, now=now, tz=TZ)
    bulk_rows, engine_rows = _rows(bulk_wo.id), _rows(engine_wo.id)
    assert bulk_rows == engine_rows
    assert [step[:3] for step in bulk_rows["steps"]] == [("contact", "active", 1), ("follow_up", "pending", 0), ("pickup", "pending", 0),
                                                         ("receive", "pending", 0), ("restock", "pending", 0), ("dispose", "pending", 0)]
    assert [t["step"] for t in bulk_rows["tasks"]] == ["contact"] and len(bulk_rows["candidates"]) == 3
    assert len(bulk_rows["timers"]) == 2 and [e[0] for e in bulk_rows["timeline"]] == ["created", "activated"]


def test_a_bulk_recall_work_order_then_runs_on_the_engine(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    fan_out(pulled["id"])
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.source == "recall", WorkOrder.order_no == "SO-00007"))
    # Quality follows the recall work orders it spawned; CS sees the contact task in its pool.
    assert q.detail(wo.id, login="quality.qa")["status"] == "open"
    (contact,) = q.open_tasks(wo.id, "contact")
    # Eleven recall contacts: one group in the pool, opened as a list.
    assert contact["id"] in [t["id"] for t in q.inbox("cs.agent2", group="recall:contact", per_page=200)["pool"]]
    assert q.act(contact["id"], "claim", "cs.agent1").status_code == 200
    assert q.act(contact["id"], "claim", "cs.agent2").status_code == 409
    q.finish(wo.id, "contact", "cs.agent1", outcome="agreed")
    (pickup,) = q.open_tasks(wo.id, "pickup")
    assert pickup["candidates"] == [q.demo.uid("driver.chen")], "the line's driver picks up"
    assert q.act(pickup["id"], "complete", "driver.li").status_code in (403, 404)
    q.finish(wo.id, "pickup", "driver.chen", outcome="picked_up")
    (receive,) = q.open_tasks(wo.id, "receive")
    assert "WH-BJ-01" in receive["instance_label"]
    assert q.demo.uid("staff.wh2") in receive["candidates"] and q.demo.uid("staff.wh1") not in receive["candidates"]
    progress = q.andon(pulled["id"])["progress"]
    assert (progress["contacted"], progress["picked_up"], progress["received"], progress["closed"]) == (1, 1, 0, 0)
    q.finish(wo.id, "receive", "staff.wh2", outcome="failed", data={"findings": "lid swollen"})
    # Goods that failed inspection are not put back on sale: quality disposes of them (the default branch).
    states = {s["key"]: s["status"] for s in q.detail(wo.id)["steps"]}
    assert (states["follow_up"], states["restock"], states["dispose"]) == ("skipped", "skipped", "active")
    q.finish(wo.id, "dispose", "quality.qa")
    assert q.detail(wo.id)["status"] == "resolved"
    assert q.andon(pulled["id"])["progress"] == {"affected": 11, "created": 11, "contacted": 1, "picked_up": 1, "received": 1, "closed": 1}
    kinds = [e["kind"] for e in q.detail(wo.id)["timeline"]]
    assert kinds[:2] == ["created", "activated"] and kinds[-1] == "resolved"


def test_a_customer_who_refuses_closes_the_recall_without_sending_a_driver(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    fan_out(pulled["id"])
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.source == "recall", WorkOrder.order_no == "SO-00007"))
    q.finish(wo.id, "contact", "cs.agent1", outcome="refused", data={"reason": "already used it"})
    detail = q.detail(wo.id)
    assert detail["status"] == "resolved" and not [t for t in detail["tasks"] if t["step"] == "pickup"]
    assert {s["key"]: s["status"] for s in detail["steps"]} == {
        "contact": "completed", "follow_up": "skipped", "pickup": "skipped", "receive": "skipped", "restock": "skipped",
        "dispose": "skipped"}
    assert q.andon(pulled["id"])["progress"]["closed"] == 1


def test_an_unreachable_customer_goes_to_a_lead_and_then_back_to_the_driver(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    fan_out(pulled["id"])
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.source == "recall", WorkOrder.order_no == "SO-00007"))
    q.finish(wo.id, "contact", "cs.agent1", outcome="unreachable")
    (follow_up,) = q.open_tasks(wo.id, "follow_up")
    assert q.demo.uid("lead.cs") in follow_up["candidates"]
    q.finish(wo.id, "follow_up", "lead.cs", outcome="agreed")
    (pickup,) = q.open_tasks(wo.id, "pickup")
    assert pickup["candidates"] == [q.demo.uid("driver.chen")]


def test_the_recall_detail_pages_its_work_orders(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"], batch_size=4)
    first = catalogue.get(f"/andon/{pulled['id']}?recalls_per_page=5")
    second = catalogue.get(f"/andon/{pulled['id']}?recalls_per_page=5&recalls_page=3")
    assert first["recall_work_orders_total"] == 11 and len(first["recall_work_orders"]) == 5 and len(second["recall_work_orders"]) == 1
    item = first["recall_work_orders"][0]
    assert set(item) == {"id", "number", "order_no", "status"} and item["number"].startswith("WO-") and item["status"] == "open"
    numbers = [w["number"] for p in (1, 2, 3) for w in catalogue.get(f"/andon/{pulled['id']}?recalls_per_page=5&recalls_page={p}")["recall_work_orders"]]
    assert len(set(numbers)) == 11


def test_bulk_work_orders_of_any_shape_match_the_engine(q, demo):
    """Roots handled per work order (each, for_each with own assignees, from_data) and set-based (pool) alike."""
    sh, bj, cs = demo.dept("WH-SH-01"), demo.dept("WH-BJ-01"), demo.dept("CS")
    q.template({"key": "shapes", "name": "Every root shape", "priority": "P2", "owner_department_id": demo.dept("QA"), "steps": [
        {"key": "everyone", "title": "Each of them", "mode": "each", "assignees": {"departments": [sh]}, "sla": "PT2H",
         "remind_before": "PT30M"},
        {"key": "places", "title": "Per place", "mode": "pool", "for_each": "places", "sla": "PT1H"},
        {"key": "named", "title": "Named in the data", "mode": "joint", "assignees": {"from_data": "people"}},
        {"key": "desk", "title": "CS desk", "mode": "pool", "assignees": {"departments": [cs]}, "sla": "P1D"},
        {"key": "close", "title": "Close", "after": ["everyone", "places", "named", "desk"], "assignees": {"departments": [cs]}},
    ]})
    from app.flows.service import get_template

    template = get_template(key="shapes")
    creator = demo.user("lead.cs")
    now = utcnow().replace(microsecond=0)
    bodies = [
        {"title": "one", "order_no": "SO-A", "data": {"places": [{"code": "WH-BJ-01", "assignees": {"departments": [bj]}},
                                                                 {"code": "WH-SH-01", "assignees": {"departments": [sh]}}],
                                                      "people": [demo.uid("driver.li"), demo.uid("driver.wang")]}},
        {"title": "two", "order_no": "SO-B", "data": {"places": ["loose item"], "people": demo.uid("driver.chen")}},
    ]
    opened = bulk.create_work_orders(template=template, items=bodies, now=now, tz=TZ, created_by_id=creator.id,
                                     department_id=creator.department_id, source="app")
    db.session.commit()
    for (bulk_id, _), body in zip(opened, bodies):
        engine_wo = create_work_order(body={"template": "shapes", "source": "app", **body}, created_by=creator,
                                      department_id=creator.department_id, now=now, tz=TZ)
        bulk_rows, engine_rows = _rows(bulk_id), _rows(engine_wo.id)
        assert bulk_rows == engine_rows
    first = _rows(opened[0][0])
    assert [t["step"] for t in first["tasks"]] == ["everyone"] * 3 + ["places"] * 2 + ["named", "desk"]
    assert len(first["timers"]) == 3 * 4 + 2 * 3 + 3


def test_bulk_work_orders_take_the_engines_route_through_branches(q, demo):
    """The router decides the first steps from the data for both writers: starts, skips, defaults and propagation."""
    cs, qa = demo.dept("CS"), demo.dept("QA")
    form = [{"name": "value", "type": "number"}, {"name": "channel", "type": "select", "options": ["phone", "app", "shop"]}]
    q.template({"key": "routed", "name": "Routed", "owner_department_id": qa, "form": form, "steps": [
        {"key": "big", "title": "Big order", "assignees": {"departments": [qa]}, "sla": "PT1H",
         "when": {"field": "value", "op": "gte", "value": 1000}},
        {"key": "phone", "title": "Call back", "assignees": {"departments": [cs]},
         "when": {"any": [{"field": "channel", "op": "eq", "value": "phone"}, {"field": "channel", "op": "empty"}]}},
        {"key": "other", "title": "Other channels", "assignees": {"departments": [cs]}, "default": True},
        {"key": "approve", "title": "Approve", "after": ["big"], "assignees": {"departments": [qa]}},
        {"key": "close", "title": "Close", "after": ["approve", "phone", "other"], "assignees": {"departments": [cs]}},
    ]})
    from app.flows.service import get_template

    template = get_template(key="routed")
    creator = demo.user("lead.cs")
    now = utcnow().replace(microsecond=0)
    bodies = [{"title": "big by phone", "data": {"value": 5000, "channel": "phone"}},
              {"title": "small in the shop", "data": {"value": 20, "channel": "shop"}},
              {"title": "small, no channel", "data": {"value": 3}},
              {"title": "big in the app", "data": {"value": 1000, "channel": "app"}},
              {"title": "big by phone again", "data": {"value": 2000, "channel": "phone"}}]  # the first one's route
    opened = bulk.create_work_orders(template=template, items=bodies, now=now, tz=TZ, created_by_id=creator.id,
                                     department_id=creator.department_id, source="app")
    db.session.commit()
    statuses = []
    for (bulk_id, _), body in zip(opened, bodies):
        engine_wo = create_work_order(body={"template": "routed", "source": "app", **body}, created_by=creator,
                                      department_id=creator.department_id, now=now, tz=TZ)
        bulk_rows, engine_rows = _rows(bulk_id), _rows(engine_wo.id)
        assert bulk_rows == engine_rows
        statuses.append({key: status for key, status, *_ in bulk_rows["steps"]})
    assert [s["big"] for s in statuses] == ["active", "skipped", "skipped", "active", "active"]
    assert [s["approve"] for s in statuses] == ["pending", "skipped", "skipped", "pending", "pending"]  # a skip propagates
    # Roots are siblings of each other: the default starts only when no other root's condition holds.
    assert [(s["phone"], s["other"]) for s in statuses] == [("active", "skipped"), ("skipped", "active"),
                                                            ("active", "skipped"), ("skipped", "skipped"), ("active", "skipped")]
    assert [number for _, number in opened] == sorted(number for _, number in opened)  # in item order, whatever the route


def test_candidates_get_one_offer_per_batch_not_one_per_recall(catalogue):
    from app.notify.models import Notification

    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"], batch_size=4)
    batches = db.session.scalar(select(RecallJob.batches))
    for login in ("cs.agent1", "cs.agent2", "lead.cs"):
        offers = db.session.scalars(select(Notification).where(Notification.user_id == catalogue.demo.uid(login),
                                                               Notification.kind == "task.offered")).all()
        assert len(offers) == batches < 11
        assert sum(o.data["work_orders"] for o in offers) == 11


# ---------------------------------------------------------------- one recall per order and batch, across andons


def recall_work_orders_by_order():
    rows = db.session.execute(select(WorkOrder.order_no, WorkOrder.data).where(WorkOrder.source == "recall")
                              .order_by(WorkOrder.id)).all()
    found: dict[str, list] = {}
    for order_no, data in rows:
        found.setdefault(order_no, []).append(sorted(data["batch_nos"]))
    return found


def test_overlapping_recalls_recall_each_order_and_batch_once(catalogue):
    q = catalogue
    # A product recall narrowed to Beijing (orders 7-10, all BA-1), then a recall of the whole batch BA-1.
    narrow = q.pull(scope="product", sku="SKU-A", action="recall", reason="Beijing complaints", filters={"warehouse": "WH-BJ-01"})
    assert fan_out(narrow["id"])["created"] == 4
    batch = q.pull(**PULL_BA1)
    assert batch["affected_orders"] == 7, "orders 7-10 are recalled already"
    assert fan_out(batch["id"])["created"] == 7
    # The product recall widened to every warehouse: only BA-2 goods are left (orders 12, 13 and 15's second line).
    widened = q.pull(scope="product", sku="SKU-A", action="recall", reason="Everywhere", expect=200)
    assert widened["id"] == narrow["id"]
    assert fan_out(narrow["id"])["created"] == 3
    recalled = recall_work_orders_by_order()
    assert recalled == {**{f"SO-{n:05d}": [["BA-1"]] for n in range(1, 11)}, "SO-00012": [["BA-2"]], "SO-00013": [["BA-2"]],
                        "SO-00015": [["BA-1"], ["BA-2"]]}
    keys = db.session.execute(select(OrderRecall.order_id, OrderRecall.product_id, OrderRecall.batch_key)).all()
    assert len(keys) == len(set(keys)) == 14
    assert run_all_once(now=utcnow(), config=q.client.application.config)["recall_work_orders_created"] == 0


def test_an_order_recalled_by_a_resolved_andon_is_not_recalled_again(catalogue):
    first = catalogue.pull(scope="batch", batch_no="BA-2", action="recall", reason="first")
    assert fan_out(first["id"])["created"] == 3
    catalogue.post(f"/andon/{first['id']}/resolve", {"note": "done"})
    again = catalogue.pull(scope="batch", batch_no="BA-2", action="recall", reason="again")
    assert again["id"] != first["id"] and again["affected_orders"] == 0
    assert fan_out(again["id"])["created"] == 0
    assert count(WorkOrder, WorkOrder.source == "recall") == 3
    # A delivery posted late still joins the andon that is active now.
    catalogue.orders(order(31, line(batch_no="BA-2", shipped=T0 + timedelta(days=8))))
    assert fan_out(again["id"])["created"] == 1


def test_the_database_refuses_a_second_recall_of_the_same_goods(catalogue):
    from sqlalchemy.exc import IntegrityError

    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"])
    row = db.session.execute(select(OrderRecall.__table__)).mappings().first()
    with pytest.raises(IntegrityError):
        db.session.execute(OrderRecall.__table__.insert().values(**row))
    db.session.rollback()


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has one writer: two fan-outs never interleave there
def test_a_batch_that_loses_the_race_for_the_same_goods_is_planned_again_without_them(catalogue, monkeypatch):
    from app.quality import recall

    pulled = catalogue.pull(scope="product", sku="SKU-A", action="recall", reason="whole product")
    other = catalogue.pull(scope="batch", batch_no="BB-1", action="pause", reason="another andon")
    containment = db.session.get(Andon, other["id"]).containment_work_order_id
    real = recall._record_recalled_goods
    raced = []

    def another_fan_out_commits_first(andon, goods, opened, now):
        if not raced:
            # Between this batch's plan and its write, another andon's fan-out commits a recall of its first order's goods.
            first = min(goods)
            with db.engine.begin() as connection:
                connection.execute(OrderRecall.__table__.insert(), [
                    {"order_id": first, "product_id": andon.product_id, "batch_key": key, "andon_id": other["id"],
                     "work_order_id": containment, "created_at": now} for key in goods[first]])
                raced.append(connection.execute(select(Order.order_no).where(Order.id == first)).scalar())
        return real(andon, goods, opened, now)

    monkeypatch.setattr(recall, "_record_recalled_goods", another_fan_out_commits_first)
    result = fan_out(pulled["id"], batch_size=50)
    assert raced and result["created"] == 12, "the order taken by the other andon had nothing left to recall"
    assert count(WorkOrder, WorkOrder.source == "recall") == 12, "the losing batch left nothing behind"
    assert raced[0] not in recall_work_orders_by_order()
    keys = db.session.execute(select(OrderRecall.order_id, OrderRecall.product_id, OrderRecall.batch_key)).all()
    assert len(keys) == len(set(keys))


# ---------------------------------------------------------------- statistics after a fan-out


def _analyze_count(table: str) -> int:
    from sqlalchemy import text

    db.session.rollback()
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    return db.session.scalar(text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t"), {"t": table})


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_large_fan_out_analyzes_the_tables_it_filled(catalogue, monkeypatch):
    from app.quality import recall

    small = catalogue.pull(scope="batch", batch_no="BA-2", action="recall", reason="small")
    before = _analyze_count("tasks")
    fan_out(small["id"])
    assert _analyze_count("tasks") == before, "a small fan-out leaves it to autovacuum"

    monkeypatch.setattr(recall, "ANALYZE_MIN_WORK_ORDERS", 5)
    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"], batch_size=4)
    counts = {t: _analyze_count(t) for t in ("tasks", "task_candidates", "work_orders", "timers", "order_recalls")}
    assert counts["tasks"] == before + 1, "once, when the job finished, not per batch"
    assert all(n >= 1 for n in counts.values()), counts
    # A job re-opened by one late delivery finishes again without another ANALYZE.
    catalogue.orders(order(32, line(shipped=T0 + timedelta(days=8))))
    assert fan_out(pulled["id"])["created"] == 1
    assert _analyze_count("tasks") == before + 1


def test_analyze_is_skipped_on_sqlite_and_never_fails_a_fan_out(catalogue, monkeypatch):
    from app.quality import recall

    monkeypatch.setattr(recall, "ANALYZE_MIN_WORK_ORDERS", 1)
    pulled = catalogue.pull(**PULL_BA1)
    assert fan_out(pulled["id"])["created"] == 11
    assert recall.analyze_fanout_tables() is (db.engine.dialect.name == "postgresql")
