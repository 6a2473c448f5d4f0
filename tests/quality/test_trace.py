"""Traceability of a batch and a product's sale status: results, pagination, who may read them."""
from datetime import timedelta

import pytest

from app.common.clock import utcnow
from tests.conftest import assert_error
from tests.quality.conftest import T0, iso, line, order


def test_trace_names_every_warehouse_line_customer_driver_and_counts(catalogue):
    trace = catalogue.get("/batches/BA-1/trace?per_page=100")
    assert (trace["batch_no"], trace["sku"], trace["status"], trace["supplier"]) == ("BA-1", "SKU-A", "ok", "Dairy Co")
    assert trace["inbound_qc"]["result"] == "pass"
    assert trace["counts"] == {"orders": 12, "customers": 9, "delivered": 11, "warehouses": 2, "lines": 12, "drivers": 3}
    assert trace["lines_total"] == 12
    by_order = {entry["order_no"]: entry for entry in trace["lines"]}
    assert set(by_order) == {f"SO-{n:05d}" for n in (*range(1, 12), 15)}
    seventh = by_order["SO-00007"]
    assert (seventh["warehouse"], seventh["driver"], seventh["customer_ref"], seventh["qty"]) == ("WH-BJ-01", "driver.chen", "C-SHARED", 1)
    assert seventh["driver_name"] and seventh["delivered_at"]
    assert by_order["SO-00011"]["delivered_at"] is None and by_order["SO-00011"]["shipped_at"]
    assert by_order["SO-00015"]["qty"] == 2, "only the line of this batch, not the order's other line"
    assert by_order["SO-00004"]["driver"] == "driver.wang"

    warehouses = {w["code"]: w for w in trace["warehouses"]}
    assert set(warehouses) == {"WH-SH-01", "WH-BJ-01"}
    bj = warehouses["WH-BJ-01"]
    # Seen at T0 with stock, found empty at T0 + 6 days: held six days, nothing left.
    assert bj["first_seen"].startswith("2026-11-01T08:00:00") and bj["last_seen"].startswith("2026-11-01T08:00:00")
    assert bj["on_hand"] == 0 and bj["held_for_seconds"] == 6 * 86400 and bj["source"] == "stock"
    sh = warehouses["WH-SH-01"]
    assert sh["first_seen"].startswith("2026-10-31T08:00:00") and sh["last_seen"].startswith("2026-11-03T08:00:00")
    assert sh["on_hand"] == 60
    still_holding = (utcnow() - (T0 - timedelta(days=1))).total_seconds()
    assert still_holding - 60 <= sh["held_for_seconds"] <= still_holding + 60, "still holding it: held until now"


def test_trace_pages_its_lines(catalogue):
    pages = [catalogue.get(f"/batches/BA-1/trace?per_page=5&page={p}") for p in (1, 2, 3, 4)]
    assert [len(p["lines"]) for p in pages] == [5, 5, 2, 0]
    assert all(p["lines_total"] == 12 and p["counts"]["orders"] == 12 for p in pages)
    seen = [entry["order_no"] for p in pages for entry in p["lines"]]
    assert len(seen) == len(set(seen)) == 12
    assert_error(catalogue.client.get("/api/v1/batches/BA-1/trace?per_page=501", headers=catalogue.h("quality.qa")), 422)


def test_a_warehouse_known_only_from_shipments_is_traced_too(catalogue):
    catalogue.orders(order(40, line(sku="SKU-B", batch_no="BB-1", warehouse="WH-SH-01", shipped=T0 + timedelta(days=1))),
                     order(41, line(sku="SKU-B", batch_no="BB-1", warehouse="WH-SH-01", shipped=T0 + timedelta(days=4))))
    warehouses = {w["code"]: w for w in catalogue.get("/batches/BB-1/trace")["warehouses"]}
    assert warehouses["WH-BJ-01"]["source"] == "stock"
    shipped = warehouses["WH-SH-01"]
    assert shipped["source"] == "shipments" and shipped["held_for_seconds"] == 3 * 86400


@pytest.mark.parametrize("login,status", [
    # gm.zhang leads HQ, above MER (SKU-A's owner); lead.cs (CS) and mgr.wh1 (a warehouse) lead other departments.
    ("quality.qa", 200), ("admin", 200), ("gm.zhang", 200), ("cs.agent1", 200),
    ("lead.cs", 404), ("mgr.wh1", 404),
    ("staff.wh1", 403), ("driver.li", 403), ("cs.agent2", 403), ("merchant.xu", 403),
])
def test_who_may_read_traceability(catalogue, login, status):
    response = catalogue.client.get("/api/v1/batches/BA-1/trace", headers=catalogue.h(login))
    product = catalogue.client.get("/api/v1/products/SKU-A", headers=catalogue.h(login))
    if status == 200:
        assert response.status_code == product.status_code == 200, response.json
    else:
        assert_error(response, status)
        assert_error(product, status)
        # A lead of another department cannot tell a batch of someone else's product from one that does not exist.
        assert response.json == catalogue.client.get("/api/v1/batches/NOPE/trace", headers=catalogue.h(login)).json
    andons = catalogue.client.get("/api/v1/andon", headers=catalogue.h(login))
    assert andons.status_code == (403 if status == 403 else 200)


def test_a_lead_traces_the_batches_of_products_their_departments_own(catalogue):
    # SKU-B is owned by OPS: its lead reads it; a warehouse below OPS owns nothing, so its lead does not.
    assert catalogue.get("/batches/BB-1/trace", login="mgr.ops")["counts"]["orders"] == 1
    assert catalogue.get("/products/SKU-B", login="mgr.ops")["sku"] == "SKU-B"
    assert_error(catalogue.client.get("/api/v1/batches/BA-1/trace", headers=catalogue.h("mgr.ops")), 404)
    assert_error(catalogue.client.get("/api/v1/batches/BB-1/trace", headers=catalogue.h("mgr.wh1")), 404, "not_found")


def test_unknown_batch_and_product_are_404(catalogue):
    assert_error(catalogue.client.get("/api/v1/batches/NOPE/trace", headers=catalogue.h("quality.qa")), 404)
    assert_error(catalogue.client.get("/api/v1/products/NOPE", headers=catalogue.h("quality.qa")), 404)
    assert_error(catalogue.client.get("/api/v1/batches/BA-1/trace"), 401)


def test_product_view_shows_status_reasons_batches_and_stock(catalogue):
    view = catalogue.product("SKU-A")
    assert view["sku"] == "SKU-A" and view["name"] == "Yoghurt 200 g" and view["owner_department"]["code"] == "MER"
    assert view["sale_status"] == "on_sale" and view["reasons"] == [] and view["holds"] == []
    assert {b["batch_no"]: b["status"] for b in view["batches"]} == {"BA-1": "ok", "BA-2": "ok"}
    # BA-1: 50 available in SH + 0 in BJ; BA-2: 80 in SH. Thresholds 10 each.
    assert (view["stock"]["available"], view["stock"]["on_hand"], view["stock"]["threshold"]) == (130, 140, 30)
    assert len(view["stock"]["levels"]) == 3
    keyed = catalogue.api_key("catalog:write")
    assert catalogue.client.get("/api/v1/products/SKU-A", headers=keyed).status_code == 200, "the sales channel may read it"


def test_trace_after_iso_times_without_zone_are_utc(q):
    q.products({"sku": "SKU-1", "name": "Milk"})
    q.batches({"batch_no": "B-1", "sku": "SKU-1", "produced_at": "2026-11-01T08:00:00"})
    q.orders({"order_no": "SO-1", "lines": [{"sku": "SKU-1", "batch_no": "B-1", "shipped_at": "2026-11-02T08:00:00",
                                             "delivered_at": iso(T0 + timedelta(days=1, hours=3))}]})
    trace = q.get("/batches/B-1/trace")
    assert trace["produced_at"].startswith("2026-11-01T08:00:00") and trace["produced_at"].endswith("+00:00")
    assert trace["lines"][0]["shipped_at"].startswith("2026-11-02T08:00:00")
