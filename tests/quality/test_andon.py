"""Pulling the andon: who may, each effect in its order, narrowing, overlapping andons, resolving."""
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.common.clock import utcnow
from app.extensions import db
from app.notify.models import Notification
from app.quality.holds import deliver_sales_events
from app.quality.models import Andon, AndonEvent, RecallJob, SaleHold, SalesEvent
from app.quality.recall import run_pending_recalls, run_recall_fanout
from app.workorders.models import WorkOrder
from tests.conftest import assert_error
from tests.quality.conftest import T0, TZ, count, iso

PULL_BA1 = {"scope": "batch", "batch_no": "BA-1", "action": "recall", "reason": "Swollen lids reported by customers"}


def fan_out(andon_id, batch_size=2_000):
    return run_recall_fanout(andon_id=andon_id, now=utcnow(), tz=TZ, batch_size=batch_size)


def recall_orders(q, andon_id):
    detail = q.get(f"/andon/{andon_id}?recalls_per_page=500")
    return sorted(w["order_no"] for w in detail["recall_work_orders"])


@pytest.mark.parametrize("login,status", [
    ("quality.qa", 201), ("mgr.qa", 201), ("cs.agent1", 201), ("admin", 201),
    ("lead.cs", 403), ("cs.agent2", 403), ("staff.wh1", 403), ("driver.li", 403), ("mgr.wh1", 403),
])
def test_only_people_with_andon_pull_may_pull(catalogue, login, status):
    response = catalogue.client.post("/api/v1/andon", json=PULL_BA1, headers=catalogue.h(login))
    assert response.status_code == status, response.json
    if status == 403:
        assert_error(response, 403)
        assert count(Andon) == 0 and count(SaleHold) == 0 and count(SalesEvent) == 0
        assert catalogue.get("/batches/BA-1/trace")["status"] == "ok"


def test_an_api_key_never_pulls(catalogue):
    keyed = catalogue.api_key("catalog:write", "orders:write", "inventory:write")
    assert_error(catalogue.client.post("/api/v1/andon", json=PULL_BA1, headers=keyed), 403)
    assert_error(catalogue.client.post("/api/v1/andon", json=PULL_BA1), 401)


def test_each_effect_happens_in_order_and_is_on_the_andon_timeline(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    assert pulled["status"] == "active" and pulled["affected_orders"] == 11
    assert pulled["recall"]["status"] == "pending" and pulled["recall_work_orders"] == []
    kinds = [e["kind"] for e in pulled["timeline"]]
    assert kinds == ["pulled", "sales_stopped", "containment_opened", "recall_queued", "notified"]

    # (1) Sales stop at once: the batch is recalled (held), an outbound batch.held event waits in the outbox.
    assert q.get("/batches/BA-1/trace")["status"] == "recalled"
    assert q.product("SKU-A")["sale_status"] == "on_sale", "a batch andon holds the batch, not the whole product"
    (event,) = db.session.scalars(select(SalesEvent)).all()
    assert event.kind == "batch.held" and event.status == "pending"
    assert event.payload["batch_no"] == "BA-1" and event.payload["andon_id"] == pulled["id"]
    # Events name their actor, not only its id (the app showed "用户 18").
    acted = [e for e in pulled["timeline"] if e["actor_id"]]
    assert acted and all(e["actor"]["id"] == e["actor_id"] and e["actor"]["name"] for e in acted)
    stopped = pulled["timeline"][1]["details"]
    assert stopped["sales_event_id"] == event.id and stopped["batch_status"] == "recalled"

    # (2) Containment through the engine: one quarantine task per warehouse that holds the batch now (BJ is empty).
    containment = q.detail(pulled["containment_work_order_id"])
    assert containment["template"] == "quarantine" and containment["source"] == "andon" and containment["batch_no"] == "BA-1"
    tasks = [t for t in containment["tasks"] if t["step"] == "quarantine"]
    assert [t["instance_label"] for t in tasks] == ["上海一号仓 Shanghai WH 1 (WH-SH-01)"]
    assert set(tasks[0]["candidates"]) == {q.demo.uid(u) for u in ("mgr.wh1", "staff.wh1", "staff.wh1b")}
    assert pulled["timeline"][2]["details"]["work_order_id"] == containment["id"]

    # (3) The recall is queued, not done in the request; the job does it after.
    assert count(WorkOrder, WorkOrder.source == "recall") == 0
    fan_out(pulled["id"])
    detail = q.andon(pulled["id"])
    kinds = [e["kind"] for e in detail["timeline"]]
    # One recall_batch per committed batch (per lane on PostgreSQL, where lanes run in parallel), then the end.
    assert kinds[:5] == ["pulled", "sales_stopped", "containment_opened", "recall_queued", "notified"]
    assert set(kinds[5:-1]) == {"recall_batch"} and kinds[-1] == "recall_completed"
    assert sum(e["details"]["work_orders"] for e in detail["timeline"] if e["kind"] == "recall_batch") == 11
    assert [e["id"] for e in detail["timeline"]] == sorted(e["id"] for e in detail["timeline"])
    assert detail["recall_work_orders_total"] == 11 and detail["progress"]["created"] == 11
    assert recall_orders(q, pulled["id"]) == sorted(f"SO-{n:05d}" for n in (*range(1, 11), 15))


def test_the_quarantine_task_is_claimable_by_that_warehouse_only(catalogue):
    q = catalogue
    q.events({"sku": "SKU-A", "batch_no": "BA-2", "warehouse": "WH-BJ-01", "on_hand": 25, "available": 25, "at": iso(T0)})
    pulled = q.pull(scope="product", sku="SKU-A", action="pause", reason="Supplier alert")
    tasks = {t["instance_label"].split("(")[-1].rstrip(")"): t for t in q.open_tasks(pulled["containment_work_order_id"], "quarantine")}
    assert set(tasks) == {"WH-SH-01", "WH-BJ-01"}
    assert tasks["WH-BJ-01"]["id"] in [t["id"] for t in q.inbox("staff.wh2")["pool"]]
    assert tasks["WH-SH-01"]["id"] not in [t["id"] for t in q.inbox("staff.wh2")["pool"]]
    assert q.act(tasks["WH-SH-01"]["id"], "claim", "staff.wh2").status_code in (403, 404)
    assert q.act(tasks["WH-SH-01"]["id"], "claim", "staff.wh1").status_code == 200
    assert q.product("SKU-A")["sale_status"] == "paused"


def test_sales_events_are_delivered_once_as_structured_logs(catalogue, caplog):
    pulled = catalogue.pull(scope="product", sku="SKU-A", action="pause", reason="Label misprint")
    with caplog.at_level(logging.INFO, logger="baton.sales_events"):
        assert deliver_sales_events(now=utcnow()) == 1
        assert deliver_sales_events(now=utcnow()) == 0
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "baton.sales_events"]
    assert len(lines) == 1
    entry = lines[0]["sales_event"]
    assert entry["detail_type"] == "product.paused" and entry["source"] == "baton.quality"
    assert entry["detail"]["sku"] == "SKU-A" and entry["detail"]["andon_id"] == pulled["id"]
    assert db.session.scalar(select(SalesEvent.status)) == "delivered"


def test_a_failing_sales_channel_keeps_events_pending(catalogue):
    catalogue.pull(scope="product", sku="SKU-A", action="pause", reason="Label misprint")

    def down(entries):
        raise ConnectionError("EventBridge unreachable")

    assert deliver_sales_events(now=utcnow(), publish=down) == 0
    event = db.session.scalar(select(SalesEvent))
    assert event.status == "pending" and event.attempts == 1
    sent = []
    assert deliver_sales_events(now=utcnow(), publish=sent.extend) == 1
    assert sent[0]["detail_type"] == "product.paused"


def test_the_quality_team_and_the_owner_lead_are_notified(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    notified = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "andon.pulled")))
    # Quality (mgr.qa, quality.qa) and the head of MER, the product's owner department.
    assert notified == {catalogue.demo.uid(u) for u in ("mgr.qa", "quality.qa", "merchant.hu")}
    assert pulled["timeline"][-1]["details"]["users"] == sorted(notified)


@pytest.mark.parametrize("filters,expected", [
    ({"warehouse": "WH-BJ-01"}, (7, 8, 9, 10)),
    ({"driver": "driver.wang"}, (4, 5, 6)),
    ({"shipped_from": iso(T0), "shipped_to": iso(T0 + timedelta(days=2))}, (1, 2, 3, 15)),
    ({"driver": "driver.li", "shipped_from": iso(T0 + timedelta(days=2))}, ()),
    ({"warehouse": "WH-SH-01", "shipped_to": iso(T0 + timedelta(days=4))}, (1, 2, 3, 4, 5, 6, 15)),
])
def test_filters_narrow_the_recall(catalogue, filters, expected):
    pulled = catalogue.pull(**PULL_BA1, filters=filters)
    assert pulled["affected_orders"] == len(expected)
    fan_out(pulled["id"])
    assert recall_orders(catalogue, pulled["id"]) == [f"SO-{n:05d}" for n in expected]
    assert pulled["filters"] == filters
    # Narrowing the recall never narrows the sales stop.
    assert catalogue.get("/batches/BA-1/trace")["status"] == "recalled"


def test_a_product_recall_covers_every_batch_of_it(catalogue):
    pulled = catalogue.pull(scope="product", sku="SKU-A", action="recall", reason="Allergen missing on label")
    assert pulled["affected_orders"] == 13
    fan_out(pulled["id"], batch_size=5)
    assert recall_orders(catalogue, pulled["id"]) == [f"SO-{n:05d}" for n in (*range(1, 11), 12, 13, 15)]
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.order_no == "SO-00015", WorkOrder.source == "recall"))
    assert sorted(wo.data["batch_nos"]) == ["BA-1", "BA-2"] and wo.data["qty"] == 3


@pytest.mark.parametrize("body,where", [
    ({"scope": "batch", "action": "recall", "reason": "x"}, "batch_no"),
    ({"scope": "product", "action": "recall", "reason": "x"}, "sku"),
    ({"scope": "batch", "batch_no": "NOPE", "action": "recall", "reason": "x"}, "batch_no"),
    ({"scope": "batch", "batch_no": "BA-1", "action": "destroy", "reason": "x"}, "action"),
    ({"scope": "batch", "batch_no": "BA-1", "action": "pause", "reason": ""}, "reason"),
    ({"scope": "batch", "batch_no": "BA-1", "sku": "SKU-B", "action": "pause", "reason": "x"}, "sku"),
    ({**PULL_BA1, "filters": {"warehouse": "WH-NOPE"}}, "filters.warehouse"),
    ({**PULL_BA1, "filters": {"driver": "nobody"}}, "filters.driver"),
    ({**PULL_BA1, "filters": {"shipped_from": iso(T0), "shipped_to": iso(T0 - timedelta(days=1))}}, "filters.shipped_to"),
    ({**PULL_BA1, "filters": {"colour": "red"}}, "filters.colour"),
])
def test_bad_pulls_are_rejected_and_change_nothing(catalogue, body, where):
    error = assert_error(catalogue.client.post("/api/v1/andon", json=body, headers=catalogue.h("quality.qa")), 422)
    assert where in error["details"], error["details"]
    assert count(Andon) == 0 and count(SaleHold) == 0 and count(WorkOrder) == 0


def test_overlapping_andons_combine_and_resolve_one_by_one(catalogue):
    q = catalogue
    product_pause = q.pull(scope="product", sku="SKU-A", action="pause", reason="Supplier audit")
    # A pause recalls nothing, so a batch recall under it is an andon of its own.
    batch_recall = q.pull(**PULL_BA1)
    view = q.product("SKU-A")
    assert view["sale_status"] == "paused" and view["reasons"] == [f"andon:{product_pause['id']}"]
    assert {h["batch_no"] for h in view["holds"] if h["batch_no"]} == {"BA-1"}

    q.post(f"/andon/{product_pause['id']}/resolve", {"note": "Audit passed"}, login="quality.qa")
    view = q.product("SKU-A")
    assert view["sale_status"] == "on_sale" and view["reasons"] == []
    assert q.get("/batches/BA-1/trace")["status"] == "recalled", "the batch recall still holds its batch"

    second_product = q.pull(scope="product", sku="SKU-A", action="pause", reason="Second report", login="cs.agent1")
    assert q.product("SKU-A")["reasons"] == [f"andon:{second_product['id']}"]
    q.post(f"/andon/{second_product['id']}/resolve", {"note": "False alarm"}, login="cs.agent1")
    assert q.product("SKU-A")["sale_status"] == "on_sale"

    resolved = q.post(f"/andon/{batch_recall['id']}/resolve", {"note": "Recall complete"}).json
    assert resolved["status"] == "resolved" and resolved["resolution_note"] == "Recall complete"
    assert q.get("/batches/BA-1/trace")["status"] == "ok"
    kinds = [e.kind for e in db.session.scalars(select(SalesEvent).order_by(SalesEvent.id))]
    # Each pull announces its stop; sales resume only when nothing holds them.
    assert kinds == ["product.paused", "batch.held", "product.resumed", "product.paused", "product.resumed", "batch.released"]
    assert resolved["timeline"][-1]["kind"] == "resolved"


def _nothing_more_written(before):
    assert (count(Andon), count(SaleHold), count(SalesEvent), count(WorkOrder), count(RecallJob), count(AndonEvent)) == before


def _written():
    return count(Andon), count(SaleHold), count(SalesEvent), count(WorkOrder), count(RecallJob), count(AndonEvent)


@pytest.mark.parametrize("first,second", [("pause", "pause"), ("recall", "pause"), ("recall", "recall")])
def test_a_second_pull_on_a_covered_target_is_refused_and_names_the_active_andon(catalogue, first, second):
    pulled = catalogue.pull(**{**PULL_BA1, "action": first})
    before = _written()
    for login in ("quality.qa", "cs.agent1"):
        response = catalogue.client.post("/api/v1/andon", json={**PULL_BA1, "action": second, "reason": "again"},
                                         headers=catalogue.h(login))
        error = assert_error(response, 409, "andon_active")
        assert error["details"] == {"andon_id": pulled["id"]}
    _nothing_more_written(before)
    assert count(Andon, Andon.status == "active") == 1


def test_a_product_wide_andon_covers_its_batches(catalogue):
    product = catalogue.pull(scope="product", sku="SKU-A", action="recall", reason="Allergen")
    before = _written()
    for body in ({**PULL_BA1, "action": "pause"}, PULL_BA1, {**PULL_BA1, "filters": {"warehouse": "WH-BJ-01"}},
                 {"scope": "product", "sku": "SKU-A", "action": "pause", "reason": "again"}):
        error = assert_error(catalogue.post("/andon", body, login="cs.agent1", expect=None), 409, "andon_active")
        assert error["details"]["andon_id"] == product["id"]
    _nothing_more_written(before)
    # Another product is another target.
    assert catalogue.pull(scope="batch", batch_no="BB-1", action="pause", reason="other")["status"] == "active"


def test_a_recall_on_a_paused_target_upgrades_its_andon(catalogue):
    q = catalogue
    paused = q.pull(**{**PULL_BA1, "action": "pause", "reason": "Lids look odd"}, login="cs.agent1")
    assert q.get("/batches/BA-1/trace")["status"] == "held"
    upgraded = q.pull(**PULL_BA1, expect=200)
    assert upgraded["id"] == paused["id"] and upgraded["action"] == "recall" and upgraded["reason"] == PULL_BA1["reason"]
    assert upgraded["recall"]["status"] == "pending" and upgraded["affected_orders"] == 11
    assert upgraded["batch_status"] == "recalled" and q.get("/batches/BA-1/trace")["status"] == "recalled"
    kinds = [e["kind"] for e in upgraded["timeline"]]
    assert kinds == ["pulled", "sales_stopped", "containment_opened", "notified", "upgraded", "recall_queued", "notified"]
    change = upgraded["timeline"][4]["details"]
    assert change["from"] == {"action": "pause", "reason": "Lids look odd", "filters": {}} and change["batch_status"] == "recalled"
    assert (count(Andon), count(RecallJob), count(WorkOrder, WorkOrder.source == "andon"), count(SaleHold)) == (1, 1, 1, 1)
    assert [e.payload["action"] for e in db.session.scalars(select(SalesEvent).order_by(SalesEvent.id))] == ["pause", "recall"]
    # Now it recalls: any further pull on the batch is covered.
    assert_error(q.post("/andon", PULL_BA1, login="cs.agent1", expect=None), 409, "andon_active")
    fan_out(upgraded["id"])
    assert recall_orders(q, upgraded["id"]) == sorted(f"SO-{n:05d}" for n in (*range(1, 11), 15))
    assert count(RecallJob) == 1 and count(WorkOrder, WorkOrder.source == "recall") == 11


def test_a_wider_recall_widens_the_active_recall_and_an_incomparable_one_is_refused(catalogue):
    q = catalogue
    narrow = q.pull(**PULL_BA1, filters={"warehouse": "WH-BJ-01"})
    fan_out(narrow["id"])
    assert recall_orders(q, narrow["id"]) == [f"SO-{n:05d}" for n in (7, 8, 9, 10)]
    other = assert_error(q.post("/andon", {**PULL_BA1, "filters": {"driver": "driver.wang"}}, expect=None), 409, "andon_active")
    assert other["details"] == {"andon_id": narrow["id"]}
    widened = q.pull(**PULL_BA1, expect=200)
    assert widened["id"] == narrow["id"] and widened["filters"] == {} and widened["recall"]["status"] == "pending"
    assert fan_out(widened["id"])["created"] == 7
    assert recall_orders(q, widened["id"]) == sorted(f"SO-{n:05d}" for n in (*range(1, 11), 15))
    assert count(Andon) == 1 and count(RecallJob) == 1


def test_the_database_allows_one_active_andon_per_target(catalogue):
    from sqlalchemy.exc import IntegrityError

    pulled = catalogue.pull(**{**PULL_BA1, "action": "pause"})
    product_id, batch_id = db.session.get(Andon, pulled["id"]).product_id, db.session.get(Andon, pulled["id"]).batch_id
    fields = dict(action="pause", reason="x", filters={}, created_at=utcnow(), affected_orders=0)
    for target in ({"scope": "batch", "batch_id": batch_id}, None):
        if target is None:
            db.session.add(Andon(scope="product", product_id=product_id, status="active", **fields))
            db.session.commit()  # the first product-wide andon is fine...
            target = {"scope": "product", "batch_id": None}
        db.session.add(Andon(product_id=product_id, status="active", **target, **fields))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
    db.session.add(Andon(scope="batch", product_id=product_id, batch_id=batch_id, status="resolved", **fields))
    db.session.commit()  # resolved andons on the target are history, any number of them


@pytest.mark.parametrize("resolver,status", [
    ("cs.agent1", 200), ("quality.qa", 200), ("mgr.qa", 200), ("admin", 200),
    # Who may not read the andon learns nothing of it; who may read it but not resolve it is refused.
    ("lead.cs", 404), ("staff.wh1", 404), ("driver.li", 404),
])
def test_who_may_resolve(catalogue, resolver, status):
    pulled = catalogue.pull(**PULL_BA1, login="cs.agent1")
    response = catalogue.client.post(f"/api/v1/andon/{pulled['id']}/resolve", json={"note": "checked"}, headers=catalogue.h(resolver))
    assert response.status_code == status, response.json
    expected = "resolved" if status == 200 else "active"
    assert db.session.get(Andon, pulled["id"]).status == expected


def test_a_puller_without_the_quality_role_resolves_only_their_own(catalogue):
    theirs = catalogue.pull(**PULL_BA1, login="quality.qa")
    assert_error(catalogue.client.post(f"/api/v1/andon/{theirs['id']}/resolve", json={"note": "x"}, headers=catalogue.h("cs.agent1")),
                 403)


def test_resolving_twice_is_a_conflict_and_unknown_is_404(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    catalogue.post(f"/andon/{pulled['id']}/resolve", {"note": "done"})
    assert_error(catalogue.post(f"/andon/{pulled['id']}/resolve", {"note": "again"}, expect=None), 409, "andon_resolved")
    assert_error(catalogue.post("/andon/999999/resolve", {"note": "x"}, expect=None), 404)
    assert_error(catalogue.client.get("/api/v1/andon/999999", headers=catalogue.h("quality.qa")), 404)


def test_resolving_before_the_job_runs_stops_the_recall(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    catalogue.post(f"/andon/{pulled['id']}/resolve", {"note": "False alarm"})
    assert run_pending_recalls(now=utcnow(), tz=TZ)["created"] == 0
    assert count(WorkOrder, WorkOrder.source == "recall") == 0
    assert db.session.scalar(select(RecallJob.status)) == "cancelled"
    kinds = [e.kind for e in db.session.scalars(select(AndonEvent).order_by(AndonEvent.id))]
    assert kinds[-2:] == ["recall_stopped", "resolved"]


def test_andon_list_is_paginated_and_filtered(catalogue):
    ids = [catalogue.pull(scope="batch", batch_no=b, action="pause", reason=f"r{b}")["id"] for b in ("BA-1", "BA-2", "BB-1")]
    catalogue.post(f"/andon/{ids[0]}/resolve", {"note": "ok"})
    page = catalogue.get("/andon?per_page=2")
    assert page["total"] == 3 and page["page"] == 1 and page["per_page"] == 2
    assert [a["id"] for a in page["items"]] == [ids[2], ids[1]]
    assert [a["id"] for a in catalogue.get("/andon?per_page=2&page=2")["items"]] == [ids[0]]
    assert [a["id"] for a in catalogue.get("/andon?status=resolved")["items"]] == [ids[0]]
    assert [a["id"] for a in catalogue.get("/andon?sku=SKU-B")["items"]] == [ids[2]]
    item = catalogue.get("/andon?batch_no=BA-2")["items"][0]
    assert item["batch_no"] == "BA-2" and item["sku"] == "SKU-A" and item["created_by"]["login"] == "quality.qa"
    assert "timeline" not in item


def test_idempotency_key_replays_the_pull(catalogue):
    headers = {**catalogue.h("quality.qa"), "Idempotency-Key": "pull-1"}
    first = catalogue.client.post("/api/v1/andon", json=PULL_BA1, headers=headers)
    again = catalogue.client.post("/api/v1/andon", json=PULL_BA1, headers=headers)
    assert first.status_code == again.status_code == 201 and again.json["id"] == first.json["id"]
    assert count(Andon) == 1 and count(SalesEvent) == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_ten_concurrent_pulls_on_one_batch_make_one_andon_and_recall_each_order_once(catalogue, app):
    """Two people pull the andon on one batch ten times at once (pauses and recalls mixed)."""
    import threading

    headers = {login: catalogue.h(login) for login in ("quality.qa", "cs.agent1")}
    bodies = [({**PULL_BA1, "action": "pause" if k % 3 == 0 else "recall", "reason": f"report {k}"},
               headers["quality.qa" if k % 2 else "cs.agent1"]) for k in range(10)]
    db.session.remove()
    barrier = threading.Barrier(len(bodies))
    answers, errors = [None] * len(bodies), []

    def puller(k):
        with app.app_context():
            try:
                client = app.test_client()
                body, h = bodies[k]
                barrier.wait(timeout=60)
                response = client.post("/api/v1/andon", json=body, headers=h)
                answers[k] = (response.status_code, response.get_json())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=puller, args=(k,)) for k in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201, 409} and statuses.count(200) <= 1, statuses
    (andon_id,) = {body["id"] for status, body in answers if status in (200, 201)}
    assert {body["error"]["details"]["andon_id"] for status, body in answers if status == 409} <= {andon_id}

    assert count(Andon) == count(Andon, Andon.status == "active") == 1
    andon = db.session.get(Andon, andon_id)
    assert andon.action == "recall", "a recall was pulled: a pause that won the race was upgraded"
    assert count(WorkOrder, WorkOrder.source == "andon") == 1, "one containment work order"
    assert count(SaleHold) == 1 and count(RecallJob) == 1
    run_pending_recalls(now=utcnow(), tz=TZ)
    orders = db.session.scalars(select(WorkOrder.order_no).where(WorkOrder.source == "recall")).all()
    assert sorted(orders) == sorted(f"SO-{n:05d}" for n in (*range(1, 11), 15)), "one recall work order per affected order"


def test_which_filters_cover_which():
    from datetime import datetime, timezone

    from app.quality.andon import filters_cover

    day = lambda d: datetime(2026, 11, d, tzinfo=timezone.utc)  # noqa: E731
    assert filters_cover({}, {"warehouse_id": 1, "shipped_from": day(2)})
    assert filters_cover({"warehouse_id": 1}, {"warehouse_id": 1, "driver_id": 7})
    assert not filters_cover({"warehouse_id": 1}, {})
    assert not filters_cover({"warehouse_id": 1}, {"warehouse_id": 2})
    assert filters_cover({"shipped_from": day(1), "shipped_to": day(9)}, {"shipped_from": day(2), "shipped_to": day(3)})
    assert not filters_cover({"shipped_from": day(2)}, {"shipped_from": day(1)})
    assert not filters_cover({"shipped_to": day(2)}, {"shipped_from": day(1)}), "an open end reaches further"


def test_resolving_an_andon_cancels_the_work_nobody_started_and_keeps_the_rest(catalogue):
    """§15: an andon's end closes its work. The recall work orders nobody has started are cancelled with the reason,
    each on its own timeline; one a customer-service agent already took is kept for them to finish."""
    from app.workorders.models import Task, TaskCandidate, Timer, TimerStatus, TimelineEvent

    q = catalogue
    pulled = q.pull(**PULL_BA1)
    fan_out(pulled["id"])
    recalls = db.session.scalars(select(WorkOrder).where(WorkOrder.source == "recall").order_by(WorkOrder.id)).all()
    started = recalls[0]
    (contact,) = q.open_tasks(started.id, "contact")
    assert q.act(contact["id"], "claim", "cs.agent1").status_code == 200
    refused = q.client.post(f"/api/v1/andon/{pulled['id']}/resolve", json={"note": "lids fine", "open_work": "cancel_unstarted"},
                            headers=q.h("quality.qa"))
    assert refused.status_code == 422 and "reason" in refused.json["error"]["details"]
    r = q.client.post(f"/api/v1/andon/{pulled['id']}/resolve", headers=q.h("quality.qa"), json={
        "note": "Lids were fine; supplier confirmed.", "open_work": "cancel_unstarted", "reason": "False alarm: nothing to recall"})
    assert r.status_code == 200, r.json
    db.session.expire_all()
    containment = db.session.get(WorkOrder, r.json["containment_work_order_id"])
    assert r.json["open_work"] == {"cancelled": len(recalls), "kept": 1}  # all recalls but the started one, and the containment
    assert containment.status == "cancelled" and db.session.get(WorkOrder, started.id).status == "in_progress"
    cancelled = [w for w in recalls[1:]]
    assert {db.session.get(WorkOrder, w.id).status for w in cancelled} == {"cancelled"}
    live = db.session.scalars(select(Task.id).where(Task.work_order_id.in_([w.id for w in cancelled]), Task.status.in_(["open", "claimed"]))).all()
    assert live == []
    offers = db.session.scalars(select(TaskCandidate).join(Task, Task.id == TaskCandidate.task_id).where(
        Task.work_order_id.in_([w.id for w in cancelled]), TaskCandidate.is_open.is_(True))).all()
    assert offers == []  # off every inbox
    pending = db.session.scalars(select(Timer).join(Task, Task.id == Timer.task_id).where(
        Task.work_order_id.in_([w.id for w in cancelled]), Timer.status == TimerStatus.PENDING)).all()
    assert pending == []
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.work_order_id == cancelled[0].id, TimelineEvent.kind == "cancelled"))
    assert event.details == {"reason": "False alarm: nothing to recall", "andon_id": pulled["id"]} and event.actor_id == q.demo.uid("quality.qa")
    assert q.inbox("cs.agent2", group="recall:contact")["totals"]["pool"] == 0
    assert [t["id"] for t in q.inbox("cs.agent1")["mine"]] == [contact["id"]]  # the started one stays with its handler


def test_resolving_keeps_the_open_work_by_default(catalogue):
    q = catalogue
    pulled = q.pull(**PULL_BA1)
    fan_out(pulled["id"])
    r = q.client.post(f"/api/v1/andon/{pulled['id']}/resolve", json={"note": "done"}, headers=q.h("quality.qa"))
    assert r.status_code == 200 and r.json["open_work"] is None
    assert set(db.session.scalars(select(WorkOrder.status).where(WorkOrder.source == "recall"))) == {"open"}
