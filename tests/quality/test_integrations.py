"""Integrations post products, batches, orders and inventory: bulk, upserted by natural key, all or nothing, by scope."""
import time
from datetime import timedelta

import pytest

from app.common.clock import utcnow
from app.errors import Invalid
from app.quality.models import Batch, Order, OrderLine, Product, StockEvent, StockLevel
from tests.conftest import assert_error
from tests.quality.conftest import T0, count, iso, line, order


def test_products_are_upserted_by_sku_never_duplicated(q):
    r = q.products({"sku": "SKU-1", "name": "Milk", "owner_department": "MER"}, {"sku": "SKU-2", "name": "Rice"}).json
    assert r["created"] == 2 and r["updated"] == 0
    r = q.products({"sku": "SKU-1", "name": "Fresh milk 1 L"}, {"sku": "SKU-3", "name": "Tea", "owner_department": "OPS"}).json
    assert r["created"] == 1 and r["updated"] == 1
    assert count(Product) == 3
    view = q.product("SKU-1")
    assert view["name"] == "Fresh milk 1 L" and view["sale_status"] == "on_sale" and view["reasons"] == []
    assert view["owner_department"]["code"] == "MER", "re-posting without an owner keeps the known one"


def test_batches_carry_supplier_production_and_inbound_qc(q):
    q.products({"sku": "SKU-1", "name": "Milk"})
    q.batches({"batch_no": "B-1", "sku": "SKU-1", "supplier": "Dairy", "produced_at": iso(T0), "inbound_qc": {"result": "pass", "at": iso(T0)}})
    q.batches({"batch_no": "B-1", "sku": "SKU-1", "supplier": "Dairy Co", "produced_at": iso(T0),
               "inbound_qc": {"result": "fail", "at": iso(T0 + timedelta(hours=1))}})
    assert count(Batch) == 1
    trace = q.get("/batches/B-1/trace")
    assert trace["supplier"] == "Dairy Co" and trace["inbound_qc"]["result"] == "fail" and trace["status"] == "ok"
    assert trace["produced_at"].startswith("2026-11-01T08:00:00")


def test_reposted_order_replaces_its_lines(catalogue):
    q = catalogue
    before_lines = count(OrderLine)
    q.orders(order(1, line(qty=3), line(batch_no="BA-2", qty=1), customer="C-NEW"))
    assert count(Order) == 15
    assert count(OrderLine) == before_lines + 1
    trace = q.get("/batches/BA-1/trace?per_page=500")
    first = next(entry for entry in trace["lines"] if entry["order_no"] == "SO-00001")
    assert first["qty"] == 3 and first["customer_ref"] == "C-NEW"


@pytest.mark.parametrize("path,body,where", [
    ("/products", {"products": [{"sku": "OK-1", "name": "fine"}, {"sku": "OK-2", "name": "fine"},
                                {"sku": "OK-3", "name": "fine"}, {"sku": "", "name": "bad"}]}, "products.3.sku"),
    ("/products", {"products": [{"sku": "OK-1", "name": "fine"}, {"sku": "OK-2", "name": "x", "owner_department": "NOPE"}]},
     "products.1.owner_department"),
    ("/batches", {"batches": [{"batch_no": "NB-1", "sku": "SKU-A"}, {"batch_no": "NB-2", "sku": "SKU-UNKNOWN"}]}, "batches.1.sku"),
    ("/batches", {"batches": [{"batch_no": "NB-1", "sku": "SKU-A", "inbound_qc": {"result": "maybe"}}]}, "batches.0.inbound_qc.result"),
    ("/orders", {"orders": [order(901, line()), order(902, line(warehouse="WH-NOPE"))]}, "orders.1.lines.0.warehouse"),
    ("/orders", {"orders": [order(901, line()), order(902, line(), line(driver="nobody"))]}, "orders.1.lines.1.driver"),
    ("/orders", {"orders": [order(901, line(sku="SKU-B", batch_no="BA-1"))]}, "orders.0.lines.0.batch_no"),
    ("/orders", {"orders": [order(901, {**line(), "qty": 0})]}, "orders.0.lines.0.qty"),
    ("/inventory/events", {"events": [{"sku": "SKU-A", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1, "at": iso(T0)},
                                      {"sku": "SKU-A", "warehouse": "WH-XX", "on_hand": 1, "available": 1, "at": iso(T0)}]},
     "events.1.warehouse"),
    ("/inventory/events", {"events": [{"sku": "SKU-A", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1}]}, "events.0.at"),
    ("/inventory/events", {"events": [{"sku": "SKU-NOPE", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1, "at": iso(T0)}]},
     "events.0.sku"),
    ("/inventory/events", {"events": [{"sku": "SKU-A", "batch_no": "BA-NOPE", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1,
                                       "at": iso(T0)}]}, "events.0.batch_no"),
    ("/inventory/events", {"events": [{"sku": "SKU-B", "batch_no": "BA-1", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1,
                                       "at": iso(T0)}]}, "events.0.batch_no"),
])
def test_one_bad_item_rejects_the_request_naming_its_index_and_nothing_is_written(catalogue, path, body, where):
    counts = [count(m) for m in (Product, Batch, Order, OrderLine, StockEvent, StockLevel)]
    response = catalogue.post(path, body, expect=None)
    error = assert_error(response, 422, "validation_error")
    assert where in error["details"], error["details"]
    assert [count(m) for m in (Product, Batch, Order, OrderLine, StockEvent, StockLevel)] == counts


def test_the_lists_are_capped_at_ten_thousand_items(q):
    response = q.post("/products", {"products": [{"sku": f"S-{i}", "name": "x"} for i in range(10_001)]}, expect=None)
    assert "products" in assert_error(response, 422)["details"]
    assert count(Product) == 0


def test_ten_thousand_orders_post_in_one_request_quickly(q):
    q.products({"sku": "SKU-1", "name": "Milk"})
    q.batches({"batch_no": "B-1", "sku": "SKU-1"})
    orders = [order(n, line(sku="SKU-1", batch_no="B-1", driver=("driver.li", "driver.wang")[n % 2])) for n in range(10_000)]
    started = time.perf_counter()
    assert q.orders(*orders).json["created"] == 10_000
    elapsed = time.perf_counter() - started
    assert count(OrderLine) == 10_000
    # Set-based statements: row-by-row ORM inserts take far longer than this.
    assert elapsed < 20, elapsed
    assert q.orders(*orders[:5]).json == {"received": 5, "created": 0, "updated": 5, "lines": 5, "recalls_requeued": []}
    assert count(Order) == 10_000 and count(OrderLine) == 10_000


def test_api_keys_need_the_matching_scope(q, demo):
    catalog = q.api_key("catalog:write")
    orders = q.api_key("orders:write")
    inventory = q.api_key("inventory:write")
    product = {"products": [{"sku": "K-1", "name": "Keyed"}]}
    assert q.post("/products", product, headers=catalog).status_code == 200
    assert q.post("/batches", {"batches": [{"batch_no": "KB-1", "sku": "K-1"}]}, headers=catalog).status_code == 200
    assert_error(q.post("/products", product, headers=orders, expect=None), 403, "insufficient_scope")
    assert_error(q.post("/orders", {"orders": [order(1, line(sku="K-1", batch_no="KB-1"))]}, headers=catalog, expect=None),
                 403, "insufficient_scope")
    assert q.post("/orders", {"orders": [order(1, line(sku="K-1", batch_no="KB-1"))]}, headers=orders).status_code == 200
    event = {"events": [{"sku": "K-1", "warehouse": "WH-SH-01", "on_hand": 5, "available": 5, "at": iso(T0)}]}
    assert_error(q.post("/inventory/events", event, headers=orders, expect=None), 403, "insufficient_scope")
    assert q.post("/inventory/events", event, headers=inventory).status_code == 200
    # People: only admins post integration data; a key never reads people's views.
    assert_error(q.post("/products", product, login="quality.qa", expect=None), 403)
    assert_error(q.post("/orders", {"orders": [order(2, line(sku="K-1"))]}, login="lead.cs", expect=None), 403)
    assert_error(q.client.post("/api/v1/products", json=product), 401)
    assert_error(q.client.get("/api/v1/batches/KB-1/trace", headers=catalog), 403, "insufficient_scope")
    assert_error(q.client.post("/api/v1/andon", json={"scope": "product", "sku": "K-1", "action": "pause", "reason": "x"},
                               headers=catalog), 403)


def test_inventory_events_keep_history_and_the_newest_level(q):
    q.products({"sku": "SKU-1", "name": "Milk"})
    q.events({"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 10, "available": 9, "threshold": 2, "at": iso(T0 + timedelta(hours=2))},
             {"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 50, "available": 50, "at": iso(T0)})
    # An event older than the stored level arrives late: history grows, the level stays.
    q.events({"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 70, "available": 70, "at": iso(T0 + timedelta(hours=1))})
    stock = q.product("SKU-1")["stock"]
    assert (stock["on_hand"], stock["available"], stock["threshold"]) == (10, 9, 2)
    assert count(StockEvent) == 3 and count(StockLevel) == 1
    q.events({"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 30, "available": 28, "at": iso(T0 + timedelta(hours=3))})
    stock = q.product("SKU-1")["stock"]
    assert (stock["on_hand"], stock["available"], stock["threshold"]) == (30, 28, 2), "a threshold once given is kept"
    # The same event posted again (an integration retrying) replaces itself in the history.
    q.events({"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 31, "available": 29, "at": iso(T0 + timedelta(hours=3))},
             {"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 30, "available": 28, "at": iso(T0 + timedelta(hours=3))})
    assert count(StockEvent) == 4 and q.product("SKU-1")["stock"]["available"] == 28


def test_replayed_post_with_idempotency_key_changes_nothing(q):
    body = {"products": [{"sku": "SKU-1", "name": "Milk"}]}
    first = q.client.post("/api/v1/products", json=body, headers={**q.h("admin"), "Idempotency-Key": "p-1"})
    again = q.client.post("/api/v1/products", json=body, headers={**q.h("admin"), "Idempotency-Key": "p-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json == {
        "received": 1, "created": 1, "updated": 0}


def _future(seconds: int) -> str:
    return iso(utcnow() + timedelta(seconds=seconds))


def test_an_inventory_event_dated_in_the_future_is_refused_naming_its_index(q):
    q.products({"sku": "SKU-1", "name": "Milk"})
    q.events({"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 10, "available": 10, "at": iso(T0)})
    ok = {"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 5, "available": 5}
    year_3026 = "3026-11-01T08:00:00+00:00"
    response = q.post("/inventory/events", {"events": [{**ok, "at": iso(T0 + timedelta(hours=1))}] * 3 + [{**ok, "at": year_3026}]},
                      expect=None)
    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == ["events.3.at"] and "future" in error["details"]["events.3.at"][0]
    assert count(StockEvent) == 1 and q.product("SKU-1")["stock"]["available"] == 10, "nothing written"
    # A later real event still moves the level: nothing froze it.
    q.events({**ok, "at": _future(-60)})
    assert q.product("SKU-1")["stock"]["available"] == 5
    # A clock a little ahead of the server's is fine (default skew 300 s).
    assert q.events({**ok, "available": 4, "at": _future(120)}).status_code == 200


def test_the_future_skew_is_configurable(q, app, monkeypatch):
    q.products({"sku": "SKU-1", "name": "Milk"})
    monkeypatch.setitem(app.config, "INVENTORY_MAX_FUTURE_SKEW_SECONDS", 3600)
    event = {"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1, "at": _future(1800)}
    assert q.events(event).status_code == 200
    monkeypatch.setitem(app.config, "INVENTORY_MAX_FUTURE_SKEW_SECONDS", 0)
    assert_error(q.post("/inventory/events", {"events": [{**event, "at": _future(60)}]}, expect=None), 422)


@pytest.mark.parametrize("field", ["placed_at", "shipped_at", "delivered_at"])
def test_orders_with_times_in_the_future_are_refused(catalogue, field):
    counts = [count(m) for m in (Order, OrderLine)]
    bad = order(902, line())
    if field == "placed_at":
        bad["placed_at"], where = _future(86400), "orders.1.placed_at"
    else:
        bad["lines"][0][field], where = _future(86400), f"orders.1.lines.0.{field}"
        if field == "shipped_at":
            bad["lines"][0]["delivered_at"] = None
    error = assert_error(catalogue.post("/orders", {"orders": [order(901, line()), bad]}, expect=None), 422)
    assert list(error["details"]) == [where]
    assert [count(m) for m in (Order, OrderLine)] == counts


def test_the_inventory_lambda_refuses_a_future_event_too(q):
    from app.quality import shortage

    q.products({"sku": "SKU-1", "name": "Milk"})
    item = {"sku": "SKU-1", "warehouse": "WH-SH-01", "on_hand": 1, "available": 1, "unfulfillable_orders": 0, "threshold": None,
            "batch_no": None, "at": utcnow() + timedelta(days=365)}
    with pytest.raises(Invalid) as raised:
        shortage.record_inventory_events(items=[item], now=utcnow(), tz="Asia/Shanghai")  # the default skew, as the Lambda calls it
    assert list(raised.value.details) == ["events.0.at"]
