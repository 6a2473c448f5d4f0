"""Shifts (docs/design.md §16) through the API: plan, list, move, remove, import; leads for their departments."""
import io

import pytest

from tests.conftest import assert_error

NIGHT = {"starts_at": "2026-12-07T22:00:00+08:00", "ends_at": "2026-12-08T06:00:00+08:00"}


@pytest.fixture
def h(auth):
    cache = {}

    def headers(login):
        if login not in cache:
            cache[login] = auth.headers(login)
        return cache[login]
    return headers


def _group(client, h, name, members):
    response = client.post("/api/v1/groups", json={"name": name, "members": members}, headers=h("admin"))
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_a_lead_plans_moves_and_removes_a_shift_of_their_department(client, h, demo):
    zhao = demo.uid("staff.wh1")
    response = client.post("/api/v1/shifts", json={"user_id": zhao, **NIGHT, "handover": True}, headers=h("mgr.wh1"))
    assert response.status_code == 201, response.json
    shift = response.json
    assert shift["user_id"] == zhao and shift["group_id"] is None and shift["handover"] is True
    assert shift["starts_at"].startswith("2026-12-07T14:00:00") and shift["created_by_id"] == demo.uid("mgr.wh1")

    listed = client.get("/api/v1/shifts", query_string={"user_id": zhao}, headers=h("mgr.wh1")).json
    assert [s["id"] for s in listed["items"]] == [shift["id"]]
    moved = client.patch(f"/api/v1/shifts/{shift['id']}", json={"ends_at": "2026-12-08T07:00:00+08:00", "handover": False},
                         headers=h("mgr.wh1"))
    assert moved.status_code == 200, moved.json
    assert moved.json["ends_at"].startswith("2026-12-07T23:00:00") and moved.json["handover"] is False
    # The lead of the whole operations tree plans it too; the admin sees it; it is gone once removed.
    assert client.get(f"/api/v1/shifts/{shift['id']}", headers=h("mgr.ops")).status_code == 200
    assert client.delete(f"/api/v1/shifts/{shift['id']}", headers=h("mgr.ops")).status_code == 204
    assert_error(client.get(f"/api/v1/shifts/{shift['id']}", headers=h("admin")), 404)


def test_a_lead_cannot_plan_or_see_other_departments_shifts_and_staff_cannot_plan_at_all(client, h, demo):
    sun = demo.uid("staff.wh2")  # Beijing: not mgr.wh1's
    assert_error(client.post("/api/v1/shifts", json={"user_id": sun, **NIGHT}, headers=h("mgr.wh1")), 403, "not_your_department")
    assert_error(client.post("/api/v1/shifts", json={"user_id": sun, **NIGHT}, headers=h("staff.wh2")), 403)
    assert_error(client.get("/api/v1/shifts", headers=h("staff.wh2")), 403)
    theirs = client.post("/api/v1/shifts", json={"user_id": sun, **NIGHT}, headers=h("mgr.wh2")).json
    assert_error(client.get(f"/api/v1/shifts/{theirs['id']}", headers=h("mgr.wh1")), 404)
    assert_error(client.patch(f"/api/v1/shifts/{theirs['id']}", json={"handover": True}, headers=h("mgr.wh1")), 404)
    assert_error(client.delete(f"/api/v1/shifts/{theirs['id']}", headers=h("mgr.wh1")), 404)
    assert theirs["id"] not in [s["id"] for s in client.get("/api/v1/shifts", headers=h("mgr.wh1")).json["items"]]
    # Nor move one of theirs onto someone else's person.
    mine = client.post("/api/v1/shifts", json={"user_id": demo.uid("staff.wh1"), **NIGHT}, headers=h("mgr.wh1")).json
    assert_error(client.patch(f"/api/v1/shifts/{mine['id']}", json={"user_id": sun}, headers=h("mgr.wh1")), 403)
    # The admin plans anyone's.
    assert client.patch(f"/api/v1/shifts/{theirs['id']}", json={"handover": True}, headers=h("admin")).status_code == 200


def test_a_group_shift_is_planned_by_a_lead_of_all_its_members(client, h, demo):
    sh = _group(client, h, "SH night", [demo.uid("staff.wh1"), demo.uid("staff.wh1b")])
    mixed = _group(client, h, "Mixed night", [demo.uid("staff.wh1"), demo.uid("staff.wh2")])
    assert client.post("/api/v1/shifts", json={"group_id": sh, **NIGHT}, headers=h("mgr.wh1")).status_code == 201
    assert_error(client.post("/api/v1/shifts", json={"group_id": mixed, **NIGHT}, headers=h("mgr.wh1")), 403)
    assert client.post("/api/v1/shifts", json={"group_id": mixed, **NIGHT}, headers=h("mgr.ops")).status_code == 201
    # A person's shifts include their groups'.
    listed = client.get("/api/v1/shifts", query_string={"user_id": demo.uid("staff.wh1")}, headers=h("admin")).json["items"]
    assert {s["group_id"] for s in listed} == {sh, mixed}


@pytest.mark.parametrize("body, path", [
    ({**NIGHT}, "user_id"),
    ({"user_id": "me", **NIGHT}, "user_id"),
    ({"user_id": 999_999, **NIGHT}, "user_id"),
    ({"group_id": 999_999, **NIGHT}, "group_id"),
    ({"starts_at": "2026-12-07T22:00:00", "ends_at": NIGHT["ends_at"]}, "starts_at"),
    ({"starts_at": NIGHT["ends_at"], "ends_at": NIGHT["starts_at"]}, "ends_at"),
    ({"starts_at": "2026-12-01T00:00:00+08:00", "ends_at": "2026-12-09T00:00:00+08:00"}, "ends_at"),
    ({**NIGHT, "handover": "yes"}, "handover"),
    ({**NIGHT, "colour": "red"}, "colour"),
])
def test_a_bad_shift_is_refused_at_its_path(client, h, demo, body, path):
    if "user_id" not in body and "group_id" not in body and path != "user_id":
        body = {"user_id": demo.uid("staff.wh1"), **body}
    if path == "user_id" and "user_id" not in body:
        body = {"user_id": demo.uid("staff.wh1"), "group_id": 1, **body}
    error = assert_error(client.post("/api/v1/shifts", json=body, headers=h("admin")), 422)
    assert path in error["details"], error


def test_a_persons_shifts_never_overlap(client, h, demo):
    """Two shifts of one person (or one group) at once would make "on duty" and the end's hand-back ambiguous: the
    second is refused at starts_at, naming the first; back to back, or another person's, is fine."""
    zhao = demo.uid("staff.wh1")
    first = client.post("/api/v1/shifts", json={"user_id": zhao, **NIGHT}, headers=h("mgr.wh1")).json
    clash = {"user_id": zhao, "starts_at": "2026-12-08T05:00:00+08:00", "ends_at": "2026-12-08T13:00:00+08:00"}
    error = assert_error(client.post("/api/v1/shifts", json=clash, headers=h("mgr.wh1")), 422)
    assert error["details"] == {"starts_at": [f"overlaps shift {first['id']} of the same person or group"]}
    chinese = client.post("/api/v1/shifts", json=clash, headers={**h("mgr.wh1"), "Accept-Language": "zh-CN"}).json
    assert chinese["error"]["details"]["starts_at"] == [f"与同一人或同一小组的班次 {first['id']} 时间重叠"]
    after = {"user_id": zhao, "starts_at": NIGHT["ends_at"], "ends_at": "2026-12-08T14:00:00+08:00"}
    second = client.post("/api/v1/shifts", json=after, headers=h("mgr.wh1"))
    assert second.status_code == 201, second.json  # back to back
    assert client.post("/api/v1/shifts", json={"user_id": demo.uid("staff.wh1b"), **NIGHT}, headers=h("mgr.wh1")).status_code == 201
    # Moving one onto the other is refused too; moving it onto itself is not an overlap.
    moved = client.patch(f"/api/v1/shifts/{second.json['id']}", json={"starts_at": "2026-12-08T05:00:00+08:00"}, headers=h("mgr.wh1"))
    assert_error(moved, 422)
    assert client.patch(f"/api/v1/shifts/{first['id']}", json={"handover": True}, headers=h("mgr.wh1")).status_code == 200
    # And in an import, at the row.
    csv_text = "login,group,starts_at,ends_at,handover\nstaff.wh1,,2026-12-08 01:00,2026-12-08 09:00,no\n"
    response = client.post("/api/v1/shifts/import", data={"file": (io.BytesIO(csv_text.encode()), "shifts.csv")},
                           headers=h("mgr.wh1"), content_type="multipart/form-data")
    problems = assert_error(response, 422, "import_invalid")["details"]["rows"]
    assert [(p["row"], p["column"]) for p in problems] == [(2, "starts_at")]


def test_shifts_import_from_csv_and_xlsx_with_every_problem_named(client, h, demo):
    _group(client, h, "SH day", [demo.uid("staff.wh1b")])
    csv_text = ("login,group,starts_at,ends_at,handover\n"
                "staff.wh1,,2026-12-07 22:00,2026-12-08 06:00,yes\n"
                ",SH day,2026-12-08T08:00:00+08:00,2026-12-08T16:00:00+08:00,\n")
    files = {"file": (io.BytesIO(csv_text.encode()), "shifts.csv")}
    response = client.post("/api/v1/shifts/import", data=files, headers=h("mgr.wh1"), content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert response.json["created"] == 2
    shifts = client.get("/api/v1/shifts", headers=h("mgr.wh1")).json["items"]
    night = next(s for s in shifts if s["user_id"] == demo.uid("staff.wh1"))
    assert night["starts_at"].startswith("2026-12-07T14:00:00") and night["handover"] is True  # Shanghai time

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Night shifts, week 50"])  # a title banner above the header
    sheet.append(["login", "group", "starts_at", "ends_at", "handover"])
    sheet.append(["staff.wh1", None, "2026-12-09 22:00", "2026-12-10 06:00", "no"])
    sheet.append(["staff.wh2", None, "2026-12-09 22:00", "2026-12-10 06:00", "no"])  # Beijing: not this lead's
    sheet.append(["nobody", None, "2026-12-09 22:00", "2026-12-10 06:00", "no"])
    sheet.append(["staff.wh1", "SH day", "2026-12-09 22:00", "2026-12-10 06:00", "no"])
    sheet.append(["staff.wh1", None, "tonight", "2026-12-10 06:00", "maybe"])
    sheet.append(["staff.wh1", None, "2026-12-10 06:00", "2026-12-09 22:00", ""])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    response = client.post("/api/v1/shifts/import", data={"file": (out, "shifts.xlsx")}, headers=h("mgr.wh1"),
                           content_type="multipart/form-data")
    error = assert_error(response, 422, "import_invalid")
    problems = {(p["row"], p["column"]) for p in error["details"]["rows"]}
    assert problems == {(4, "login"), (5, "login"), (6, "group"), (7, "starts_at"), (7, "handover"), (8, "ends_at")}, problems
    assert len(client.get("/api/v1/shifts", headers=h("admin")).json["items"]) == 2  # all or nothing


def test_importing_shifts_is_for_leads_and_admins(client, h, demo):
    files = {"file": (io.BytesIO(b"login,starts_at,ends_at\n"), "shifts.csv")}
    assert_error(client.post("/api/v1/shifts/import", data=files, headers=h("staff.wh1"), content_type="multipart/form-data"), 403)


def test_me_says_whether_you_are_on_duty_by_your_shifts_and_which_shift(client, h, demo):
    from datetime import timedelta

    from app.common.clock import utcnow

    me = client.get("/api/v1/me", headers=h("staff.wh1")).json
    assert me["on_duty"] is True and me["on_duty_now"] is True and me["shift"] is None  # no shifts: the switch
    now = utcnow()
    later = {"user_id": demo.uid("staff.wh1"), "starts_at": (now + timedelta(hours=3)).isoformat(),
             "ends_at": (now + timedelta(hours=11)).isoformat()}
    assert client.post("/api/v1/shifts", json=later, headers=h("mgr.wh1")).status_code == 201
    me = client.get("/api/v1/me", headers=h("staff.wh1")).json
    assert me["on_duty"] is True and me["on_duty_now"] is False  # the switch is on, but the shift is tonight's
    assert me["shift"]["starts_at"][:16] == (now + timedelta(hours=3)).isoformat()[:16]
