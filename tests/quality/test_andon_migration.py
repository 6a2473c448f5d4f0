"""The upgrade to one active andon per target copes with the duplicates pulled before it, on SQLite and PostgreSQL."""
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db
from app.quality import catalogue
from app.quality.models import Andon, AndonEvent, AndonRecall, Batch, Order, OrderRecall, Product, RecallJob, SaleHold
from app.flows.service import get_template
from app.workorders.models import WorkOrder
from app.workorders.planner import work_order_values
from tests.conftest import FAST_HASH
from tests.quality.conftest import T0

BEFORE, THIS = "c8d41f0a7b25", "e3f1a9c2b7d4"
# Tables and columns that later migrations add and today's models read: added bare here, so the demo can be seeded through
# today's services on the older schema (the upgrade under test does not touch them).
LATER_COLUMNS = [("departments", "calendar_id INTEGER"), ("tasks", "calendar_id INTEGER"), ("tasks", "claim_working_seconds FLOAT"),
                 ("tasks", "complete_working_seconds FLOAT"), ("flow_templates", "system BOOLEAN NOT NULL DEFAULT FALSE"),
                 ("users", "phone VARCHAR(32)"), ("users", "email VARCHAR(254)"),
                 ("users", "off_duty_since TIMESTAMP"), ("tasks", "template_key VARCHAR(64)"), ("tasks", "dispatch VARCHAR(16)"),
                 ("users", "dingtalk_userid VARCHAR(64)"), ("users", "wecom_userid VARCHAR(64)"),
                 ("users", "feishu_user_id VARCHAR(64)")]


def _upgrade_to_before():
    from app.calendars.models import Calendar

    upgrade(revision=BEFORE)
    with db.engine.begin() as conn:
        Calendar.__table__.create(bind=conn)
        for table, column in LATER_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")


def _andon(product_id, batch_id, action, minutes, status="active", filters=None, **resolved):
    row = {"scope": "batch" if batch_id else "product", "product_id": product_id, "batch_id": batch_id, "action": action,
           "reason": f"{action} at +{minutes} min", "filters": filters or {}, "status": status, "affected_orders": 0,
           "created_at": T0 + timedelta(minutes=minutes), **resolved}
    andon_id = db.session.execute(insert(Andon.__table__).values(**row).returning(Andon.__table__.c.id)).scalar_one()
    db.session.execute(insert(SaleHold.__table__).values(
        product_id=None if batch_id else product_id, batch_id=batch_id, source="andon", andon_id=andon_id, recall=action == "recall",
        active=status == "active", created_at=row["created_at"]))
    if action == "recall":
        db.session.execute(insert(RecallJob.__table__).values(andon_id=andon_id, status="pending", lanes=1, created=0, batches=0,
                                                             created_at=row["created_at"], updated_at=row["created_at"]))
    return andon_id


def test_the_upgrade_resolves_duplicate_active_andons_and_records_what_was_recalled(fresh_url):
    from app.seed import seed_organisation, seed_templates

    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        _upgrade_to_before()
        assert "order_recalls" not in inspect(db.engine).get_table_names()
        seed_organisation()
        seed_templates()
        now = T0 + timedelta(days=3)
        catalogue.upsert_products(items=[{"sku": "SKU-M", "name": "Milk", "owner_department": "MER"}], now=now)
        catalogue.upsert_batches(items=[{"batch_no": "BM-1", "sku": "SKU-M"}, {"batch_no": "BM-2", "sku": "SKU-M"}], now=now)
        shipped, delivered = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
        catalogue.upsert_orders(items=[
            {"order_no": "SO-M1", "lines": [{"sku": "SKU-M", "batch_no": "BM-1", "shipped_at": shipped, "delivered_at": delivered}]},
            {"order_no": "SO-M2", "lines": [{"sku": "SKU-M", "batch_no": "BM-1", "shipped_at": shipped, "delivered_at": delivered},
                                            {"sku": "SKU-M", "batch_no": "BM-2", "shipped_at": shipped, "delivered_at": delivered}]},
        ], now=now)
        product = db.session.scalar(select(Product.id))
        bm1, bm2 = (db.session.scalar(select(Batch.id).where(Batch.batch_no == n)) for n in ("BM-1", "BM-2"))
        m1, m2 = (db.session.scalar(select(Order.id).where(Order.order_no == n)) for n in ("SO-M1", "SO-M2"))
        # Work orders as rows (today's engine reads columns this older schema does not have yet).
        template = get_template(key="stock_check")
        wo = [db.session.execute(insert(WorkOrder.__table__).values(number=f"WO-OLD-{n}", **work_order_values(
            template=template, body={"title": f"recall {n}"}, source="recall", department_id=None, created_by_id=None, now=now,
        )).returning(WorkOrder.id)).scalar_one() for n in range(3)]

        # Pulled before the check: a pause, then two recalls of BM-1; two product-wide pauses; an old resolved one.
        pause_1, recall_1, recall_2 = (_andon(product, bm1, a, m) for a, m in (("pause", 0), ("recall", 1), ("recall", 2)))
        product_1, product_2 = _andon(product, None, "pause", 3), _andon(product, None, "pause", 4)
        resolved = _andon(product, bm1, "pause", -60, status="resolved")
        # Both recalls recalled SO-M1 (the duplicate this upgrade stops); the second one also SO-M2.
        db.session.execute(insert(AndonRecall.__table__), [
            {"andon_id": recall_1, "order_id": m1, "work_order_id": wo[0], "created_at": T0 + timedelta(hours=1)},
            {"andon_id": recall_2, "order_id": m1, "work_order_id": wo[1], "created_at": T0 + timedelta(hours=2)},
            {"andon_id": recall_2, "order_id": m2, "work_order_id": wo[2], "created_at": T0 + timedelta(hours=2)},
        ])
        db.session.commit()

        upgrade(revision=THIS)
        db.session.expire_all()
        status = dict(db.session.execute(select(Andon.id, Andon.status)).all())
        assert status == {pause_1: "resolved", recall_1: "active", recall_2: "resolved", product_1: "active", product_2: "resolved",
                          resolved: "resolved"}, "the oldest recall, else the oldest, stays"
        note = db.session.get(Andon, recall_2).resolution_note
        assert f"andon {recall_1} stays active" in note and db.session.get(Andon, recall_2).resolved_at is not None
        assert f"andon {product_1} stays active" in db.session.get(Andon, product_2).resolution_note
        assert set(db.session.scalars(select(SaleHold.andon_id).where(SaleHold.active.is_(True)))) == {recall_1, product_1}
        assert dict(db.session.execute(select(RecallJob.andon_id, RecallJob.status)).all()) == {recall_1: "pending",
                                                                                              recall_2: "cancelled"}
        events = db.session.execute(select(AndonEvent.andon_id, AndonEvent.kind, AndonEvent.details).order_by(AndonEvent.id)).all()
        assert {(a, k) for a, k, _ in events} == {(pause_1, "resolved"), (recall_2, "resolved"), (recall_1, "duplicates_resolved"),
                                                 (product_2, "resolved"), (product_1, "duplicates_resolved")}
        assert next(d for a, k, d in events if a == recall_1)["andon_ids"] == [pause_1, recall_2]

        recalled = set(db.session.execute(select(OrderRecall.order_id, OrderRecall.batch_key, OrderRecall.work_order_id)).all())
        # The first recall of each order's goods; SO-M2's BM-2 line was never recalled (a BM-1 andon).
        assert recalled == {(m1, bm1, wo[0]), (m2, bm1, wo[2])}

        db.session.add(Andon(scope="batch", product_id=product, batch_id=bm1, action="pause", reason="again", filters={},
                             status="active", affected_orders=0, created_at=now))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

        downgrade(revision=BEFORE)
        assert "order_recalls" not in inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()


def test_the_upgrade_keeps_every_customer_an_earlier_recall_would_have_reached(fresh_url):
    """A newer, wider recall is never dropped for an older, narrower one; recalls that each miss the other's lines
    become one recall with filters wide enough for both, and its fan-out runs again."""
    from app.org.models import Department
    from app.seed import seed_organisation

    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        _upgrade_to_before()
        seed_organisation()
        now = T0 + timedelta(days=3)
        catalogue.upsert_products(items=[{"sku": "SKU-M", "name": "Milk", "owner_department": "MER"}], now=now)
        catalogue.upsert_batches(items=[{"batch_no": "BM-1", "sku": "SKU-M"}, {"batch_no": "BM-2", "sku": "SKU-M"}], now=now)
        product = db.session.scalar(select(Product.id))
        bm1, bm2 = (db.session.scalar(select(Batch.id).where(Batch.batch_no == n)) for n in ("BM-1", "BM-2"))
        sh, bj = (db.session.scalar(select(Department.id).where(Department.code == c)) for c in ("WH-SH-01", "WH-BJ-01"))
        early, late = T0 + timedelta(hours=1), T0 + timedelta(hours=9)
        # BM-1: an older recall narrowed to Shanghai, a newer one for every warehouse.
        narrow = _andon(product, bm1, "recall", 0, filters={"warehouse": "WH-SH-01"}, warehouse_id=sh)
        wide = _andon(product, bm1, "recall", 1)
        # BM-2: Shanghai shipped early, Beijing shipped late: neither reaches the other's lines.
        sh_early = _andon(product, bm2, "recall", 2, filters={"warehouse": "WH-SH-01", "shipped_to": early.isoformat()},
                          warehouse_id=sh, shipped_to=early)
        bj_late = _andon(product, bm2, "recall", 3, filters={"warehouse": "WH-BJ-01", "shipped_to": late.isoformat()},
                         warehouse_id=bj, shipped_to=late)
        db.session.execute(RecallJob.__table__.update().values(status="done"))
        db.session.commit()

        upgrade(revision=THIS)
        db.session.expire_all()
        status = dict(db.session.execute(select(Andon.id, Andon.status)).all())
        assert status == {narrow: "resolved", wide: "active", sh_early: "active", bj_late: "resolved"}
        jobs = dict(db.session.execute(select(RecallJob.andon_id, RecallJob.status)).all())
        assert jobs[wide] == "done"  # it already reached every line the narrow one did
        assert jobs[sh_early] == "pending"  # widened: its fan-out runs again over the wider filters
        kept = db.session.get(Andon, sh_early)
        assert (kept.warehouse_id, kept.driver_id, kept.shipped_from) == (None, None, None)
        assert kept.shipped_to.replace(tzinfo=None) == late.replace(tzinfo=None)
        assert kept.filters == {"shipped_to": late.isoformat()}
        event = db.session.scalar(select(AndonEvent.details).where(AndonEvent.andon_id == sh_early,
                                                                   AndonEvent.kind == "duplicates_resolved"))
        assert event["andon_ids"] == [bj_late] and event["widened_filters"] == {"shipped_to": late.isoformat()}
        db.session.rollback()  # SQLite: the downgrade needs the write lock this read holds
        downgrade(revision=BEFORE)
        db.session.remove()
        db.engine.dispose()
