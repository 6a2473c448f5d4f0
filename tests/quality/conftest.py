"""Quality fixtures: a small catalogue posted through the integration endpoints, and helpers to pull andons."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from tests.conftest import built_once
from tests.workorders.conftest import Flow, flow  # noqa: F401  (shared fixture)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"


def iso(value: datetime) -> str:
    return value.isoformat()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


class Quality(Flow):
    """Post catalogue data and pull andons through the HTTP API."""

    def post(self, path, body, login="admin", headers=None, expect=200):
        response = self.client.post(f"/api/v1{path}", json=body, headers=headers if headers is not None else self.h(login))
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:2000])
        return response

    def get(self, path, login="quality.qa", expect=200):
        response = self.client.get(f"/api/v1{path}", headers=self.h(login))
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:2000])
        return response.json

    def api_key(self, *scopes) -> dict:
        response = self.client.post("/api/v1/api-keys", json={"name": f"key {' '.join(scopes)}", "scopes": list(scopes)},
                                    headers=self.h("admin"))
        assert response.status_code == 201, response.json
        return {"X-API-Key": response.json["key"]}

    def products(self, *items, **kw):
        return self.post("/products", {"products": list(items)}, **kw)

    def batches(self, *items, **kw):
        return self.post("/batches", {"batches": list(items)}, **kw)

    def orders(self, *items, **kw):
        return self.post("/orders", {"orders": list(items)}, **kw)

    def events(self, *items, **kw):
        return self.post("/inventory/events", {"events": list(items)}, **kw)

    def level(self, sku, warehouse, available, at, batch_no=None, on_hand=None, unfulfillable=0, threshold=None, **kw):
        event = {"sku": sku, "warehouse": warehouse, "on_hand": available if on_hand is None else on_hand, "available": available,
                 "unfulfillable_orders": unfulfillable, "at": iso(at)}
        if batch_no:
            event["batch_no"] = batch_no
        if threshold is not None:
            event["threshold"] = threshold
        return self.events(event, **kw).json

    def pull(self, login="quality.qa", expect=201, **body):
        response = self.client.post("/api/v1/andon", json=body, headers=self.h(login))
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:2000])
        return response.json

    def andon(self, andon_id, login="quality.qa"):
        return self.get(f"/andon/{andon_id}", login=login)

    def product(self, sku, login="quality.qa"):
        return self.get(f"/products/{sku}", login=login)


def order(n, *lines, customer=None, placed=None):
    return {"order_no": f"SO-{n:05d}", "customer_ref": customer or f"C-{n:05d}", "placed_at": iso(placed or T0), "lines": list(lines)}


def line(sku="SKU-A", batch_no="BA-1", warehouse="WH-SH-01", driver="driver.li", shipped=None, delivered=True, qty=1):
    shipped = shipped or T0 + timedelta(hours=2)
    return {"sku": sku, "batch_no": batch_no, "qty": qty, "warehouse": warehouse, "driver": driver, "shipped_at": iso(shipped),
            "delivered_at": iso(shipped + timedelta(hours=5)) if delivered else None}


@pytest.fixture
def q(client, auth, demo):
    return Quality(client, auth, demo)


@pytest.fixture
def catalogue(q, backend):
    """Two products, three batches, stock of BA-1 in both warehouses, and a known set of orders (built once per
    worker and database, then put back).

    Orders of batch BA-1 (SKU-A):
      1-6   delivered from WH-SH-01: 1-3 by driver.li shipped day 1, 4-6 by driver.wang shipped day 3
      7-10  delivered from WH-BJ-01 by driver.chen, shipped day 5
      11    not delivered yet (WH-SH-01)
    Orders 12-13 carry BA-2 (SKU-A, delivered); order 14 carries BB-1 (SKU-B, delivered).
    Order 15 carries BA-1 and BA-2 (delivered, WH-SH-01, driver.li, day 1).
    """
    built_once("quality-catalogue", backend, lambda: _build_catalogue(q))
    return q


def _build_catalogue(q) -> None:
    q.products({"sku": "SKU-A", "name": "Yoghurt 200 g", "owner_department": "MER"},
               {"sku": "SKU-B", "name": "Rice 5 kg", "owner_department": "OPS"})
    q.batches({"batch_no": "BA-1", "sku": "SKU-A", "supplier": "Dairy Co", "produced_at": iso(T0 - timedelta(days=3)),
               "inbound_qc": {"result": "pass", "at": iso(T0 - timedelta(days=2))}},
              {"batch_no": "BA-2", "sku": "SKU-A", "supplier": "Dairy Co"},
              {"batch_no": "BB-1", "sku": "SKU-B", "supplier": "Rice Co"})
    q.events(
        {"sku": "SKU-A", "batch_no": "BA-1", "warehouse": "WH-SH-01", "on_hand": 100, "available": 90, "threshold": 10, "at": iso(T0 - timedelta(days=1))},
        {"sku": "SKU-A", "batch_no": "BA-1", "warehouse": "WH-SH-01", "on_hand": 60, "available": 50, "at": iso(T0 + timedelta(days=2))},
        {"sku": "SKU-A", "batch_no": "BA-1", "warehouse": "WH-BJ-01", "on_hand": 40, "available": 40, "threshold": 10, "at": iso(T0)},
        {"sku": "SKU-A", "batch_no": "BA-1", "warehouse": "WH-BJ-01", "on_hand": 0, "available": 0, "at": iso(T0 + timedelta(days=6))},
        {"sku": "SKU-A", "batch_no": "BA-2", "warehouse": "WH-SH-01", "on_hand": 80, "available": 80, "threshold": 10, "at": iso(T0)},
        {"sku": "SKU-B", "batch_no": "BB-1", "warehouse": "WH-BJ-01", "on_hand": 500, "available": 500, "threshold": 50, "at": iso(T0)},
    )
    day = lambda d: T0 + timedelta(days=d)  # noqa: E731
    orders = [order(n, line(shipped=day(1))) for n in (1, 2, 3)]
    orders += [order(n, line(driver="driver.wang", shipped=day(3))) for n in (4, 5, 6)]
    orders += [order(n, line(warehouse="WH-BJ-01", driver="driver.chen", shipped=day(5)), customer="C-SHARED") for n in (7, 8, 9, 10)]
    orders += [order(11, line(shipped=day(6), delivered=False))]
    orders += [order(n, line(batch_no="BA-2", shipped=day(2))) for n in (12, 13)]
    orders += [order(14, line(sku="SKU-B", batch_no="BB-1", warehouse="WH-BJ-01", driver="driver.chen", shipped=day(2)))]
    orders += [order(15, line(shipped=day(1), qty=2), line(batch_no="BA-2", shipped=day(1)))]
    q.orders(*orders)
