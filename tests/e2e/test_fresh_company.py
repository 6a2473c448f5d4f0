"""A new company, as a customer starts one (docs/design.md §13): `flask setup` on an empty database, then only the
console in a desktop browser — departments, a manager and a quality person, three staff from an HR file, a group,
an API key — then the ERP posts its catalogue and orders with that key, and the quality person pulls the andon
on a batch and watches its recall start. Nothing of the demo exists on this server."""
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, FRESH_ADMIN_PASSWORD, PHONE, Phone

PASSWORDS = {"mgr.one": "manager-one-first-password", "qa.one": "quality-one-first-password"}


def _call(base, method, path, body=None, headers=None):
    request = urllib.request.Request(base + "/api/v1" + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4()), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _create_person(page, login, name, department, roles):
    page.get_by_role("button", name="新增人员").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("账号").fill(login)
    dialog.get_by_label("姓名").fill(name)
    dialog.get_by_label("密码").fill(PASSWORDS[login])
    dialog.get_by_label("部门").select_option(label=department)
    dialog.get_by_label("一线员工").set_checked("一线员工" in roles)
    for role in roles:
        dialog.get_by_label(role).check()
    dialog.get_by_role("button", name="创建").click()
    expect(page.locator(".toast", has_text=f"已创建 {name}")).to_be_visible()


def test_a_company_that_never_saw_the_demo_goes_from_nothing_to_a_recall(browser, fresh_server, tmp_path):
    admin = Phone(browser, fresh_server, device=DESKTOP)
    quality = Phone(browser, fresh_server, device=PHONE)
    try:
        page = admin.sign_in("admin", FRESH_ADMIN_PASSWORD)
        admin.open("/admin/departments")
        expect(page.locator(".admin-tree")).to_contain_text("还没有部门")
        for code, name in (("WH1", "一号仓"), ("QA", "质量部")):
            page.get_by_role("button", name="新增部门").click()
            dialog = page.locator("dialog[open]")
            dialog.get_by_label("编码").fill(code)
            dialog.get_by_label("姓名").fill(name)
            dialog.get_by_role("button", name="创建").click()
            expect(page.locator(".tree-item", has_text=name)).to_be_visible()

        admin.open("/admin/people")
        _create_person(page, "mgr.one", "王主管", "一号仓", ["主管", "一线员工"])
        _create_person(page, "qa.one", "林质检", "质量部", ["品控"])
        csv = tmp_path / "staff.csv"
        csv.write_text("login,name,department,manager,roles\n" + "".join(
            f"staff.{n},员工{n},WH1,mgr.one,staff\n" for n in (1, 2, 3)), encoding="utf-8-sig")
        page.locator("input[type=file]").set_input_files(str(csv))
        expect(page.locator(".import-preview")).to_contain_text("将新增 3 人")
        page.get_by_role("button", name="确认导入：新增 3，更新 0").click()
        expect(page.locator(".import-preview")).to_contain_text("已导入：新增 3")

        admin.open("/admin/groups")
        page.get_by_role("button", name="新增小组").click()
        dialog = page.locator("dialog[open]")
        dialog.get_by_label("姓名").fill("早班")
        for n in (1, 2, 3):
            dialog.get_by_label("添加成员").fill(f"员工{n} (staff.{n})")
            dialog.get_by_role("button", name="添加", exact=True).click()
        dialog.get_by_role("button", name="创建").click()
        expect(page.locator(".card", has_text="早班")).to_contain_text("3 名成员")

        admin.open("/admin/keys")
        page.get_by_role("button", name="新建 API 密钥").click()
        dialog = page.locator("dialog[open]")
        dialog.get_by_label("姓名").fill("ERP")
        for scope in ("推送订单", "推送库存", "推送商品与批次"):
            dialog.get_by_label(scope).check()
        dialog.get_by_role("button", name="创建").click()
        secret = page.locator(".key-value").inner_text().strip()
        assert admin.js_errors() == []

        # The ERP, with the key it was given.
        erp = {"X-API-Key": secret}
        now = datetime.now(timezone.utc)
        iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
        for path, body in (
            ("/products", {"products": [{"sku": "YOG-1", "name": "Yoghurt 200 g", "owner_department": "QA"}]}),
            ("/batches", {"batches": [{"batch_no": "Y-0915", "sku": "YOG-1"}]}),
            ("/orders", {"orders": [{"order_no": f"SO-{n}", "lines": [{"sku": "YOG-1", "batch_no": "Y-0915", "warehouse": "WH1",
                                                                      "shipped_at": iso(now - timedelta(days=2)),
                                                                      "delivered_at": iso(now - timedelta(days=1))}]} for n in range(3)]}),
            ("/inventory/events", {"events": [{"sku": "YOG-1", "batch_no": "Y-0915", "warehouse": "WH1", "on_hand": 20,
                                               "available": 20, "threshold": 2, "at": iso(now - timedelta(hours=1))}]}),
        ):
            status, answer = _call(fresh_server, "POST", path, body, erp)
            assert status == 200, (path, answer)

        # The quality person the admin created pulls the andon on the batch; the recall starts.
        page = quality.sign_in("qa.one", PASSWORDS["qa.one"])
        page.locator(".tabbar .tab", has_text="拉灯").click()
        page.locator("a.btn-danger").click()
        page.locator("label.choice", has_text="单个批次").click()
        page.get_by_label("批次号").fill("Y-0915")
        page.locator("button", has_text="查询").click()
        expect(page.locator(".lookup-card")).to_contain_text("3")
        page.locator("label.choice", has_text="召回").click()
        page.get_by_label("原因").fill("客户反映胀袋。")
        page.locator("form.andon-form button[type=submit]").click()
        page.locator("dialog button[type=submit]").click()
        expect(page).to_have_url(__import__("re").compile(r"#/andon/\d+$"))
        expect(page.locator(".link-list li")).to_have_count(3, timeout=30000)
        assert quality.js_errors() == []
    finally:
        admin.close()
        quality.close()
