"""POST /service-volumes: who may post, upsert per (day, channel), all-or-nothing validation naming the index."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.metrics.models import ServiceVolume
from tests.conftest import assert_error

URL = "/api/v1/service-volumes"


def _key(client, auth, scopes):
    response = client.post("/api/v1/api-keys", json={"name": "contact centre", "scopes": scopes}, headers=auth.headers("admin"))
    assert response.status_code == 201, response.json
    return {"X-API-Key": response.json["key"]}


def _stored():
    return {(v.day.isoformat(), v.channel): (v.count, v.misrouted) for v in db.session.scalars(select(ServiceVolume))}


def test_posting_twice_updates_and_never_duplicates(client, auth, demo):
    key = _key(client, auth, ["volumes:write"])
    body = {"volumes": [
        {"day": "2025-03-03", "channel": "orders", "count": 20000},
        {"day": "2025-03-03", "channel": "ivr", "count": 20, "misrouted": 4},
        {"day": "2025-03-03", "channel": "self_service", "count": 30},
    ]}
    first = client.post(URL, json=body, headers=key)
    assert first.status_code == 200, first.json
    assert first.json == {"accepted": 3, "created": 3, "updated": 0}

    body["volumes"][1] = {"day": "2025-03-03", "channel": "ivr", "count": 25}
    body["volumes"].append({"day": "2025-03-04", "channel": "manual", "count": 9, "misrouted": 1})
    second = client.post(URL, json=body, headers=key)
    assert second.json == {"accepted": 4, "created": 1, "updated": 3}
    assert _stored() == {("2025-03-03", "orders"): (20000, 0), ("2025-03-03", "ivr"): (25, 0),
                         ("2025-03-03", "self_service"): (30, 0), ("2025-03-04", "manual"): (9, 1)}
    # Re-posting the very same body changes nothing.
    assert client.post(URL, json=body, headers=key).json == {"accepted": 4, "created": 0, "updated": 4}
    assert db.session.scalar(select(func.count()).select_from(ServiceVolume)) == 4


def test_who_may_post(client, auth, demo):
    body = {"volumes": [{"day": "2025-03-03", "channel": "manual", "count": 1}]}
    assert client.post(URL, json=body, headers=auth.headers("admin")).status_code == 200
    assert_error(client.post(URL, json=body, headers=auth.headers("lead.cs")), 403)
    assert_error(client.post(URL, json=body, headers=auth.headers("cs.agent1")), 403)
    assert_error(client.post(URL, json=body, headers=_key(client, auth, ["orders:write"])), 403, "insufficient_scope")
    assert_error(client.post(URL, json=body), 401)


def test_a_replayed_idempotency_key_stores_nothing_more(client, auth, demo):
    key = {**_key(client, auth, ["volumes:write"]), "Idempotency-Key": "volumes-2025-03-03"}
    body = {"volumes": [{"day": "2025-03-03", "channel": "manual", "count": 7}]}
    first = client.post(URL, json=body, headers=key)
    replay = client.post(URL, json=body, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json == first.json


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("bad, field", [
    ({"day": "2025-02-30", "channel": "ivr", "count": 1}, "day"),
    ({"day": "2025-03-03", "channel": "email", "count": 1}, "channel"),
    ({"day": "2025-03-03", "channel": "ivr", "count": -1}, "count"),
    ({"day": "2025-03-03", "channel": "ivr", "count": "12"}, "count"),
    ({"day": "2025-03-03", "channel": "ivr", "count": 10**13}, "count"),
    ({"day": "2025-03-03", "channel": "ivr"}, "count"),
    ({"day": "2025-03-03", "channel": "ivr", "count": 3, "misrouted": 4}, "misrouted"),
    ({"day": "2025-03-03", "channel": "orders", "count": 300, "misrouted": 1}, "misrouted"),
    ({"day": "2099-01-01", "channel": "ivr", "count": 1}, "day"),
    ({"day": "0001-01-01", "channel": "ivr", "count": 1}, "day"),
    ({"day": "2025-03-01", "channel": "manual", "count": 2}, "day"),  # a second (2025-03-01, manual)
])
def test_one_bad_item_rejects_the_request_naming_its_index(client, auth, demo, bad, field):
    good = [{"day": "2025-03-01", "channel": "manual", "count": 5}, {"day": "2025-03-02", "channel": "orders", "count": 100}]
    error = assert_error(client.post(URL, json={"volumes": [*good, bad]}, headers=auth.headers("admin")), 422)
    assert f"volumes.2.{field}" in error["details"], error
    assert _stored() == {}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_list_is_bounded(client, auth, demo):
    admin = auth.headers("admin")
    assert_error(client.post(URL, json={"volumes": []}, headers=admin), 422)
    assert_error(client.post(URL, json={}, headers=admin), 422)
    too_many = [{"day": "2025-03-03", "channel": "manual", "count": 1}] * 10_001
    assert_error(client.post(URL, json={"volumes": too_many}, headers=admin), 422)


def test_ten_thousand_items_are_accepted_in_one_request(client, auth, demo):
    from datetime import date, timedelta

    start = date(2000, 1, 1)
    items = [{"day": (start + timedelta(days=i // 4)).isoformat(), "channel": ("self_service", "ivr", "manual", "orders")[i % 4],
              "count": i} for i in range(10_000)]
    response = client.post(URL, json={"volumes": items}, headers=auth.headers("admin"))
    assert response.status_code == 200 and response.json == {"accepted": 10_000, "created": 10_000, "updated": 0}
