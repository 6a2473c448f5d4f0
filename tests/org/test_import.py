"""Importing people from HR files (docs/design.md §13), on both databases: CSV in UTF-8 (with or without a BOM) and
GB18030, XLSX with a title banner in merged cells and empty trailing rows; a manager defined later in the file; every
problem named by row and column; loops refused naming the rows; the dry run writes nothing; all or nothing; importing
the same file twice changes nothing; the export imports back unchanged."""
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.extensions import db
from app.org.models import User
from tests.conftest import assert_error
from tests.workorders.conftest import flow  # noqa: F401 - the API driver of the work-order tests

HEADER = "login,name,department,manager,roles,permissions,locale,phone,email,employee_no"
ROWS = [
    "new.lead,王新 Wang Xin,WH-SH-01,mgr.wh1,lead;staff,,zh-CN,+86 138 0000 0001,wang.xin@example.com,E001",
    "new.worker,赵小 Zhao Xiao,WH-SH-01,new.lead,staff,andon.pull,en,13800000002,,E002",  # her manager is the row above
    "staff.wh1,,,,,,en,,,E003",  # an update of one field: the empty cells leave the rest as it is
]


def _csv(lines, encoding="utf-8"):
    return "\r\n".join(lines).encode(encoding)


def _post(flow, data, filename="people.csv", dry_run=False, login="admin"):
    return flow.client.post(f"/api/v1/users/import?dry_run={'true' if dry_run else 'false'}", headers=flow.h(login),
                            data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def _count():
    return db.session.scalar(select(func.count()).select_from(User))


def test_a_dry_run_answers_every_change_and_writes_nothing_then_the_real_run_does_it_all(flow):  # noqa: F811
    before = _count()
    r = _post(flow, _csv([HEADER, *ROWS], "utf-8-sig"), dry_run=True)
    assert r.status_code == 200, r.json
    assert (r.json["dry_run"], r.json["created"], r.json["updated"], r.json["unchanged"]) == (True, 2, 1, 0)
    assert [(x["row"], x["login"], x["action"]) for x in r.json["rows"]] == [(2, "new.lead", "create"), (3, "new.worker", "create"),
                                                                          (4, "staff.wh1", "update")]
    assert r.json["rows"][2]["changes"] == ["locale"] and r.json["ignored_columns"] == ["employee_no"]
    db.session.expire_all()
    assert _count() == before and db.session.scalar(select(User).where(User.login == "staff.wh1")).locale == "zh-CN"

    r = _post(flow, _csv([HEADER, *ROWS]))
    assert r.status_code == 200, r.json
    db.session.expire_all()
    worker = db.session.scalar(select(User).where(User.login == "new.worker"))
    lead = db.session.scalar(select(User).where(User.login == "new.lead"))
    assert worker.manager_id == lead.id and lead.manager_id == flow.demo.uid("mgr.wh1")
    assert (worker.roles, worker.permissions, worker.locale, worker.phone) == (["staff"], ["andon.pull"], "en", "13800000002")
    assert (lead.roles, lead.email, lead.department_id) == (["lead", "staff"], "wang.xin@example.com", flow.demo.dept("WH-SH-01"))
    staff = db.session.scalar(select(User).where(User.login == "staff.wh1"))
    assert (staff.locale, staff.name, staff.department_id) == ("en", flow.demo.user("staff.wh1").name, flow.demo.dept("WH-SH-01"))
    # Imported without a password, they cannot sign in until an admin sets one.
    signed_in = flow.client.post("/api/v1/auth/login", json={"login": "new.worker", "password": "anything-at-all-1"})
    assert signed_in.status_code == 401

    again = _post(flow, _csv([HEADER, *ROWS]))
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 3)

    exported = flow.client.get("/api/v1/users/export.csv", headers=flow.h("admin"))
    assert exported.status_code == 200 and exported.data.startswith("\ufeff".encode())
    back = _post(flow, exported.data)
    assert back.status_code == 200, back.json
    assert back.json["created"] == back.json["updated"] == 0 and back.json["unchanged"] == _count()


def test_chinese_excel_csv_in_gb18030_and_a_workbook_with_a_banner_and_empty_rows(flow):  # noqa: F811
    r = _post(flow, _csv(["login,name,department,roles", "gb.one,钱多多,WH-BJ-01,staff"], "gb18030"))
    assert r.status_code == 200, r.json
    assert db.session.scalar(select(User.name).where(User.login == "gb.one")) == "钱多多"

    book = Workbook()
    sheet = book.active
    sheet.append(["员工名单 Staff list"])
    sheet.merge_cells("A1:E1")  # a title banner across the columns, as HR exports have
    sheet.append(["login", "name", "department", "manager", "phone"])
    sheet.append(["xl.one", "孙一 Sun Yi", "WH-BJ-01", "mgr.wh2", 13900000001])  # Excel keeps phone numbers as numbers
    sheet.append(["xl.two", "孙二 Sun Er", "WH-BJ-01", "xl.one", None])
    sheet.append([None, None, None, None, None])
    sheet.append([None] * 5)
    out = io.BytesIO()
    book.save(out)
    r = _post(flow, out.getvalue(), filename="people.xlsx")
    assert r.status_code == 200, r.json
    assert [(x["row"], x["action"]) for x in r.json["rows"]] == [(3, "create"), (4, "create")]
    db.session.expire_all()
    one = db.session.scalar(select(User).where(User.login == "xl.one"))
    assert one.phone == "13900000001" and db.session.scalar(select(User.manager_id).where(User.login == "xl.two")) == one.id


def test_every_problem_is_named_by_row_and_column_and_nothing_is_written(flow):  # noqa: F811
    before = _count()
    lines = [
        "login,name,department,manager,roles,locale,email",
        "ok.person,Fine,WH-SH-01,mgr.wh1,staff,zh-CN,",
        "bad.dept,Nobody,NOWHERE,,staff,,",
        "bad.roles,Nobody,,,boss;staff,fr,not-an-email",
        "ok.person,Twice,,,,,",
        ",No login,,,,,",
        "no.name,,,,,,",
        "bad.manager,X,,ghost,,,",
        "loop.a,A,,loop.b,,,",
        "loop.b,B,,loop.c,,,",
        "loop.c,C,,loop.a,,,",
    ]
    err = assert_error(_post(flow, _csv(lines)), 422, "import_invalid")
    found = {(p["row"], p["column"]) for p in err["details"]["rows"]}
    assert found == {(3, "department"), (4, "roles"), (4, "locale"), (4, "email"), (5, "login"), (6, "login"), (7, "name"),
                     (8, "manager"), (9, "manager"), (10, "manager"), (11, "manager")}, err
    loop = next(p for p in err["details"]["rows"] if p["row"] == 9)
    assert loop["message"] == "reporting line loops through rows 9, 10, 11"
    assert next(p for p in err["details"]["rows"] if p["row"] == 5)["message"] == "also on row 2"
    db.session.expire_all()
    assert _count() == before  # all or nothing: the good row was not written either


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_loop_through_people_already_there_and_unreadable_files(flow, backend):  # noqa: F811
    # mgr.wh1 reports to mgr.ops; making mgr.ops report to a new person who reports to mgr.wh1 closes a loop.
    err = assert_error(_post(flow, _csv(["login,name,manager", "mgr.ops,,new.boss", "new.boss,Boss,mgr.wh1"])), 422)
    assert {p["row"] for p in err["details"]["rows"]} == {2, 3}
    assert_error(_post(flow, b"\x89PNG\r\n\x1a\n" + bytes(range(256))), 422)
    assert_error(_post(flow, _csv(["name,department", "x,y"])), 422, "import_unreadable")
    assert_error(_post(flow, b"PK\x03\x04 broken", filename="people.xlsx"), 422, "import_unreadable")
    assert_error(_post(flow, _csv([HEADER, *ROWS]), login="mgr.wh1"), 403)
