"""The permission matrix (docs/design.md §5): every endpoint under /api/v1, called as every kind of caller.

One row per (method, rule) of the app's URL map; a new endpoint without a row fails the test.
Each cell is the expected answer:

- 401: no credentials;
- 403: the caller is known but may not do this (or an API key without the scope, or a key where a person must act);
- 404: the object exists but its existence is private to this caller;
- OK: allowed, so 2xx, or a 409/422 about the state of the object or the body, never 401/403/404;
- 2xx: allowed and the request is valid, so it succeeds.
"""
import io
import re
from dataclasses import dataclass
from typing import Callable

import pytest

from app.extensions import db
from tests.hardening import world as worlds
from tests.hardening.world import CALENDAR, PNG, V1

OK, SUCCESS = "OK", "2xx"
# Who calls: anonymous, staff of a department not involved, staff who is a candidate of the task, the lead who opened
# the work orders, quality, admin, and one API key per scope.
PRINCIPALS = ("anonymous", "other_staff", "candidate", "lead", "quality", "admin",
              "key:orders:write", "key:inventory:write", "key:volumes:write", "key:catalog:write")
LOGINS = {"other_staff": "driver.li", "candidate": "staff.wh1", "lead": "lead.cs", "quality": "quality.qa", "admin": "admin"}
PEOPLE = tuple(LOGINS)
KEYS = tuple(p for p in PRINCIPALS if p.startswith("key:"))


def cells(default=403, *, anonymous=401, people=None, keys=None, **by_principal) -> dict:
    """Expected answers: `default` everywhere, then per group (people, keys) and per principal (other_staff=404 …)."""
    expected = {p: default for p in PRINCIPALS}
    expected["anonymous"] = anonymous
    for group, value in ((PEOPLE, people), (KEYS, keys)):
        if value is not None:
            expected.update({p: value for p in group})
    for name, value in by_principal.items():
        expected[name.replace("__", ":")] = value  # key__orders__write names key:orders:write
    return expected


def admin_only(**extra):
    return cells(**{"admin": SUCCESS, **extra})


def admin_and_lead(**extra):
    return cells(**{"admin": SUCCESS, "lead": SUCCESS, **extra})


def every_person(value=SUCCESS, **extra):
    return cells(people=value, **extra)


def readers(value=SUCCESS, **extra):
    """Andons, batches and traceability: quality, admins and leads (docs/design.md §5), and holders of andon.pull."""
    return cells(**{"quality": value, "admin": value, "lead": value, **extra})


# The work order and task everyone acts on: opened by the lead for the warehouses, so the candidate and lead see it,
# staff of another department and quality (it is not a quality work order) do not.
ON_WORK_ORDER = dict(other_staff=404, candidate=SUCCESS, lead=SUCCESS, quality=404, admin=SUCCESS)


@dataclass
class Row:
    expected: dict
    params: Callable = lambda w: {}
    body: Callable | None = None
    fresh: Callable | None = None  # fresh(world, principal): new objects for each caller, for calls that change state
    multipart: bool = False


def fresh_task(w, _principal=None, claimed_by=None):
    """A new stock-check work order whose one pool task lists the candidate."""
    created = w.client.post(f"{V1}/work-orders", json={"template": "stock_check", "title": "matrix"}, headers=w.bearer("lead.cs"))
    assert created.status_code == 201, created.json
    task_id = created.json["tasks"][0]["id"]
    if claimed_by:
        claimed = w.client.post(f"{V1}/tasks/{task_id}/claim", json={}, headers=w.bearer(claimed_by))
        assert claimed.status_code == 200, claimed.json
    return {"work_order_id": created.json["id"], "task_id": task_id}


def claimed_task(w, _principal=None):
    return fresh_task(w, claimed_by="staff.wh1")


def returnable_task(w, _principal=None):
    """A complaint past customer service's triage, its warehouse check (which allows returns) claimed by the candidate."""
    created = w.client.post(f"{V1}/work-orders", json={"template": "complaint", "title": "matrix"}, headers=w.bearer("lead.cs"))
    assert created.status_code == 201, created.json
    agent = w.bearer("cs.agent2") if "cs.agent2" in w.tokens else None
    if agent is None:
        w.tokens["cs.agent2"] = worlds.login(w.client, "cs.agent2")
        agent = w.bearer("cs.agent2")
    triage = created.json["tasks"][0]["id"]
    done = w.client.post(f"{V1}/tasks/{triage}/complete", json={"outcome": "accepted"}, headers=agent)
    assert done.status_code == 200, done.json
    detail = w.client.get(f"{V1}/work-orders/{created.json['id']}", headers=w.bearer("admin")).json
    (check,) = [t["id"] for t in detail["tasks"] if t["step"] == "warehouse_check" and t["status"] == "open"]
    claimed = w.client.post(f"{V1}/tasks/{check}/claim", json={}, headers=w.bearer("staff.wh1"))
    assert claimed.status_code == 200, claimed.json
    return {"work_order_id": created.json["id"], "task_id": check}


def own_subscription(w, principal):
    """Unsubscribing needs a subscription of one's own."""
    if principal in LOGINS:
        subscribed = w.client.post(f"{V1}/push/subscriptions", json=SUBSCRIPTION, headers=w.bearer(LOGINS[principal]))
        assert subscribed.status_code == 201, subscribed.json
    return {}


SUBSCRIPTION = {"endpoint": "https://push.example.com/send/matrix",
                "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                         "auth": "tBHItJI5svbpez7KI4CCXg"}}


def entry_point(w, _principal=None):
    """A new QR entry point on the stock check (its code is the grant anyone signed in scans with)."""
    created = w.client.post(f"{V1}/entry-points", json={"name": "Matrix shelf", "template": "stock_check"}, headers=w.bearer("admin"))
    assert created.status_code == 201, created.json
    return {"entry_point_id": created.json["id"], "code": created.json["code"]}


def fresh_shift(w, _principal=None):
    """A shift of a customer-service agent (the lead's department), planned by the admin."""
    created = w.client.post(f"{V1}/shifts", json={"user_id": uid(w, "cs.agent2"), **next_shift(w)}, headers=w.bearer("admin"))
    assert created.status_code == 201, created.json
    return {"shift_id": created.json["id"]}


def next_shift(w):
    """Times for one more shift of the agent: the first call plans one around now (so the agent stays on duty for the
    other rows: someone with shifts is on duty only inside them), and each call answers a later half hour of its
    own (a person's shifts never overlap)."""
    from datetime import timedelta

    from app.common.clock import utcnow

    now = utcnow()
    count = w.ids.get("shifts_planned", 0)
    if count == 0:
        keeper = {"user_id": uid(w, "cs.agent2"), "starts_at": (now - timedelta(days=1)).isoformat(),
                  "ends_at": (now + timedelta(days=6)).isoformat()}
        assert w.client.post(f"{V1}/shifts", json=keeper, headers=w.bearer("admin")).status_code == 201
    w.ids["shifts_planned"] = count + 1
    start = now + timedelta(days=7, hours=count)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=30)).isoformat()}


def sku_body(w):
    return {"products": [{"sku": w.ids["sku"], "name": "Hardening milk", "owner_department": "MER"}]}


def uid(w, login):
    from sqlalchemy import select

    from app.org.models import User

    return db.session.scalar(select(User.id).where(User.login == login))


TABLE: dict[tuple[str, str], Row] = {
    # --- public ---
    ("GET", "/api/v1/openapi.json"): Row(cells(SUCCESS, anonymous=SUCCESS)),
    ("POST", "/api/v1/auth/login"): Row(cells(SUCCESS, anonymous=SUCCESS), body=lambda w: {"login": "cs.agent2", "password": "baton-demo"}),
    ("GET", "/api/v1/push/vapid-public-key"): Row(cells(SUCCESS, anonymous=SUCCESS)),
    # --- auth: API keys are the admin's ---
    ("GET", "/api/v1/api-keys"): Row(admin_only()),
    ("POST", "/api/v1/api-keys"): Row(admin_only(), body=lambda w: {"name": "matrix", "scopes": ["orders:write"]}),
    ("DELETE", "/api/v1/api-keys/<int:key_id>"): Row(admin_only(), params=lambda w: {"key_id": w.ids["spare_key"]}),
    # --- organisation ---
    ("GET", "/api/v1/departments"): Row(admin_and_lead()),
    ("POST", "/api/v1/departments"): Row(admin_only(admin=OK), body=lambda w: {"code": "MATRIX", "name": "Matrix", "kind": "warehouse"}),
    ("GET", "/api/v1/departments/<int:department_id>"): Row(admin_and_lead(), params=lambda w: {"department_id": w.ids["department"]}),
    ("PATCH", "/api/v1/departments/<int:department_id>"): Row(admin_only(), params=lambda w: {"department_id": w.ids["department"]},
                                                              body=lambda w: {"name": "Baton Retail HQ"}),
    ("GET", "/api/v1/calendars"): Row(admin_and_lead()),
    ("POST", "/api/v1/calendars"): Row(admin_only(admin=OK), body=lambda w: CALENDAR),
    ("GET", "/api/v1/calendars/<int:calendar_id>"): Row(admin_and_lead(), params=lambda w: {"calendar_id": w.ids["calendar"]}),
    ("PUT", "/api/v1/calendars/<int:calendar_id>"): Row(admin_only(), params=lambda w: {"calendar_id": w.ids["calendar"]},
                                                        body=lambda w: CALENDAR),
    ("GET", "/api/v1/users"): Row(admin_and_lead()),
    ("POST", "/api/v1/users/import"): Row(admin_only(admin=OK), multipart=True),  # a PNG: 422 for the admin, refused to the rest
    ("GET", "/api/v1/users/export.csv"): Row(admin_only()),
    ("GET", "/api/v1/users/<int:user_id>/work"): Row(admin_only(), params=lambda w: {"user_id": w.ids["spare_user"]}),
    ("POST", "/api/v1/users"): Row(admin_only(admin=OK), body=lambda w: {"login": "matrix.user", "password": "matrix-password-1",
                                                                         "name": "Matrix", "roles": ["staff"]}),
    ("GET", "/api/v1/users/<int:user_id>"): Row(admin_and_lead(), params=lambda w: {"user_id": w.ids["spare_user"]}),
    ("PATCH", "/api/v1/users/<int:user_id>"): Row(admin_only(), params=lambda w: {"user_id": w.ids["spare_user"]},
                                                  body=lambda w: {"name": "徐店长 Xu (merchant)"}),
    ("GET", "/api/v1/groups"): Row(admin_and_lead()),
    ("POST", "/api/v1/groups"): Row(admin_only(admin=OK), body=lambda w: {"name": "Matrix group"}),
    ("PATCH", "/api/v1/groups/<int:group_id>"): Row(admin_only(), params=lambda w: {"group_id": w.ids["group"]},
                                                    body=lambda w: {"description": "pickers"}),
    # Shifts: leads for their departments (the lead's own agent here), admins for all (docs/design.md §16).
    ("GET", "/api/v1/shifts"): Row(admin_and_lead()),
    ("POST", "/api/v1/shifts"): Row(admin_and_lead(), body=lambda w: {"user_id": uid(w, "cs.agent2"), **next_shift(w)}),
    ("GET", "/api/v1/shifts/<int:shift_id>"): Row(admin_and_lead(), fresh=fresh_shift),
    ("PATCH", "/api/v1/shifts/<int:shift_id>"): Row(admin_and_lead(), fresh=fresh_shift, body=lambda w: {"handover": True}),
    ("DELETE", "/api/v1/shifts/<int:shift_id>"): Row(admin_and_lead(), fresh=fresh_shift),
    ("POST", "/api/v1/shifts/import"): Row(cells(admin=OK, lead=OK), multipart=True),  # a PNG: 422 for those allowed
    # A key never acts as a person (docs/design.md §5).
    ("GET", "/api/v1/me"): Row(every_person()),
    ("GET", "/api/v1/people"): Row(every_person()),
    ("PATCH", "/api/v1/me"): Row(every_person(), body=lambda w: {"locale": "en"}),
    # --- flow templates: everyone signed in reads them, admins write them ---
    ("GET", "/api/v1/templates"): Row(every_person()),
    ("POST", "/api/v1/templates"): Row(admin_only(admin=OK), body=lambda w: {
        "key": "matrix", "name": "Matrix", "steps": [{"key": "do", "title": "Do", "assignees": {"roles": [{"role": "staff"}]}}]}),
    ("GET", "/api/v1/templates/<string:key>"): Row(every_person(), params=lambda w: {"key": w.ids["template"]}),
    ("PUT", "/api/v1/templates/<string:key>"): Row(admin_only(admin=OK), params=lambda w: {"key": "safety_briefing"}, body=lambda w: {
        "name": "Safety briefing", "steps": [{"key": "acknowledge", "title": "Acknowledge", "mode": "each",
                                              "assignees": {"roles": [{"role": "staff"}]}}]}),
    ("PATCH", "/api/v1/templates/<string:key>"): Row(admin_only(), params=lambda w: {"key": "safety_briefing"},
                                                     body=lambda w: {"active": True}),
    # The designer's live check of a draft: the same validation as publishing, nothing written.
    ("POST", "/api/v1/templates/validate"): Row(admin_only(), body=lambda w: {
        "key": "matrix", "name": "Matrix", "steps": [{"key": "do", "title": "Do", "assignees": {"roles": [{"role": "staff"}]}}]}),
    # The dry run names who would get each step: the people who design and steer flows (admins, leads).
    ("POST", "/api/v1/templates/<string:key>/dry-run"): Row(admin_and_lead(), params=lambda w: {"key": w.ids["template"]},
                                                            body=lambda w: {}),
    # The designer's compare of two versions: a read, like the template itself.
    ("GET", "/api/v1/templates/<string:key>/diff"): Row(every_person(), params=lambda w: {"key": w.ids["template"]}),
    # Who an assignee selection names today (the designer's live count): those who may dry-run a flow.
    ("POST", "/api/v1/assignees/count"): Row(admin_and_lead(), body=lambda w: {"roles": [{"role": "lead"}]}),
    ("GET", "/api/v1/classifications"): Row(every_person()),
    ("POST", "/api/v1/classifications"): Row(admin_only(), body=lambda w: {"tree": "problem", "path": ["Matrix", "Row"]}),
    # --- work orders ---
    ("GET", "/api/v1/work-orders"): Row(every_person()),  # each sees their own slice (checked in tests/workorders)
    ("POST", "/api/v1/work-orders"): Row(cells(lead=SUCCESS, quality=SUCCESS, admin=SUCCESS),
                                         body=lambda w: {"template": "stock_check", "title": "Matrix count"}),
    ("GET", "/api/v1/work-orders/<int:work_order_id>"): Row(cells(**ON_WORK_ORDER), params=lambda w: {"work_order_id": w.ids["work_order"]}),
    ("GET", "/api/v1/work-orders/<int:work_order_id>/tasks"): Row(cells(**ON_WORK_ORDER), params=lambda w: {"work_order_id": w.ids["work_order"]}),
    ("POST", "/api/v1/work-orders/<int:work_order_id>/cancel"): Row(
        cells(other_staff=404, candidate=403, lead=SUCCESS, quality=404, admin=SUCCESS), fresh=fresh_task,
        body=lambda w: {"reason": "matrix"}),
    ("POST", "/api/v1/work-orders/<int:work_order_id>/escalate"): Row(
        cells(other_staff=403, candidate=403, lead=SUCCESS, quality=404, admin=SUCCESS), fresh=fresh_task,
        body=lambda w: {"reason": "matrix"}),
    ("POST", "/api/v1/work-orders/<int:work_order_id>/comments"): Row(cells(**ON_WORK_ORDER), params=lambda w: {"work_order_id": w.ids["work_order"]},
                                                                      body=lambda w: {"body": "matrix"}),
    ("POST", "/api/v1/work-orders/<int:work_order_id>/attachments"): Row(cells(**ON_WORK_ORDER), multipart=True,
                                                                         params=lambda w: {"work_order_id": w.ids["work_order"]}),
    ("GET", "/api/v1/attachments/<int:attachment_id>"): Row(cells(**ON_WORK_ORDER), params=lambda w: {"attachment_id": w.ids["attachment"]}),
    # The view link answers to its token alone (none here: 422 for everyone); tests/workorders/test_attachment_links.py
    # checks who a token lets in.
    ("GET", "/api/v1/attachments/<int:attachment_id>/view"): Row(cells(422, anonymous=422, people=422, keys=422),
                                                                params=lambda w: {"attachment_id": w.ids["attachment"]}),
    ("POST", "/api/v1/attachments/<int:attachment_id>/confirm"): Row(cells(**ON_WORK_ORDER),
                                                                     params=lambda w: {"attachment_id": w.ids["attachment"]}),
    # --- QR entry points: admins keep and print them; the printed code lets anyone signed in open its work order ---
    ("GET", "/api/v1/entry-points"): Row(admin_only()),
    ("POST", "/api/v1/entry-points"): Row(admin_only(), body=lambda w: {"name": "Matrix counter", "template": "stock_check"}),
    ("GET", "/api/v1/entry-points/<int:entry_point_id>"): Row(admin_only(), fresh=entry_point),
    ("PATCH", "/api/v1/entry-points/<int:entry_point_id>"): Row(admin_only(), fresh=entry_point, body=lambda w: {"name": "Matrix bay"}),
    ("GET", "/api/v1/entry-points/<int:entry_point_id>/qr.png"): Row(admin_only(), fresh=entry_point),
    ("GET", "/api/v1/entry-points/qr.pdf"): Row(admin_only(), fresh=entry_point),  # every active one
    ("GET", "/api/v1/entry-points/by-code/<string:code>"): Row(every_person(), fresh=entry_point),
    ("POST", "/api/v1/entry-points/by-code/<string:code>/work-orders"): Row(every_person(), fresh=entry_point,
                                                                            body=lambda w: {"title": "Matrix scan"}),
    # --- tasks: handlers act on their own tasks; leads steer them ---
    ("GET", "/api/v1/tasks/inbox"): Row(every_person()),
    ("GET", "/api/v1/tasks/<int:task_id>"): Row(cells(**ON_WORK_ORDER), params=lambda w: {"task_id": w.ids["task"]}),
    ("POST", "/api/v1/tasks/<int:task_id>/claim"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=403, quality=404, admin=403), fresh=fresh_task, body=lambda w: {}),
    ("POST", "/api/v1/tasks/<int:task_id>/release"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=403, quality=404, admin=403),
        fresh=claimed_task, body=lambda w: {"reason": "matrix"}),
    ("POST", "/api/v1/tasks/<int:task_id>/complete"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=403, quality=404, admin=403), fresh=fresh_task,
        body=lambda w: {"outcome": "matches", "data": {"counted": 3}}),
    ("POST", "/api/v1/tasks/<int:task_id>/return"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=403, quality=404, admin=403),
        fresh=returnable_task, body=lambda w: {"reason": "matrix"}),
    ("POST", "/api/v1/tasks/<int:task_id>/transfer"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=OK, quality=404, admin=OK),
        fresh=claimed_task, body=lambda w: {"to_user": uid(w, "staff.wh1b")}),
    ("POST", "/api/v1/tasks/<int:task_id>/candidates"): Row(
        cells(other_staff=403, candidate=403, lead=SUCCESS, quality=404, admin=SUCCESS), fresh=fresh_task,
        body=lambda w: {"add": [uid(w, "staff.wh2b")]}),
    # --- notifications and push ---
    ("POST", "/api/v1/push/subscriptions"): Row(every_person(), body=lambda w: SUBSCRIPTION),
    ("DELETE", "/api/v1/push/subscriptions"): Row(every_person(), fresh=own_subscription,
                                                  body=lambda w: {"endpoint": SUBSCRIPTION["endpoint"]}),
    ("GET", "/api/v1/notifications"): Row(every_person()),
    ("GET", "/api/v1/changes"): Row(every_person()),
    ("POST", "/api/v1/notifications/read"): Row(every_person(), body=lambda w: {"all": True}),
    ("GET", "/api/v1/me/channels"): Row(every_person()),
    ("GET", "/api/v1/people/unreachable"): Row(cells(lead=SUCCESS, admin=SUCCESS)),
    # Web Push without VAPID keys in this world: a 422 about the channel, never 401/403/404 for a person
    ("POST", "/api/v1/me/channels/test"): Row(every_person(OK), body=lambda w: {"channel": "webpush"}),
    # a card's signed link: any person may try one, a made-up token is 422 link_invalid (never 401/403/404 for a person)
    ("POST", "/api/v1/links/redeem"): Row(every_person(OK), body=lambda w: {"token": "1.2.c.3.made-up"}),
    # --- integrations: admin, or a key with the matching scope ---
    ("POST", "/api/v1/products"): Row(admin_only(key__catalog__write=SUCCESS), body=sku_body),
    ("POST", "/api/v1/batches"): Row(admin_only(key__catalog__write=SUCCESS), body=lambda w: {
        "batches": [{"batch_no": w.ids["batch_no"], "sku": w.ids["sku"], "supplier": "Dairy"}]}),
    ("POST", "/api/v1/orders"): Row(admin_only(key__orders__write=SUCCESS), body=lambda w: {
        "orders": [{"order_no": "SO-MATRIX-1", "lines": [{"sku": w.ids["sku"], "qty": 1}]}]}),
    ("POST", "/api/v1/inventory/events"): Row(admin_only(key__inventory__write=SUCCESS), body=lambda w: {
        "events": [{"sku": w.ids["sku"], "warehouse": "WH-SH-01", "on_hand": 50, "available": 50, "unfulfillable_orders": 0,
                    "at": "2026-11-01T08:00:00+00:00"}]}),
    # --- quality: traceability and the andon ---
    # The world's product is owned by MER: the lead (customer service) reads neither it nor its andon (404, as if absent),
    # and lists andons of its own departments only.
    ("GET", "/api/v1/products/<string:sku>"): Row(readers(lead=404, key__catalog__write=SUCCESS), params=lambda w: {"sku": w.ids["sku"]}),
    ("GET", "/api/v1/batches/<string:batch_no>/trace"): Row(readers(lead=404), params=lambda w: {"batch_no": w.ids["batch_no"]}),
    # A recall: the world's product-wide pause recalls nothing, so quality opens a batch andon; admin's pull is then covered (409).
    ("POST", "/api/v1/andon"): Row(cells(quality=SUCCESS, admin=OK), body=lambda w: {
        "scope": "batch", "batch_no": w.ids["batch_no"], "action": "recall", "reason": "matrix"}),
    ("GET", "/api/v1/andon"): Row(readers()),
    ("GET", "/api/v1/andon/<int:andon_id>"): Row(readers(lead=404), params=lambda w: {"andon_id": w.ids["andon"]}),
    ("POST", "/api/v1/andon/<int:andon_id>/resolve"): Row(cells(other_staff=404, candidate=404, lead=404, quality=SUCCESS, admin=OK), params=lambda w: {"andon_id": w.ids["andon"]},
                                                          body=lambda w: {"note": "matrix"}),
    # --- metrics and evaluations (docs/design.md §8): leads and admins; service volumes from the contact centre's key ---
    ("GET", "/api/v1/work-orders/<int:work_order_id>/evaluation"): Row(
        cells(other_staff=404, candidate=SUCCESS, lead=SUCCESS, quality=404, admin=SUCCESS),
        params=lambda w: {"work_order_id": w.ids["resolved_work_order"]}),
    # The contact-centre system (volumes:write) records the customer's answer, never the QA score.
    ("POST", "/api/v1/work-orders/<int:work_order_id>/evaluation"): Row(
        cells(other_staff=403, candidate=403, lead=SUCCESS, quality=404, admin=SUCCESS, key__volumes__write=SUCCESS),
        params=lambda w: {"work_order_id": w.ids["resolved_work_order"]}, body=lambda w: {"resolved": True}),
    ("POST", "/api/v1/service-volumes"): Row(admin_only(key__volumes__write=SUCCESS), body=lambda w: {
        "volumes": [{"day": "2026-11-01", "channel": "ivr", "count": 120}]}),
    ("GET", "/api/v1/metrics/summary"): Row(admin_and_lead()),
    ("GET", "/api/v1/team"): Row(admin_and_lead()),
    ("GET", "/api/v1/metrics/export.csv"): Row(admin_and_lead()),
    ("GET", "/api/v1/metrics/effort-weights"): Row(admin_and_lead()),
    ("PUT", "/api/v1/metrics/effort-weights"): Row(admin_only(), body=lambda w: default_weights()),
}


def default_weights() -> dict:
    from app.metrics.effort import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


def api_endpoints(app) -> set[tuple[str, str]]:
    """Every (method, rule) the app serves under /api/v1, HEAD and OPTIONS aside."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{V1}/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


@pytest.mark.parametrize("backend", ["sqlite"])  # the URL map does not depend on the database
def test_every_endpoint_has_a_row(app):
    served = api_endpoints(app)
    missing = sorted(served - set(TABLE))
    stale = sorted(set(TABLE) - served)
    assert not missing, f"endpoints without a row in the permission matrix: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


def _path(rule: str, params: dict) -> str:
    def value(match):
        name = match.group(2)
        assert name in params, (rule, name)
        return str(params[name])

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, rule)


def _headers(world, principal: str) -> dict:
    if principal == "anonymous":
        return {}
    if principal.startswith("key:"):
        return world.api_key(principal[4:])
    return world.bearer(LOGINS[principal])


def _matches(expected, status: int) -> bool:
    if expected == SUCCESS:
        return 200 <= status < 300
    if expected == OK:
        return 200 <= status < 300 or status in (409, 422)
    return status == expected


@pytest.fixture
def world(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "VAPID_PUBLIC_KEY", "BMatrixPublicKeyForTheMatrixTestOnly")
    return worlds.build(client)


def test_permission_matrix(app, client, world):
    """Call every endpoint as every caller; report every cell that differs, not just the first."""
    assert api_endpoints(app) == set(TABLE), "see test_every_endpoint_has_a_row"
    mismatches = []
    for (method, rule), row in sorted(TABLE.items()):
        for principal in PRINCIPALS:
            params = row.fresh(world, principal) if row.fresh else row.params(world)
            kwargs = {"headers": _headers(world, principal)}
            if row.multipart:
                kwargs.update(data={"file": (io.BytesIO(PNG), "matrix.png")}, content_type="multipart/form-data")
            elif row.body is not None:
                kwargs["json"] = row.body(world)
            response = client.open(_path(rule, params), method=method, **kwargs)
            expected = row.expected[principal]
            if not _matches(expected, response.status_code):
                detail = response.json["error"]["code"] if response.is_json and "error" in (response.json or {}) else ""
                mismatches.append(f"{method} {rule} as {principal}: expected {expected}, got {response.status_code} {detail}")
            if response.status_code >= 400:
                body = response.json
                assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, (method, rule, body)
            db.session.rollback()
    assert not mismatches, "\n".join(["permission matrix differs:"] + mismatches)

    # A 200 on a list is no leak either: staff of another department and quality find none of these work orders.
    private = {world.ids["work_order"], world.ids["private_work_order"], world.ids["resolved_work_order"]}
    for principal in ("other_staff", "quality"):
        headers = _headers(world, principal)
        listed = {wo["id"] for wo in client.get(f"{V1}/work-orders?per_page=500", headers=headers).json["items"]}
        assert not listed & private, (principal, listed & private)
        inbox = client.get(f"{V1}/tasks/inbox", headers=headers).json
        assert not {t["work_order_id"] for t in inbox["mine"] + inbox["pool"]} & private, principal
    listed = {wo["id"] for wo in client.get(f"{V1}/work-orders?per_page=500", headers=_headers(world, "candidate")).json["items"]}
    assert world.ids["work_order"] in listed and world.ids["private_work_order"] not in listed


def test_reads_never_write(app, client, world):
    """Every GET, as every caller, runs no INSERT, UPDATE or DELETE (and on SQLite takes no write lock for it)."""
    from sqlalchemy import event

    writes: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in ("INSERT", "UPDATE", "DELETE", "MERGE") or "pg_advisory" in statement:
            writes.append(statement.split("\n")[0][:120])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for (method, rule), row in sorted(TABLE.items()):
            if method != "GET":
                continue
            for principal in PRINCIPALS:
                params = row.fresh(world, principal) if row.fresh else row.params(world)
                writes.clear()
                response = client.get(_path(rule, params), headers=_headers(world, principal))
                assert not writes, (rule, principal, response.status_code, writes)
                db.session.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
