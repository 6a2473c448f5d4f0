"""A small, real world for the hardening tests: the demo organisation, work orders, keys, a product and an andon.

Everything is created through the HTTP API (as a client would), so ids used by the fuzzer and the
permission matrix point at real rows.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db

V1 = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SCOPES = ("orders:write", "inventory:write", "volumes:write", "catalog:write")
# The people every hardening test acts as (docs/design.md §5 roles).
PEOPLE = ("admin", "lead.cs", "staff.wh1", "driver.li", "quality.qa")


# A business calendar of the world's own (the built-in one cannot be edited).
CALENDAR = {"name": "Matrix hours", "timezone": "Asia/Shanghai", "week": {"mon": [["09:00", "17:00"]], "fri": [["09:00", "12:00"]]}}


@dataclass
class World:
    client: object
    tokens: dict = field(default_factory=dict)  # login -> bearer token
    keys: dict = field(default_factory=dict)  # name -> secret
    key_ids: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)  # what the objects are called -> id / key

    def bearer(self, login: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[login]}"}

    def api_key(self, name: str) -> dict:
        return {"X-API-Key": self.keys[name]}


def _ok(response, status=(200, 201)):
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:1000])
    return response.json


def seed(client) -> None:
    """The demo organisation, classification trees and every built-in template (no work orders)."""
    from app.seed import seed_classifications, seed_organisation, seed_templates

    seed_organisation()
    seed_classifications()
    seed_templates()
    db.session.commit()


def login(client, who: str) -> str:
    response = client.post(f"{V1}/auth/login", json={"login": who, "password": "baton-demo"},
                           environ_base={"REMOTE_ADDR": "10.77.0.1"})
    return _ok(response)["token"]


def build(client, *, people=PEOPLE) -> World:
    """Seed and create one of each object the API serves; answer their ids."""
    seed(client)
    world = World(client=client)
    for who in people:
        world.tokens[who] = login(client, who)
    admin = world.bearer("admin")

    for scope in SCOPES:
        created = _ok(client.post(f"{V1}/api-keys", json={"name": f"key {scope}", "scopes": [scope]}, headers=admin))
        world.keys[scope], world.key_ids[scope] = created["key"], created["id"]
    created = _ok(client.post(f"{V1}/api-keys", json={"name": "all scopes", "scopes": list(SCOPES)}, headers=admin))
    world.keys["all"], world.key_ids["all"] = created["key"], created["id"]
    # A key nobody uses, for the revoke endpoint.
    world.ids["spare_key"] = _ok(client.post(f"{V1}/api-keys", json={"name": "spare", "scopes": ["orders:write"]}, headers=admin))["id"]
    world.ids["calendar"] = _ok(client.post(f"{V1}/calendars", json=CALENDAR, headers=admin), 201)["id"]

    lead = world.bearer("lead.cs")
    # A pool task where staff.wh1 (and every Shanghai and Beijing warehouse worker) is a candidate.
    main = _ok(client.post(f"{V1}/work-orders", json={"template": "stock_check", "title": "Count bin A-01",
                                                     "data": {"bin": "A-01"}}, headers=lead), 201)
    world.ids["work_order"], world.ids["task"] = main["id"], main["tasks"][0]["id"]
    for name in ("cancel_work_order", "escalate_work_order"):
        other = _ok(client.post(f"{V1}/work-orders", json={"template": "stock_check", "title": name}, headers=lead), 201)
        world.ids[name] = other["id"]
        world.ids[name.replace("work_order", "task")] = other["tasks"][0]["id"]
    # A work order that involves nobody but customer service: private to the warehouse.
    private = _ok(client.post(f"{V1}/work-orders", json={"template": "complaint", "title": "Late parcel"}, headers=lead), 201)
    world.ids["private_work_order"], world.ids["private_task"] = private["id"], private["tasks"][0]["id"]

    # A work order the candidate finished: resolved, and evaluated by its lead where evaluations exist.
    resolved = _ok(client.post(f"{V1}/work-orders", json={"template": "stock_check", "title": "Count bin B-02"}, headers=lead), 201)
    _ok(client.post(f"{V1}/tasks/{resolved['tasks'][0]['id']}/complete", json={"outcome": "matches", "data": {"counted": 2}},
                    headers=world.bearer("staff.wh1")))
    world.ids["resolved_work_order"] = resolved["id"]
    if client.application.url_map.bind("localhost").test(f"{V1}/work-orders/{resolved['id']}/evaluation", method="POST"):
        _ok(client.post(f"{V1}/work-orders/{resolved['id']}/evaluation", json={"resolved": True, "score": 3}, headers=lead), (200, 201))

    upload = client.post(f"{V1}/work-orders/{main['id']}/attachments", data={"file": (_bytes_io(PNG), "bin.png")},
                         headers=admin, content_type="multipart/form-data")
    world.ids["attachment"] = _ok(upload, 201)["id"]

    world.ids["department"] = _ok(client.get(f"{V1}/departments?per_page=1", headers=admin))["items"][0]["id"]
    world.ids["group"] = _ok(client.post(f"{V1}/groups", json={"name": "Hardening pickers"}, headers=admin), 201)["id"]
    from app.org.models import User

    world.ids["spare_user"] = db.session.scalar(select(User.id).where(User.login == "merchant.xu"))
    world.ids["template"] = "stock_check"

    now = datetime.now(timezone.utc).replace(microsecond=0)
    _ok(client.post(f"{V1}/products", json={"products": [{"sku": "SKU-HARD-1", "name": "Hardening milk", "owner_department": "MER"}]},
                    headers=admin))
    _ok(client.post(f"{V1}/batches", json={"batches": [{"batch_no": "B-HARD-1", "sku": "SKU-HARD-1", "supplier": "Dairy",
                                                        "produced_at": (now - timedelta(days=3)).isoformat()}]}, headers=admin))
    _ok(client.post(f"{V1}/orders", json={"orders": [{"order_no": "SO-HARD-1", "customer_ref": "C-HARD-1",
                                                      "placed_at": (now - timedelta(days=2)).isoformat(),
                                                      "lines": [{"sku": "SKU-HARD-1", "batch_no": "B-HARD-1", "qty": 1,
                                                                 "warehouse": "WH-SH-01", "driver": "driver.li",
                                                                 "shipped_at": (now - timedelta(days=2)).isoformat()}]}]},
                    headers=admin))
    world.ids["sku"], world.ids["batch_no"] = "SKU-HARD-1", "B-HARD-1"
    andon = _ok(client.post(f"{V1}/andon", json={"scope": "product", "sku": "SKU-HARD-1", "action": "pause",
                                                 "reason": "Hardening: smells off"}, headers=world.bearer("quality.qa")), 201)
    world.ids["andon"] = andon["id"]
    db.session.commit()
    return world


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)
