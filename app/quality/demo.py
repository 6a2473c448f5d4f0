"""The demo company's routing of the system flows, and the demo catalogue that `flask seed demo` installs."""
import random
from datetime import datetime, timedelta

from sqlalchemy import select

from app.common.clock import utcnow
from app.extensions import db
from app.org.models import Department
from app.quality import catalogue, shortage
from app.quality.models import Product
from app.quality.system import system_templates

DEMO_DRIVERS = ("driver.li", "driver.wang", "driver.chen")
DEMO_WAREHOUSES = ("WH-SH-01", "WH-BJ-01")
# sku, name, owner department, batches (batch_no, supplier, days ago produced, on hand per warehouse), threshold per warehouse
DEMO_PRODUCTS = [
    ("SKU-MILK-1L", "鲜牛奶 1L Fresh milk 1 L", "MER", [("B-MILK-A01", "光明乳业 Bright Dairy", 12, (180, 120)),
                                                   ("B-MILK-A02", "光明乳业 Bright Dairy", 5, (300, 260))], 40),
    ("SKU-YOG-200", "原味酸奶 200g Plain yoghurt", "MER", [("B-YOG-0915", "蒙牛 Mengniu", 9, (220, 90)),
                                                        ("B-YOG-0921", "蒙牛 Mengniu", 3, (260, 150))], 30),
    ("SKU-RICE-5KG", "东北大米 5kg Northeast rice", "OPS", [("B-RICE-2409", "五常米业 Wuchang Rice", 40, (500, 420))], 50),
    ("SKU-APPLE-1KG", "烟台苹果 1kg Yantai apples", "OPS", [("B-APPLE-1001", "烟台果业 Yantai Orchards", 7, (140, 0)),
                                                         ("B-APPLE-1008", "烟台果业 Yantai Orchards", 2, (160, 200))], 25),
    # Runs short on purpose: the demo shows an automatic pull-down with its restock work order.
    ("SKU-TISSUE-10", "抽纸 10包 Tissues, 10 packs", "MER", [("B-TISSUE-77", "维达 Vinda", 60, (8, 3))], 20),
]
DEMO_ORDERS = 3_000


def quality_templates() -> list[dict]:
    """The system flows as the demo company routes them: contact by customer service, owned by quality and operations."""
    ids = dict(db.session.execute(select(Department.code, Department.id).where(Department.code.in_(["CS", "QA", "OPS"]))).all())
    return system_templates(customer_service=ids.get("CS"), quality=ids.get("QA"), operations=ids.get("OPS"))


def _iso(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def seed_catalogue(*, now: datetime | None = None, orders: int = DEMO_ORDERS) -> dict:
    """Demo products, batches across both warehouses with stock history, and delivered orders (only when missing)."""
    if db.session.scalar(select(Product.id).where(Product.sku == DEMO_PRODUCTS[0][0])):
        return {"products": 0, "orders": 0}
    now = now or utcnow()
    rng = random.Random(20261123)
    catalogue.upsert_products(items=[{"sku": sku, "name": name, "owner_department": owner}
                                     for sku, name, owner, _, _ in DEMO_PRODUCTS], now=now)
    catalogue.upsert_batches(items=[
        {"batch_no": batch_no, "sku": sku, "supplier": supplier, "produced_at": _iso(now - timedelta(days=days)),
         "inbound_qc": {"result": "pass", "at": _iso(now - timedelta(days=days - 1))}}
        for sku, _, _, batches, _ in DEMO_PRODUCTS for batch_no, supplier, days, _ in batches], now=now)

    events = []
    for sku, _, _, batches, threshold in DEMO_PRODUCTS:
        for batch_no, _, days, on_hand in batches:
            for warehouse, final in zip(DEMO_WAREHOUSES, on_hand):
                start = final + rng.randint(50, 200)
                arrived = now - timedelta(days=days - 1, hours=rng.randint(0, 8))
                for step in range(4):
                    level = start - (start - final) * step // 3
                    events.append({"sku": sku, "batch_no": batch_no, "warehouse": warehouse, "on_hand": level,
                                   "available": max(level - rng.randint(0, 5), 0), "unfulfillable_orders": 0,
                                   "threshold": threshold // len(batches), "at": _iso(arrived + (now - arrived) * step / 4)})
    shortage.record_inventory_events(items=events, now=now, tz="Asia/Shanghai")

    batches_of = {sku: [b[0] for b in batches] for sku, _, _, batches, _ in DEMO_PRODUCTS}
    skus = [p[0] for p in DEMO_PRODUCTS]
    posted = []
    for n in range(1, orders + 1):
        placed = now - timedelta(days=rng.uniform(0.5, 20))
        lines = []
        for sku in rng.sample(skus, rng.choice((1, 1, 2, 3))):
            shipped = placed + timedelta(hours=rng.uniform(1, 12))
            delivered = shipped + timedelta(hours=rng.uniform(2, 30))
            lines.append({"sku": sku, "batch_no": rng.choice(batches_of[sku]), "qty": rng.randint(1, 4),
                          "warehouse": rng.choice(DEMO_WAREHOUSES), "driver": rng.choice(DEMO_DRIVERS),
                          "shipped_at": _iso(shipped), "delivered_at": _iso(delivered) if delivered < now else None})
        posted.append({"order_no": f"SO-DEMO-{n:05d}", "customer_ref": f"C-{rng.randint(10000, 10000 + orders // 2)}",
                       "placed_at": _iso(placed), "lines": lines})
    catalogue.upsert_orders(items=posted, now=now)
    return {"products": len(DEMO_PRODUCTS), "batches": sum(len(p[3]) for p in DEMO_PRODUCTS), "stock_events": len(events),
            "orders": len(posted)}
