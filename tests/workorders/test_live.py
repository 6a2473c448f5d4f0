"""Live screens (docs/design.md §15): `GET /changes` says cheaply, with ETags, when anything was told to a person, so a
colleague's open inbox or task screen drops an offer someone else just took within seconds, on Lambda too."""


def _changes(flow, login, etag=None):
    headers = dict(flow.h(login))
    if etag:
        headers["If-None-Match"] = etag
    return flow.client.get("/api/v1/changes", headers=headers)


def test_a_colleagues_claim_moves_the_cursor_and_nothing_else_does(flow):
    first = _changes(flow, "cs.agent2")
    assert first.status_code == 200 and first.headers["ETag"] and first.json["poll_seconds"] == 3
    assert "no-cache" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    still = _changes(flow, "cs.agent2", etag)
    assert still.status_code == 304 and still.data == b"" and still.headers["ETag"] == etag

    wo = flow.create("complaint", title="牛奶破损投诉")  # offered to the CS agents: news for the colleague
    offered = _changes(flow, "cs.agent2", etag)
    assert offered.status_code == 200 and offered.headers["ETag"] != etag
    etag = offered.headers["ETag"]
    assert _changes(flow, "cs.agent2", etag).status_code == 304

    task = flow.open_tasks(wo["id"])[0]
    assert flow.act(task["id"], "claim", "cs.agent1").status_code == 200
    taken = _changes(flow, "cs.agent2", etag)
    assert taken.status_code == 200 and int(taken.json["cursor"]) > int(offered.json["cursor"])
    # The one who claimed is not told about their own claim: their own screen already shows it.
    mine = _changes(flow, "cs.agent1")
    assert _changes(flow, "cs.agent1", mine.headers["ETag"]).status_code == 304


def test_changes_need_a_signed_in_person(flow):
    r = flow.client.get("/api/v1/changes")
    assert r.status_code == 401 and r.json["error"]["code"]
