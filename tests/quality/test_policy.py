"""Who reads which andon (docs/design.md §5): quality, admins and pullers all; a lead only what concerns their departments."""
import pytest

from tests.conftest import assert_error
from tests.quality.test_andon import PULL_BA1, fan_out

# SKU-A is owned by MER (under HQ). BA-1's stock is in WH-SH-01 (so its quarantine task goes there); the recall work
# orders' first task is customer service's (CS). WH-BJ-01 and DLV-SH have no part in it.


@pytest.fixture
def recalled(catalogue):
    pulled = catalogue.pull(**PULL_BA1)
    fan_out(pulled["id"])
    other = catalogue.pull(scope="batch", batch_no="BB-1", action="pause", reason="Rice: OPS's own product")
    return catalogue, pulled["id"], other["id"]


@pytest.mark.parametrize("login,why", [
    ("quality.qa", "quality"), ("admin", "admin"), ("cs.agent1", "holds andon.pull"),
    ("gm.zhang", "leads HQ, which owns MER"), ("mgr.ops", "leads OPS, above the quarantining warehouse"),
    ("mgr.wh1", "its warehouse quarantines the stock"), ("lead.cs", "its team calls the customers"),
])
def test_readers_of_an_andon(recalled, login, why):
    q, andon_id, _ = recalled
    assert q.get(f"/andon/{andon_id}", login=login)["id"] == andon_id, why
    assert andon_id in [a["id"] for a in q.get("/andon", login=login)["items"]], why


@pytest.mark.parametrize("login", ["mgr.wh2", "mgr.dlv"])
def test_a_lead_of_an_uninvolved_department_neither_reads_nor_lists_it(recalled, login):
    q, andon_id, other_id = recalled
    missing = q.client.get(f"/api/v1/andon/{andon_id}", headers=q.h(login))
    assert_error(missing, 404)
    assert missing.json == q.client.get("/api/v1/andon/999999", headers=q.h(login)).json, "existence is private"
    listed = q.get("/andon", login=login)
    assert andon_id not in [a["id"] for a in listed["items"]]
    assert listed["total"] == len(listed["items"])


def test_a_lead_lists_only_the_andons_of_their_departments(recalled):
    q, andon_id, other_id = recalled
    # OPS owns SKU-B (BB-1), and its warehouse WH-SH-01 quarantines BA-1.
    assert [a["id"] for a in q.get("/andon", login="mgr.ops")["items"]] == [other_id, andon_id]
    # CS calls BA-1's customers; SKU-B's pause concerns it in no way.
    page = q.get("/andon", login="lead.cs")
    assert [a["id"] for a in page["items"]] == [andon_id] and page["total"] == 1
    assert [a["id"] for a in q.get("/andon?sku=SKU-B", login="lead.cs")["items"]] == []
    assert_error(q.client.get(f"/api/v1/andon/{other_id}", headers=q.h("lead.cs")), 404)
    assert [a["id"] for a in q.get("/andon", login="quality.qa")["items"]] == [other_id, andon_id]


def test_the_detail_lists_only_the_recall_work_orders_the_caller_may_open(recalled):
    q, andon_id, _ = recalled
    everything = q.get(f"/andon/{andon_id}?recalls_per_page=500", login="quality.qa")
    assert everything["recall_work_orders_total"] == 11
    assert {e["kind"] for e in everything["timeline"] if "first" in e["details"]} == {"recall_batch"}

    # The warehouse lead opens the quarantine, not the recalls (customer service's work so far).
    warehouse = q.get(f"/andon/{andon_id}?recalls_per_page=500", login="mgr.wh1")
    assert warehouse["recall_work_orders"] == [] and warehouse["recall_work_orders_total"] == 0
    assert warehouse["progress"] == everything["progress"], "progress counts name no one"
    for work_order in everything["recall_work_orders"]:
        assert q.client.get(f"/api/v1/work-orders/{work_order['id']}", headers=q.h("mgr.wh1")).status_code == 404
    named = {e["kind"]: e["details"] for e in warehouse["timeline"]}
    assert "first" not in named["recall_batch"] and "last" not in named["recall_batch"], "no recall number it cannot open"
    assert named["containment_opened"]["number"] == everything["timeline"][2]["details"]["number"]

    # Customer service opens the recalls, not the quarantine.
    service = q.get(f"/andon/{andon_id}?recalls_per_page=500", login="lead.cs")
    assert service["recall_work_orders"] == everything["recall_work_orders"]
    named = {e["kind"]: e["details"] for e in service["timeline"]}
    assert "number" not in named["containment_opened"] and "first" in named["recall_batch"]
    assert q.client.get(f"/api/v1/work-orders/{everything['containment_work_order_id']}", headers=q.h("lead.cs")).status_code == 404
