"""The people directory behind every picker (GET /people): anyone signed in finds active people by part of a name
or login, names that start with it first, wildcards taken literally."""
from tests.conftest import assert_error
from tests.workorders.conftest import flow  # noqa: F401 - the API driver of the work-order tests


def _find(flow, q, login="staff.wh1", **extra):  # noqa: F811
    r = flow.client.get("/api/v1/people", query_string={"q": q, **extra}, headers=flow.h(login))
    assert r.status_code == 200, r.json
    return r.json["items"]


def test_people_are_found_by_part_of_a_name_or_login(flow):  # noqa: F811
    found = _find(flow, "wh1")
    assert {p["login"] for p in found} == {"mgr.wh1", "staff.wh1", "staff.wh1b"}
    assert all(set(p) == {"id", "name", "login", "department"} for p in found)
    assert next(p for p in found if p["login"] == "staff.wh1")["department"] == "上海一号仓 Shanghai WH 1"
    assert [p["login"] for p in _find(flow, "zhao")] == ["staff.wh1"]  # the name "赵师傅 Zhao", any case
    assert _find(flow, "%") == [] and _find(flow, "_") == []  # wildcards are literal
    assert len(_find(flow, "staff", limit=2)) == 2
    # Whoever's name or login starts with what was typed comes first.
    for login, name in (("aa.tester", "Tester Lin"), ("lin.x", "X")):
        r = flow.client.post("/api/v1/users", json={"login": login, "name": name, "password": "directory-test-password-9"},
                             headers=flow.h("admin"))
        assert r.status_code == 201, r.json
    found = [p["login"] for p in _find(flow, "lin")]
    assert found[0] == "lin.x" and {"aa.tester", "quality.qa"} <= set(found[1:])  # "Tester Lin", "林质检 Lin (QA)"
    flow.client.patch(f"/api/v1/users/{flow.demo.uid('staff.wh1b')}", json={"active": False}, headers=flow.h("admin"))
    assert "staff.wh1b" not in {p["login"] for p in _find(flow, "wh1")}  # nobody who left
    assert_error(flow.client.get("/api/v1/people", query_string={"q": "x" * 101}, headers=flow.h("staff.wh1")), 422)
    assert_error(flow.client.get("/api/v1/people", query_string={"q": "wh"}), 401)
