"""QR entry points through the API (docs/design.md §15), on both databases: admins keep and print them, anyone
signed in scans one and opens a work order of its template with its prefill, as source `qr`."""
import base64
import io
import re
import zlib

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.flows.models import FlowTemplate
from app.workorders.models import WorkOrder
from tests.conftest import assert_error

V1 = "/api/v1"
SHELF_REPORT = {
    "key": "shelf_report", "name": "货架异常 Shelf report", "priority": "P3",
    "form": [{"name": "issue", "label": "Issue", "type": "select", "options": ["empty", "damaged", "wrong_label"], "required": True},
             {"name": "count", "label": "Count", "type": "integer", "required": False},
             {"name": "photo", "label": "Photo", "type": "attachment", "required": False}],
    "steps": [{"key": "fix", "title": "处理 Fix the shelf", "mode": "pool", "assignees": {"roles": [{"role": "staff"}]}}],
}


@pytest.fixture
def shelf(flow):
    """The shelf-report template and an entry point on shelf A-03 of the Shanghai warehouse."""
    flow.template(SHELF_REPORT)
    body = {"name": "A-03 货架", "template": "shelf_report", "department_id": flow.demo.dept("WH-SH-01"),
            "prefill": {"title": "A-03 货架异常", "location": "上海一号仓 A 区 03 货架", "product_sku": "SKU-MILK-1L",
                        "data": {"issue": "empty", "count": 0}}}
    response = flow.client.post(f"{V1}/entry-points", json=body, headers=flow.h("admin"))
    assert response.status_code == 201, response.json
    return response.json


def _start(flow, code, login="staff.wh1", key=None, **body):
    headers = {**flow.h(login), **({"Idempotency-Key": key} if key else {})}
    return flow.client.post(f"{V1}/entry-points/by-code/{code}/work-orders", json=body, headers=headers)


def test_an_admin_keeps_entry_points_and_nobody_else_may(flow, shelf):
    assert shelf["name"] == "A-03 货架" and shelf["template"] == "shelf_report" and shelf["template_name"] == "货架异常 Shelf report"
    assert shelf["active"] is True and shelf["created_by"]["login"] == "admin"
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", shelf["code"])
    assert shelf["url"] == f"http://localhost/#/qr/{shelf['code']}"
    assert shelf["prefill"] == {"title": "A-03 货架异常", "location": "上海一号仓 A 区 03 货架", "product_sku": "SKU-MILK-1L",
                                "data": {"issue": "empty", "count": 0}}

    listed = flow.client.get(f"{V1}/entry-points", headers=flow.h("admin")).json
    assert [e["code"] for e in listed["items"]] == [shelf["code"]] and listed["total"] == 1
    changed = flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"name": "A-03 货架 Shelf"}, headers=flow.h("admin"))
    assert changed.status_code == 200 and changed.json["name"] == "A-03 货架 Shelf" and changed.json["code"] == shelf["code"]
    assert flow.client.get(f"{V1}/entry-points/{shelf['id']}", headers=flow.h("admin")).json["name"] == "A-03 货架 Shelf"

    body = {"name": "Counter", "template": "shelf_report"}
    for login in ("lead.cs", "staff.wh1", "quality.qa"):
        assert_error(flow.client.post(f"{V1}/entry-points", json=body, headers=flow.h(login)), 403)
        assert_error(flow.client.get(f"{V1}/entry-points", headers=flow.h(login)), 403)
        assert_error(flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"active": False}, headers=flow.h(login)), 403)
        assert_error(flow.client.get(f"{V1}/entry-points/{shelf['id']}/qr.png", headers=flow.h(login)), 403)
        assert_error(flow.client.get(f"{V1}/entry-points/qr.pdf", headers=flow.h(login)), 403)
    assert_error(flow.client.get(f"{V1}/entry-points/999999", headers=flow.h("admin")), 404, "entry_point_not_found")


def test_anyone_signed_in_resolves_a_code(flow, shelf):
    for login in ("staff.wh1", "driver.li", "admin"):
        scan = flow.client.get(f"{V1}/entry-points/by-code/{shelf['code']}", headers=flow.h(login))
        assert scan.status_code == 200, scan.json
    body = scan.json
    assert body["name"] == "A-03 货架" and body["code"] == shelf["code"] and body["prefill"] == shelf["prefill"]
    assert body["template"]["key"] == "shelf_report" and body["template"]["name"] == "货架异常 Shelf report"
    assert [f["name"] for f in body["template"]["form"]] == ["issue", "count", "photo"]
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/{shelf['code']}"), 401)
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/NoSuchCode12345", headers=flow.h("staff.wh1")), 404, "entry_point_not_found")
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/x'--", headers=flow.h("staff.wh1")), 404, "entry_point_not_found")


def test_a_scan_opens_a_work_order_with_source_qr_and_the_prefill_under_what_was_entered(flow, shelf):
    started = _start(flow, shelf["code"], description="三盒破损", data={"issue": "damaged"})
    assert started.status_code == 201, started.json
    wo = started.json
    assert wo["source"] == "qr" and wo["template"] == "shelf_report" and wo["number"].startswith("WO-")
    assert wo["title"] == "A-03 货架异常" and wo["description"] == "三盒破损" and wo["product_sku"] == "SKU-MILK-1L"
    # The person's value wins over the prefill's, key by key; the location rides along in the data.
    assert wo["data"] == {"issue": "damaged", "count": 0, "location": "上海一号仓 A 区 03 货架"}
    stored = db.session.get(WorkOrder, wo["id"])
    assert stored.department_id == flow.demo.dept("WH-SH-01") and stored.created_by_id == flow.demo.uid("staff.wh1")
    assert stored.priority == "P3"
    # The person who scanned sees what they opened, and is offered its first task.
    assert flow.client.get(f"{V1}/work-orders/{wo['id']}", headers=flow.h("staff.wh1")).status_code == 200
    assert [t["step"] for t in wo["tasks"]] == ["fix"] and flow.demo.uid("staff.wh1") in wo["tasks"][0]["candidates"]

    titled = _start(flow, shelf["code"], login="driver.li", title="A-03 标签错误", data={"issue": "wrong_label", "count": 3})
    assert titled.status_code == 201, titled.json
    assert titled.json["title"] == "A-03 标签错误" and titled.json["data"]["count"] == 3
    assert db.session.get(WorkOrder, titled.json["id"]).department_id == flow.demo.dept("WH-SH-01")

    # No department on the entry point: the work order is the scanning person's department's.
    flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"department_id": None}, headers=flow.h("admin"))
    own = _start(flow, shelf["code"], login="driver.li")
    assert own.status_code == 201 and db.session.get(WorkOrder, own.json["id"]).department_id == flow.demo.dept("DLV-SH")

    listed = flow.client.get(f"{V1}/work-orders", query_string={"source": "qr"}, headers=flow.h("admin")).json
    assert listed["total"] == 3


def test_a_repeated_scan_with_the_same_key_opens_one_work_order(flow, shelf):
    first = _start(flow, shelf["code"], key="scan-1", data={"issue": "damaged"})
    again = _start(flow, shelf["code"], key="scan-1", data={"issue": "damaged"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json["id"] == first.json["id"]
    assert db.session.scalar(select(func.count(WorkOrder.id)).where(WorkOrder.source == "qr")) == 1
    assert_error(_start(flow, shelf["code"], key="scan-1", data={"issue": "empty"}), 422, "idempotency_key_reused")


def test_a_withdrawn_code_or_a_retired_template_is_refused_clearly(flow, shelf):
    withdrawn = flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"active": False}, headers=flow.h("admin"))
    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/{shelf['code']}", headers=flow.h("staff.wh1")), 410, "entry_point_inactive")
    assert_error(_start(flow, shelf["code"]), 410, "entry_point_inactive")
    listed = flow.client.get(f"{V1}/entry-points", query_string={"active": "false"}, headers=flow.h("admin")).json
    assert [e["id"] for e in listed["items"]] == [shelf["id"]]
    assert flow.client.get(f"{V1}/entry-points", query_string={"active": "true"}, headers=flow.h("admin")).json["total"] == 0

    flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"active": True}, headers=flow.h("admin"))
    assert _start(flow, shelf["code"]).status_code == 201
    db.session.execute(update(FlowTemplate).where(FlowTemplate.key == "shelf_report").values(active=False))
    db.session.commit()
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/{shelf['code']}", headers=flow.h("staff.wh1")), 410,
                 "entry_point_template_retired")
    assert_error(_start(flow, shelf["code"]), 410, "entry_point_template_retired")
    assert db.session.scalar(select(func.count(WorkOrder.id)).where(WorkOrder.source == "qr")) == 1


def test_bad_input_is_refused_naming_each_path(flow, shelf):
    admin = flow.h("admin")
    post = lambda body: flow.client.post(f"{V1}/entry-points", json=body, headers=admin)  # noqa: E731
    details = assert_error(post({"name": "", "template": "shelf_report", "prefill": {"priority": "P9", "colour": "red"}}), 422)["details"]
    assert {"name", "prefill.priority", "prefill.colour"} <= set(details)
    assert set(assert_error(post({"name": "X", "template": "no_such_flow"}), 422)["details"]) == {"template"}
    details = assert_error(post({"name": "X", "template": "shelf_report", "department_id": 999999,
                                 "prefill": {"data": {"issue": "on_fire", "count": "many", "photo": 3}}}), 422)["details"]
    assert set(details) == {"department_id", "prefill.data.issue", "prefill.data.count", "prefill.data.photo"}
    located = dict(SHELF_REPORT, key="located", form=[{"name": "location", "type": "text"}])
    flow.template(located)
    details = assert_error(post({"name": "X", "template": "located", "prefill": {"location": "A-03"}}), 422)["details"]
    assert set(details) == {"prefill.location"}
    details = assert_error(flow.client.patch(f"{V1}/entry-points/{shelf['id']}", json={"template": "located"}, headers=admin), 422)["details"]
    assert set(details) == {"prefill.location"}  # the prefill is checked again against a new template
    assert db.session.scalar(select(func.count()).select_from(db.metadata.tables["qr_entry_points"])) == 1

    # Scanning: the person's values are checked against the template's form, by path; a title is needed.
    assert set(assert_error(_start(flow, shelf["code"], data={"count": 1.5}), 422)["details"]) == {"data.count"}
    bare = post({"name": "Counter", "template": "shelf_report"}).json
    assert set(assert_error(_start(flow, bare["code"], data={"issue": "empty"}), 422)["details"]) == {"title"}
    assert set(assert_error(_start(flow, bare["code"], title="空货架"), 422)["details"]) == {"data.issue"}
    assert set(assert_error(_start(flow, bare["code"], title="x" * 301), 422)["details"]) == {"title"}
    assert db.session.scalar(select(func.count(WorkOrder.id))) == 0


def test_an_api_key_never_scans(flow, shelf):
    made = flow.client.post(f"{V1}/api-keys", json={"name": "erp", "scopes": ["orders:write"]}, headers=flow.h("admin")).json
    assert_error(flow.client.get(f"{V1}/entry-points/by-code/{shelf['code']}", headers={"X-API-Key": made["key"]}), 403)


def test_the_png_encodes_the_entry_points_url(flow, shelf):
    segno = pytest.importorskip("segno")
    image = pytest.importorskip("PIL.Image")
    response = flow.client.get(f"{V1}/entry-points/{shelf['id']}/qr.png", query_string={"scale": 8}, headers=flow.h("admin"))
    assert response.status_code == 200 and response.mimetype == "image/png"
    png = response.get_data()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # No QR decoder is installed: read the PNG's pixels back and compare them, module by module, with the symbol of the
    # URL (the same error level), so the image is the QR of exactly this URL.
    symbol = segno.make(shelf["url"], error="m", micro=False, boost_error=False)
    pixels = image.open(io.BytesIO(png)).convert("L")
    size = len(symbol.matrix)
    assert pixels.size == ((size + 8) * 8, (size + 8) * 8)
    read = [[pixels.getpixel(((c + 4) * 8 + 4, (r + 4) * 8 + 4)) < 128 for c in range(size)] for r in range(size)]
    assert read == [[bool(v) for v in row] for row in symbol.matrix]
    assert not any(pixels.getpixel((x, 2)) < 128 for x in range(pixels.size[0]))  # the quiet zone
    assert_error(flow.client.get(f"{V1}/entry-points/{shelf['id']}/qr.png", query_string={"scale": 1000}, headers=flow.h("admin")), 422)


def _pdf_text(pdf: bytes) -> str:
    """The text a PDF shows, from its (deflated) content streams: each literal string before Tj, in UTF-16 (every
    label is set in the CID font, whose encoding that is)."""
    shown = []
    for filters, stream in re.findall(rb"<<([^<>]*)>>\s*stream\r?\n(.*?)\r?\n?endstream", pdf, re.S):
        if b"/ASCII85Decode" in filters:
            stream = base64.a85decode(stream.strip().removesuffix(b"~>"))
        if b"/FlateDecode" in filters:
            stream = zlib.decompress(stream)
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", stream, re.S):
            raw = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit()
                         else {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)), literal)
            shown.append(raw.decode("utf-16-be"))
    return "\n".join(shown)


def test_the_pdf_sheet_labels_each_code_with_its_name_and_template(flow, shelf):
    admin = flow.h("admin")
    counter = flow.client.post(f"{V1}/entry-points", json={"name": "徐汇店收银台 Counter", "template": "shelf_report",
                                                          "prefill": {"title": "门店反馈"}}, headers=admin).json
    response = flow.client.get(f"{V1}/entry-points/qr.pdf", query_string={"ids": f"{shelf['id']},{counter['id']}"}, headers=admin)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.get_data()
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    assert "A-03 货架" in text and "徐汇店收银台 Counter" in text and "货架异常 Shelf report" in text and "上海一号仓 A 区 03 货架" in text
    assert b"STSong-Light" in pdf
    # Without ids: every active one.
    assert "徐汇店收银台 Counter" in _pdf_text(flow.client.get(f"{V1}/entry-points/qr.pdf", headers=admin).get_data())

    flow.client.patch(f"{V1}/entry-points/{counter['id']}", json={"active": False}, headers=admin)
    details = assert_error(flow.client.get(f"{V1}/entry-points/qr.pdf", query_string={"ids": f"{shelf['id']},{counter['id']},999999"},
                                           headers=admin), 422)["details"]
    assert set(details) == {"ids.1", "ids.2"}
    assert_error(flow.client.get(f"{V1}/entry-points/qr.pdf", query_string={"ids": "1,a"}, headers=admin), 422)
