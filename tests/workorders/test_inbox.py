"""The inbox at scale (docs/design.md §15), on both databases: true totals, paging, sorting, search (Chinese too),
and a flood of similar offers folded into one group, so a person's own normal work stays in sight."""
from tests.conftest import assert_error, statements


def _inbox(flow, login="cs.agent1", **query):
    r = flow.client.get("/api/v1/tasks/inbox", query_string=query, headers=flow.h(login))
    assert r.status_code == 200, r.json
    return r.json


def _flood(flow, count):
    cs = flow.demo.dept("CS")
    flow.template({"key": "flood", "name": "Flood", "steps": [
        {"key": "contact", "title": "联系客户 Contact the customer", "assignees": {"departments": [cs]}, "sla": "P1D"}]})
    return [flow.create("flood", title=f"召回 {n}", order_no=f"SO-FLOOD-{n:03d}")["id"] for n in range(count)]


def test_a_flood_of_offers_is_one_group_and_the_rest_stays_in_sight(flow):
    flooded = _flood(flow, 21)
    complaint = flow.create("complaint", title="牛奶破损投诉", order_no="SO-77%")
    box = _inbox(flow)
    assert box["totals"] == {"mine": 0, "pool": 22}
    (group,) = box["groups"]
    assert (group["key"], group["count"], group["title"]) == ("flood:contact", 21, "联系客户 Contact the customer")
    assert [t["work_order_id"] for t in box["pool"]] == [complaint["id"]]  # the complaint is not behind the flood
    assert box["pool_shown"] == 1
    # Opening the group pages through its offers.
    first = _inbox(flow, group="flood:contact", per_page=5, sort="newest")
    assert first["pool_shown"] == 21 and [t["work_order_id"] for t in first["pool"]] == flooded[::-1][:5]
    last = _inbox(flow, group="flood:contact", per_page=5, page=5, sort="newest")
    assert [t["work_order_id"] for t in last["pool"]] == flooded[::-1][20:]
    # A group opened after it shrank below the threshold still pages through all its offers.
    for task_id in [flow.open_tasks(w, "contact")[0]["id"] for w in flooded[:3]]:
        assert flow.act(task_id, "claim", "cs.agent2").status_code == 200
    shrunk = _inbox(flow, group="flood:contact", per_page=5)
    assert shrunk["groups"] == [] and shrunk["pool_shown"] == 18 and len(shrunk["pool"]) == 5
    # Below the threshold, similar offers are simply listed: a day's work is not a flood.
    assert _inbox(flow, login="cs.agent1", q="牛奶")["groups"] == []


def test_search_totals_and_what_is_mine(flow):
    flooded = _flood(flow, 3)
    complaint = flow.create("complaint", title="牛奶破损投诉", order_no="SO-77%")
    assert [t["work_order_id"] for t in _inbox(flow, q="破损")["pool"]] == [complaint["id"]]  # Chinese text
    assert [t["work_order_id"] for t in _inbox(flow, q="so-flood-001")["pool"]] == [flooded[1]]  # any case
    assert [t["work_order_id"] for t in _inbox(flow, q="77%")["pool"]] == [complaint["id"]]  # % taken literally
    assert _inbox(flow, q="7%7")["totals"] == {"mine": 0, "pool": 0}
    number = flow.detail(flooded[2])["number"]
    assert [t["work_order_id"] for t in _inbox(flow, q=number)["pool"]] == [flooded[2]]
    task = flow.open_tasks(flooded[0])[0]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    box = _inbox(flow)
    assert box["totals"] == {"mine": 1, "pool": 3} and [t["id"] for t in box["mine"]] == [task["id"]]
    assert _inbox(flow, login="cs.agent2")["totals"] == {"mine": 0, "pool": 3}  # taken: off the colleague's list
    for bad in ({"sort": "random"}, {"per_page": 0}, {"per_page": 201}, {"page": 0}, {"q": "x" * 101}):
        assert_error(flow.client.get("/api/v1/tasks/inbox", query_string=bad, headers=flow.h("cs.agent1")), 422)


def test_an_inbox_reads_only_the_lists_it_shows(flow, backend):
    """Sign-in, the totals, and a page of each list the totals say has rows on that page; on PostgreSQL the pages
    carry their template versions (no read of flow_templates)."""
    _flood(flow, 2)
    flow.h("cs.agent1")  # signed in before counting
    _inbox(flow)  # the template versions are learnt once per process
    with statements() as seen:
        box = _inbox(flow)
    assert box["totals"] == {"mine": 0, "pool": 2} and len(box["pool"]) == 2
    # Sign-in, the totals, the pool's page (nothing is mine); on SQLite the page's template versions are read too.
    assert len(seen) == 3 + (backend == "sqlite"), seen
    task = flow.open_tasks(box["pool"][0]["work_order_id"], "contact")[0]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    with statements() as seen:
        box = _inbox(flow)
    assert box["totals"] == {"mine": 1, "pool": 1} and len(box["mine"]) == 1 and len(box["pool"]) == 1
    assert len(seen) == 4 + (backend == "sqlite"), seen
    with statements() as seen:
        beyond = _inbox(flow, page=2, per_page=1)
    assert beyond["totals"] == {"mine": 1, "pool": 1} and beyond["mine"] == [] and beyond["pool"] == []
    assert len(seen) == 2, seen  # sign-in and the totals: neither list has a second page
