"""Automatic pull-down on stock shortage: pause with reason stock_shortage, one restock work order, resume with hysteresis."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.quality.models import SaleHold, SalesEvent
from app.workorders.models import WorkOrder
from tests.quality.conftest import T0

SKU = "SKU-S"


@pytest.fixture
def stocked(q):
    q.products({"sku": SKU, "name": "Sparkling water", "owner_department": "MER"})
    q.level(SKU, "WH-SH-01", 150, T0, threshold=100)
    assert q.product(SKU)["sale_status"] == "on_sale"
    return q


def restocks():
    return db.session.scalars(select(WorkOrder).where(WorkOrder.template_key == "restock").order_by(WorkOrder.id)).all()


def sales_events():
    return [e.kind for e in db.session.scalars(select(SalesEvent).order_by(SalesEvent.id))]


def test_unfulfillable_orders_pause_the_product_with_one_restock_work_order(stocked):
    q = stocked
    result = q.level(SKU, "WH-SH-01", 140, T0 + timedelta(minutes=1), unfulfillable=3)
    assert result["paused"] == [SKU]
    view = q.product(SKU)
    assert view["sale_status"] == "paused" and view["reasons"] == ["stock_shortage"]
    (restock,) = restocks()
    assert restock.source == "integration" and restock.product_sku == SKU
    assert view["holds"][0]["restock_work_order_id"] == restock.id
    # Every further event of the same episode changes nothing: still one work order.
    for minute in range(2, 6):
        assert q.level(SKU, "WH-SH-01", 140 - minute, T0 + timedelta(minutes=minute), unfulfillable=minute)["paused"] == []
    assert len(restocks()) == 1 and sales_events() == ["product.paused"]


def test_the_restock_work_order_is_a_pool_for_the_owner_department(stocked):
    q = stocked
    q.level(SKU, "WH-SH-01", 20, T0 + timedelta(minutes=1))
    (restock,) = restocks()
    (task,) = q.open_tasks(restock.id, "restock")
    assert task["mode"] == "pool"
    assert set(task["candidates"]) == {q.demo.uid("merchant.hu"), q.demo.uid("merchant.xu")}
    assert task["id"] in [t["id"] for t in q.inbox("merchant.xu")["pool"]]
    assert q.act(task["id"], "claim", "merchant.xu").status_code == 200


def test_a_noisy_level_around_the_threshold_does_not_flap(stocked):
    q = stocked
    # Threshold 100, margin 20 %: pause below 100, resume only above 120.
    levels = [150, 99, 105, 119, 101, 98, 110, 120, 121, 118, 101, 100, 99, 130]
    statuses = []
    for minute, available in enumerate(levels, start=1):
        q.level(SKU, "WH-SH-01", available, T0 + timedelta(minutes=minute))
        statuses.append(q.product(SKU)["sale_status"])
    assert statuses == ["on_sale", "paused", "paused", "paused", "paused", "paused", "paused", "paused",
                        "on_sale", "on_sale", "on_sale", "on_sale", "paused", "on_sale"]
    assert sales_events() == ["product.paused", "product.resumed", "product.paused", "product.resumed"]
    # The first restock work order is still open: the second episode reuses it instead of opening another.
    assert len(restocks()) == 1
    holds = db.session.scalars(select(SaleHold).order_by(SaleHold.id)).all()
    assert [h.active for h in holds] == [False, False] and holds[0].restock_work_order_id == holds[1].restock_work_order_id


def test_a_new_episode_after_the_restock_is_done_opens_a_new_work_order(stocked):
    q = stocked
    q.level(SKU, "WH-SH-01", 50, T0 + timedelta(minutes=1))
    (first,) = restocks()
    q.finish(first.id, "restock", "merchant.hu", outcome="restocked")
    q.level(SKU, "WH-SH-01", 500, T0 + timedelta(minutes=2))
    q.level(SKU, "WH-SH-01", 40, T0 + timedelta(minutes=3))
    assert [w.status for w in restocks()] == ["resolved", "open"]


def test_the_margin_is_configurable(stocked, app, monkeypatch):
    monkeypatch.setitem(app.config, "SHORTAGE_RESUME_MARGIN", 0.5)
    q = stocked
    q.level(SKU, "WH-SH-01", 90, T0 + timedelta(minutes=1))
    q.level(SKU, "WH-SH-01", 140, T0 + timedelta(minutes=2))
    assert q.product(SKU)["sale_status"] == "paused"
    q.level(SKU, "WH-SH-01", 151, T0 + timedelta(minutes=3))
    assert q.product(SKU)["sale_status"] == "on_sale"


def test_availability_is_summed_across_warehouses(stocked):
    q = stocked
    q.level(SKU, "WH-BJ-01", 80, T0, threshold=50)
    # 150 + 80 = 230 against 150: fine. Shanghai drops to 60: 140 < 150, paused although each warehouse alone looks fine.
    assert q.level(SKU, "WH-SH-01", 60, T0 + timedelta(minutes=1))["paused"] == [SKU]
    assert q.level(SKU, "WH-BJ-01", 131, T0 + timedelta(minutes=2))["resumed"] == [SKU], "191 > 150 × 1.2"


def test_a_late_event_does_not_pause_on_stale_stock(stocked):
    q = stocked
    q.level(SKU, "WH-SH-01", 200, T0 + timedelta(hours=1))
    result = q.level(SKU, "WH-SH-01", 10, T0 + timedelta(minutes=30))  # older than the level stored
    assert result["paused"] == [] and q.product(SKU)["sale_status"] == "on_sale"


def test_a_shortage_and_an_andon_both_hold_the_product(stocked):
    q = stocked
    q.level(SKU, "WH-SH-01", 10, T0 + timedelta(minutes=1))
    pulled = q.pull(scope="product", sku=SKU, action="pause", reason="Contaminated caps")
    assert q.product(SKU)["reasons"] == ["stock_shortage", f"andon:{pulled['id']}"]
    result = q.level(SKU, "WH-SH-01", 500, T0 + timedelta(minutes=2))
    assert result["resumed"] == [], "the andon still holds it"
    view = q.product(SKU)
    assert view["sale_status"] == "paused" and view["reasons"] == [f"andon:{pulled['id']}"]
    q.post(f"/andon/{pulled['id']}/resolve", {"note": "caps replaced"})
    assert q.product(SKU)["sale_status"] == "on_sale"
    assert sales_events() == ["product.paused", "product.paused", "product.resumed"]


def test_one_request_with_many_products_pauses_each_short_one_once(q):
    q.products(*[{"sku": f"SKU-{i}", "name": f"P{i}", "owner_department": "OPS"} for i in range(20)])
    events = []
    for i in range(20):
        for minute in range(5):
            events.append({"sku": f"SKU-{i}", "warehouse": "WH-BJ-01", "on_hand": 100, "available": 5 if i % 2 else 100,
                           "threshold": 10, "at": (T0 + timedelta(minutes=minute)).isoformat()})
    result = q.events(*events).json
    assert sorted(result["paused"]) == sorted(f"SKU-{i}" for i in range(1, 20, 2))
    assert len(restocks()) == 10


def test_the_restock_flow_branches_on_what_the_owner_did(q):
    """Restocked closes it; stock transferred from elsewhere is received and counted; a discontinued product goes to
    quality to confirm. The branches not taken are skipped."""
    from app.workorders.models import WorkOrderStep

    outcomes = {"restocked": None, "transferred": "receive_transfer", "discontinued": "confirm_discontinued"}
    for n, (outcome, expected) in enumerate(outcomes.items()):
        sku = f"SKU-B{n}"
        q.products({"sku": sku, "name": f"Branch {n}", "owner_department": "MER"})
        q.level(sku, "WH-SH-01", 150, T0, threshold=100)
        q.level(sku, "WH-SH-01", 40, T0 + timedelta(minutes=1))
        (work_order,) = [w for w in restocks() if w.product_sku == sku]
        q.finish(work_order.id, "restock", "merchant.hu", outcome=outcome)
        steps = dict(db.session.execute(select(WorkOrderStep.key, WorkOrderStep.status)
                                        .where(WorkOrderStep.work_order_id == work_order.id)).all())
        db.session.expire_all()
        if expected is None:
            assert steps == {"restock": "completed", "receive_transfer": "skipped", "confirm_discontinued": "skipped"}
            assert db.session.get(WorkOrder, work_order.id).status == "resolved"
        else:
            assert steps[expected] == "active", (outcome, steps)
            assert [k for k, s in steps.items() if s == "skipped"] == [k for k in ("receive_transfer", "confirm_discontinued") if k != expected]
