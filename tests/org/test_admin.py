"""Organisation administration over HTTP: departments, people, groups, permissions, pagination."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.org.models import Department, Group, User
from tests.conftest import assert_error, names

# Pure HTTP-layer behaviour: storage does not matter, so one backend is enough (CONVENTIONS, Tests).
http_only = pytest.mark.parametrize("backend", ["sqlite"])

V1 = "/api/v1"


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _new_user(client, admin, login, **fields):
    body = {"login": login, "password": "long-enough-pw", "name": login.title(), **fields}
    r = client.post(f"{V1}/users", json=body, headers=admin)
    assert r.status_code == 201, r.json
    return r.json


# --- departments ---------------------------------------------------------------------------


def test_create_department(client, auth, demo):
    admin = auth.headers("admin")
    r = client.post(f"{V1}/departments", json={"code": "WH-GZ-01", "name": "Guangzhou WH", "kind": "warehouse",
                                               "parent_id": demo.dept("OPS")}, headers=admin)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["code"] == "WH-GZ-01" and body["kind"] == "warehouse" and body["parent_id"] == demo.dept("OPS")
    assert body["active"] is True
    got = client.get(f"{V1}/departments/{body['id']}", headers=admin)
    assert got.status_code == 200 and got.json == body
    assert_error(client.get(f"{V1}/departments/999999", headers=admin), 404, "not_found")


def test_department_code_is_unique(client, auth, demo):
    admin = auth.headers("admin")
    before = _count(Department)
    err = assert_error(client.post(f"{V1}/departments", json={"code": "OPS", "name": "Another ops"}, headers=admin),
                       409, "code_taken")
    assert "code" in err["details"]
    assert_error(client.patch(f"{V1}/departments/{demo.dept('MER')}", json={"code": "QA"}, headers=admin),
                 409, "code_taken")
    assert _count(Department) == before
    # keeping one's own code is not a conflict
    assert client.patch(f"{V1}/departments/{demo.dept('MER')}", json={"code": "MER", "name": "Merchants"},
                        headers=admin).status_code == 200


def test_department_parent_and_head_must_exist(client, auth, demo):
    admin = auth.headers("admin")
    err = assert_error(client.post(f"{V1}/departments", json={"code": "X1", "name": "X", "parent_id": 999999},
                                   headers=admin), 422)
    assert "parent_id" in err["details"]
    err = assert_error(client.post(f"{V1}/departments", json={"code": "X1", "name": "X", "head_id": 999999},
                                   headers=admin), 422)
    assert "head_id" in err["details"]
    assert_error(client.patch(f"{V1}/departments/{demo.dept('QA')}", json={"parent_id": 999999}, headers=admin), 422)
    assert_error(client.post(f"{V1}/departments", json={"code": "bad code!", "name": "X"}, headers=admin), 422)
    assert_error(client.patch(f"{V1}/departments/999999", json={"name": "X"}, headers=admin), 404)
    assert db.session.scalar(select(Department).where(Department.code == "X1")) is None


def test_department_tree_cannot_get_a_cycle(client, auth, demo):
    admin = auth.headers("admin")
    # OPS > WH-SH-01; a new department under the warehouse makes the loop three long
    r = client.post(f"{V1}/departments", json={"code": "WH-SH-01-A", "name": "Aisle A", "parent_id": demo.dept("WH-SH-01")},
                    headers=admin)
    aisle = r.json["id"]
    for dept, parent in (("OPS", demo.dept("OPS")), ("OPS", demo.dept("WH-SH-01")), ("OPS", aisle), ("HQ", aisle)):
        err = assert_error(client.patch(f"{V1}/departments/{demo.dept(dept)}", json={"parent_id": parent},
                                        headers=admin), 422, "department_cycle")
        assert "parent_id" in err["details"]
    db.session.expire_all()
    assert db.session.get(Department, demo.dept("OPS")).parent_id == demo.dept("HQ")
    assert db.session.get(Department, demo.dept("HQ")).parent_id is None
    # moving sideways is fine
    r = client.patch(f"{V1}/departments/{aisle}", json={"parent_id": demo.dept("WH-BJ-01")}, headers=admin)
    assert r.status_code == 200 and r.json["parent_id"] == demo.dept("WH-BJ-01")


def test_department_with_active_children_or_members_cannot_be_deactivated(client, auth, demo):
    admin = auth.headers("admin")
    # OPS has sub-departments; WH-SH-01 has people
    for code in ("OPS", "WH-SH-01"):
        err = assert_error(client.patch(f"{V1}/departments/{demo.dept(code)}", json={"active": False}, headers=admin),
                           422, "department_not_empty")
        assert "active" in err["details"]
    db.session.expire_all()
    assert db.session.get(Department, demo.dept("OPS")).active is True
    empty = client.post(f"{V1}/departments", json={"code": "TMP", "name": "Temporary", "parent_id": demo.dept("HQ")},
                        headers=admin).json["id"]
    r = client.patch(f"{V1}/departments/{empty}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json["active"] is False
    # an inactive department takes nobody and no children
    assert_error(client.post(f"{V1}/departments", json={"code": "TMP2", "name": "T", "parent_id": empty}, headers=admin), 422)
    assert_error(client.post(f"{V1}/users", json={"login": "tmp.user", "password": "long-enough-pw", "name": "T",
                                                  "department_id": empty}, headers=admin), 422)


# --- users ---------------------------------------------------------------------------------


def test_create_user(client, auth, demo):
    admin = auth.headers("admin")
    body = _new_user(client, admin, "picker.01", department_id=demo.dept("WH-SH-01"), manager_id=demo.uid("mgr.wh1"),
                     roles=["staff"], locale="en")
    assert body["login"] == "picker.01"
    assert body["department_id"] == demo.dept("WH-SH-01") and body["manager_id"] == demo.uid("mgr.wh1")
    assert body["roles"] == ["staff"] and body["permissions"] == [] and body["locale"] == "en"
    assert "password" not in body and "password_hash" not in body
    user = db.session.get(User, body["id"])
    assert user.password_hash != "long-enough-pw" and "long-enough-pw" not in user.password_hash
    # the new person can sign in
    r = client.post(f"{V1}/auth/login", json={"login": "picker.01", "password": "long-enough-pw"})
    assert r.status_code == 200 and r.json["user"]["id"] == body["id"]


def test_login_is_unique_case_insensitively(client, auth, demo):
    admin = auth.headers("admin")
    before = _count(User)
    for login in ("staff.wh1", "STAFF.WH1", "Admin"):
        err = assert_error(client.post(f"{V1}/users", json={"login": login, "password": "long-enough-pw", "name": "Dup"},
                                       headers=admin), 409, "login_taken")
        assert "login" in err["details"]
    assert _count(User) == before


def test_user_fields_are_validated(client, auth, demo):
    admin = auth.headers("admin")
    cases = [
        ({"department_id": 999999}, "department_id"),
        ({"manager_id": 999999}, "manager_id"),
        ({"roles": ["superuser"]}, "roles"),
        ({"permissions": ["andon.push"]}, "permissions"),
        ({"locale": "de"}, "locale"),
        ({"password": "short"}, "password"),
        ({"login": "has space"}, "login"),
    ]
    for extra, field in cases:
        body = {"login": "new.person", "password": "long-enough-pw", "name": "New", **extra}
        err = assert_error(client.post(f"{V1}/users", json=body, headers=admin), 422)
        assert names(err["details"], field), (extra, err)
    assert db.session.scalar(select(User).where(User.login == "new.person")) is None
    uid = demo.uid("staff.wh1")
    for extra, field in cases[:6]:
        err = assert_error(client.patch(f"{V1}/users/{uid}", json=extra, headers=admin), 422)
        assert names(err["details"], field), (extra, err)
    assert_error(client.patch(f"{V1}/users/999999", json={"name": "X"}, headers=admin), 404)


@pytest.mark.parametrize("password", [
    "12345678", "password", "qwerty123", "        ", "11111111", "new.person", "new.person2026", "Abcd1234",
    "a-long-enough\x00password", "tab\there-and-long", "line\nbreak-and-long",
])
@http_only
def test_common_guessable_or_unprintable_passwords_are_refused(client, auth, demo, password):
    admin = auth.headers("admin")
    body = {"login": "new.person", "password": password, "name": "New Person"}
    err = assert_error(client.post(f"{V1}/users", json=body, headers=admin), 422, "weak_password")
    assert err["details"]["password"], err
    assert db.session.scalar(select(User).where(User.login == "new.person")) is None
    if password.startswith("new.person"):
        return  # guessable only for that person
    uid = demo.uid("staff.wh1")
    before = demo.user("staff.wh1").password_hash
    assert_error(client.patch(f"{V1}/users/{uid}", json={"password": password}, headers=admin), 422, "weak_password")
    db.session.expire_all()
    assert demo.user("staff.wh1").password_hash == before


@http_only
def test_a_password_may_not_be_the_login_and_a_good_one_is_kept(client, auth, demo):
    admin = auth.headers("admin")
    uid = demo.uid("staff.wh1")
    assert_error(client.patch(f"{V1}/users/{uid}", json={"password": "staff.wh1"}, headers=admin), 422, "weak_password")
    assert client.patch(f"{V1}/users/{uid}", json={"password": "plum ferry lantern"}, headers=admin).status_code == 200
    r = client.post(f"{V1}/auth/login", json={"login": "staff.wh1", "password": "plum ferry lantern"})
    assert r.status_code == 200, r.json


@http_only
def test_create_admin_refuses_a_weak_password(app, demo):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create-admin", "--login", "boss", "--password", "password1"])
    assert weak.exit_code != 0 and "too common" in weak.output, weak.output
    assert db.session.scalar(select(User).where(User.login == "boss")) is None
    good = runner.invoke(args=["users", "create-admin", "--login", "boss", "--password", "violet-harbour-71"])
    assert good.exit_code == 0, good.output


def test_reporting_line_cannot_loop(client, auth, demo):
    admin = auth.headers("admin")
    a = _new_user(client, admin, "line.a")["id"]
    b = _new_user(client, admin, "line.b", manager_id=a)["id"]
    c = _new_user(client, admin, "line.c", manager_id=b)["id"]
    cases = [
        (a, a),  # oneself
        (a, b),  # two long: a <- b <- a
        (a, c),  # three long: a <- b <- c <- a
        (demo.uid("gm.zhang"), demo.uid("staff.wh1")),  # gm > mgr.ops > mgr.wh1 > staff.wh1
    ]
    for user_id, manager_id in cases:
        err = assert_error(client.patch(f"{V1}/users/{user_id}", json={"manager_id": manager_id}, headers=admin),
                           422, "manager_cycle")
        assert "manager_id" in err["details"]
    db.session.expire_all()
    assert db.session.get(User, a).manager_id is None
    assert demo.user("gm.zhang").manager_id is None
    # a legal move still works, and so does clearing
    r = client.patch(f"{V1}/users/{c}", json={"manager_id": a}, headers=admin)
    assert r.status_code == 200 and r.json["manager_id"] == a
    r = client.patch(f"{V1}/users/{c}", json={"manager_id": None}, headers=admin)
    assert r.status_code == 200 and r.json["manager_id"] is None


def test_granting_andon_pull_to_a_staff_member(client, auth, demo):
    admin = auth.headers("admin")
    staff = auth.headers("cs.agent2")
    assert client.get(f"{V1}/me", headers=staff).json["permissions"] == []
    r = client.patch(f"{V1}/users/{demo.uid('cs.agent2')}", json={"permissions": ["andon.pull"]}, headers=admin)
    assert r.status_code == 200 and r.json["permissions"] == ["andon.pull"]
    me = client.get(f"{V1}/me", headers=staff)
    assert me.status_code == 200  # a grant does not end the session
    assert me.json["permissions"] == ["andon.pull"] and me.json["roles"] == ["staff"]
    client.patch(f"{V1}/users/{demo.uid('cs.agent2')}", json={"permissions": []}, headers=admin)
    assert client.get(f"{V1}/me", headers=staff).json["permissions"] == []


def test_changing_roles(client, auth, demo):
    admin = auth.headers("admin")
    r = client.patch(f"{V1}/users/{demo.uid('staff.wh2')}", json={"roles": ["staff", "lead"]}, headers=admin)
    assert r.status_code == 200 and r.json["roles"] == ["lead", "staff"]
    assert client.get(f"{V1}/users", headers=auth.headers("staff.wh2")).status_code == 200


def test_list_users_filters(client, auth, demo):
    admin = auth.headers("admin")
    r = client.get(f"{V1}/users?department_id={demo.dept('DLV-SH')}", headers=admin)
    assert sorted(u["login"] for u in r.json["items"]) == ["driver.chen", "driver.li", "driver.wang", "mgr.dlv"]
    r = client.get(f"{V1}/users?role=quality", headers=admin)
    assert sorted(u["login"] for u in r.json["items"]) == ["mgr.qa", "quality.qa"]
    r = client.get(f"{V1}/users?q=DRIVER", headers=admin)
    assert r.json["total"] == 3
    assert_error(client.get(f"{V1}/users?role=king", headers=admin), 422)


# --- groups ---------------------------------------------------------------------------------


def test_groups(client, auth, demo):
    admin = auth.headers("admin")
    members = [demo.uid("driver.li"), demo.uid("staff.wh1")]
    r = client.post(f"{V1}/groups", json={"name": "Forklift licence", "members": members}, headers=admin)
    assert r.status_code == 201, r.json
    group = r.json
    assert group["members"] == sorted(members) and group["active"] is True

    err = assert_error(client.post(f"{V1}/groups", json={"name": "Night shift", "members": [members[0], 999999]},
                                   headers=admin), 422)
    assert "members" in err["details"]
    assert_error(client.post(f"{V1}/groups", json={"name": "Forklift licence"}, headers=admin), 409)
    assert _count(Group) == 1

    other = client.post(f"{V1}/groups", json={"name": "Cold chain"}, headers=admin).json
    assert_error(client.patch(f"{V1}/groups/{other['id']}", json={"name": "Forklift licence"}, headers=admin), 409)
    assert_error(client.patch(f"{V1}/groups/{other['id']}", json={"members": [999999]}, headers=admin), 422)
    r = client.patch(f"{V1}/groups/{other['id']}", json={"members": [demo.uid("staff.wh2")]}, headers=admin)
    assert r.status_code == 200 and r.json["members"] == [demo.uid("staff.wh2")]
    assert_error(client.patch(f"{V1}/groups/999999", json={"name": "X"}, headers=admin), 404)
    listed = client.get(f"{V1}/groups", headers=admin).json
    assert [g["name"] for g in listed["items"]] == ["Forklift licence", "Cold chain"]


# --- who may do what ------------------------------------------------------------------------


@http_only
def test_staff_cannot_use_admin_endpoints(client, auth, demo):
    staff = auth.headers("staff.wh1")
    uid, dept = demo.uid("staff.wh1"), demo.dept("WH-SH-01")
    calls = [
        ("get", f"{V1}/departments", None),
        ("get", f"{V1}/departments/{dept}", None),
        ("post", f"{V1}/departments", {"code": "NEW", "name": "New"}),
        ("patch", f"{V1}/departments/{dept}", {"name": "Mine now"}),
        ("get", f"{V1}/users", None),
        ("get", f"{V1}/users/{uid}", None),
        ("post", f"{V1}/users", {"login": "x.y", "password": "long-enough-pw", "name": "X"}),
        ("patch", f"{V1}/users/{uid}", {"roles": ["admin"]}),
        ("get", f"{V1}/groups", None),
        ("post", f"{V1}/groups", {"name": "Mine"}),
    ]
    for method, path, body in calls:
        assert_error(getattr(client, method)(path, json=body, headers=staff), 403, "forbidden")
    db.session.expire_all()
    assert demo.user("staff.wh1").roles == ["staff"]
    assert _count(Group) == 0


@http_only
def test_leads_can_list_people_but_not_change_them(client, auth, demo):
    lead = auth.headers("lead.cs")
    r = client.get(f"{V1}/users", headers=lead)
    assert r.status_code == 200 and r.json["total"] == 20
    assert client.get(f"{V1}/departments", headers=lead).status_code == 200
    assert_error(client.post(f"{V1}/users", json={"login": "x.y", "password": "long-enough-pw", "name": "X"},
                             headers=lead), 403, "forbidden")
    assert_error(client.patch(f"{V1}/users/{demo.uid('cs.agent2')}", json={"permissions": ["andon.pull"]},
                              headers=lead), 403, "forbidden")
    assert_error(client.post(f"{V1}/departments", json={"code": "NEW", "name": "New"}, headers=lead), 403)
    assert_error(client.post(f"{V1}/groups", json={"name": "Mine"}, headers=lead), 403)


# --- pagination -----------------------------------------------------------------------------


def test_pagination(client, auth, demo):
    admin = auth.headers("admin")
    everyone = client.get(f"{V1}/users", headers=admin).json
    assert set(everyone) == {"items", "total", "page", "per_page"}
    assert (everyone["total"], everyone["page"], everyone["per_page"]) == (20, 1, 50)
    ids = [u["id"] for u in everyone["items"]]
    assert len(ids) == 20 and ids == sorted(ids)

    second = client.get(f"{V1}/users?page=2&per_page=6", headers=admin).json
    assert (second["total"], second["page"], second["per_page"]) == (20, 2, 6)
    assert [u["id"] for u in second["items"]] == ids[6:12]
    last = client.get(f"{V1}/users?page=4&per_page=6", headers=admin).json
    assert [u["id"] for u in last["items"]] == ids[18:]

    beyond = client.get(f"{V1}/users?page=99&per_page=6", headers=admin)
    assert beyond.status_code == 200
    assert beyond.json["items"] == [] and beyond.json["total"] == 20 and beyond.json["page"] == 99

    assert client.get(f"{V1}/users?per_page=500", headers=admin).status_code == 200
    for query in ("per_page=501", "per_page=0", "page=0", "page=-1", "per_page=abc"):
        err = assert_error(client.get(f"{V1}/users?{query}", headers=admin), 422, "validation_error")
        assert set(err["details"]) & {"page", "per_page"}, (query, err)


def test_body_booleans_are_json_booleans_but_query_flags_take_words(client, auth, demo):
    admin = auth.headers("admin")
    group = client.post(f"{V1}/groups", json={"name": "Night shift"}, headers=admin).json
    cases = [
        (f"{V1}/departments/{demo.dept('MER')}", {"active": "no"}, "active", admin),
        (f"{V1}/users/{demo.uid('staff.wh1')}", {"active": 0}, "active", admin),
        (f"{V1}/groups/{group['id']}", {"active": "false"}, "active", admin),
        (f"{V1}/me", {"on_duty": "off"}, "on_duty", auth.headers("staff.wh1")),
    ]
    for url, body, field, headers in cases:
        err = assert_error(client.patch(url, json=body, headers=headers), 422)
        assert names(err["details"], field), (url, err)
    db.session.expire_all()
    assert db.session.get(Department, demo.dept("MER")).active is True
    assert db.session.get(User, demo.uid("staff.wh1")).active is True
    assert db.session.get(User, demo.uid("staff.wh1")).on_duty is True
    assert db.session.get(Group, group["id"]).active is True
    listed = client.get(f"{V1}/users", query_string={"active": "true", "per_page": 500}, headers=admin)
    assert listed.status_code == 200 and listed.json["items"] and all(u["active"] for u in listed.json["items"])
