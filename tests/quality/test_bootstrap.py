"""A new company as a customer would start it (docs/design.md §13): `flask setup` on an empty database, then
everything through the API. The flows Baton starts by itself come with the database, so the andon and its recall
work without the demo; the demo seed later routes them to its own departments without adding a template."""
import pytest
from sqlalchemy import func, select

from app import create_app
from app.common.clock import utcnow
from app.extensions import db
from app.flows.models import FlowTemplate
from app.quality.recall import run_pending_recalls
from app.workorders.models import Task, TaskCandidate, WorkOrder
from tests.conftest import FAST_HASH

V1 = "/api/v1"
PASSWORD = "a-long-first-admin-password-2026"


def _ok(response, status=(200, 201)):
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), (response.status_code, response.get_json())
    return response.get_json()


@pytest.fixture
def fresh_app(fresh_url, monkeypatch):
    monkeypatch.setenv("VAPID_PRIVATE_KEY", "unused-in-this-test")  # setup makes no key files in the repository
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_company_that_never_saw_the_demo_pulls_the_andon_and_its_recall_starts(fresh_app):
    app = fresh_app
    result = app.test_cli_runner().invoke(args=["setup", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin admin" in result.output
    again = app.test_cli_runner().invoke(args=["setup"])  # run twice: nothing changes, nothing is asked
    assert again.exit_code == 0 and "left as it is" in again.output, again.output
    system = db.session.execute(select(FlowTemplate.key, FlowTemplate.version, FlowTemplate.system)).all()
    assert sorted(system) == [("quarantine", 1, True), ("recall", 1, True), ("restock", 1, True)]

    client = app.test_client()
    admin = {"Authorization": "Bearer " + _ok(client.post(f"{V1}/auth/login", json={"login": "admin", "password": PASSWORD}))["token"]}
    warehouse = _ok(client.post(f"{V1}/departments", json={"code": "WH1", "name": "Warehouse 1", "kind": "warehouse"}, headers=admin))
    quality = _ok(client.post(f"{V1}/users", json={"login": "qa.first", "password": "quality-person-password-1", "name": "Quality First",
                                                   "department_id": warehouse["id"], "roles": ["quality"]}, headers=admin))
    key = _ok(client.post(f"{V1}/api-keys", json={"name": "erp", "scopes": ["catalog:write", "orders:write"]}, headers=admin))
    integration = {"X-API-Key": key["key"]}
    _ok(client.post(f"{V1}/products", json={"products": [{"sku": "MILK", "name": "Milk", "owner_department": "WH1"}]}, headers=integration))
    _ok(client.post(f"{V1}/batches", json={"batches": [{"batch_no": "M-1", "sku": "MILK"}]}, headers=integration))
    now = utcnow().replace(microsecond=0).isoformat()
    _ok(client.post(f"{V1}/orders", json={"orders": [
        {"order_no": f"SO-{n}", "lines": [{"sku": "MILK", "batch_no": "M-1", "shipped_at": now, "delivered_at": now}]} for n in range(3)
    ]}, headers=integration))

    qa = {"Authorization": "Bearer " + _ok(client.post(f"{V1}/auth/login", json={"login": "qa.first",
                                                                                  "password": "quality-person-password-1"}))["token"]}
    pulled = client.post(f"{V1}/andon", json={"scope": "batch", "batch_no": "M-1", "action": "recall", "reason": "Sour"}, headers=qa)
    assert pulled.status_code == 201, pulled.get_json()  # was 409 template_missing before the system flows came with the database
    run_pending_recalls(now=utcnow(), tz="Asia/Shanghai")
    db.session.commit()
    recalls = db.session.scalars(select(WorkOrder.id).where(WorkOrder.source == "recall")).all()
    assert len(recalls) == 3
    # Routed by role on a new database: the quality team contacts the customers until an admin says otherwise.
    contacted_by = set(db.session.scalars(select(TaskCandidate.user_id).join(Task, Task.id == TaskCandidate.task_id)
                                          .where(Task.work_order_id.in_(recalls), Task.step == "contact")))
    assert contacted_by == {quality["id"]}

    # The demo seed, run later on the same database, routes the system flows its own way and adds no template.
    from app.seed import seed_demo

    seed_demo()
    keys = dict(db.session.execute(select(FlowTemplate.key, func.count()).group_by(FlowTemplate.key)).all())
    # New versions where work runs on the first (the andon's quarantine and its recalls), an edit in place where not.
    assert (keys["quarantine"], keys["recall"], keys["restock"]) == (2, 2, 1)
    recall = db.session.scalar(select(FlowTemplate).where(FlowTemplate.key == "recall", FlowTemplate.is_current.is_(True)))
    assert recall.system and recall.steps[0]["assignees"]["departments"]  # customer service contacts the customers now
    seed_demo()
    assert db.session.scalar(select(func.count()).select_from(FlowTemplate).where(FlowTemplate.key == "recall")) == 2
