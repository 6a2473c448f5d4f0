"""QR entry points in the browser (docs/design.md §15), in zh-CN: an admin makes a code for a shelf in the console,
sees its preview, downloads its PNG and prints a PDF sheet; a warehouse worker scans one on a phone, signs in, and the
prefilled work order it opens lands on their task."""
import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, shot


def test_an_admin_makes_a_code_for_a_shelf_and_prints_it(desktop, api):
    tag = uuid.uuid4().hex[:6].upper()
    name = f"E2E A-03 货架 {tag}"
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = desktop.sign_in("admin")
    desktop.open("/admin/qr")
    expect(page.locator(".subnav-link[aria-current=page]")).to_have_text("二维码")

    page.get_by_role("button", name="新建二维码").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("标签名称").fill(name)
    dialog.get_by_label("流程模板").select_option(label="库存核对 Stock check")
    dialog.get_by_label("工单所属部门").select_option(label="上海一号仓 Shanghai WH 1")
    dialog.get_by_label("标题", exact=True).fill(f"A-03 货架盘点 {tag}")
    dialog.get_by_label("位置", exact=True).fill("上海一号仓 A 区 03 货架")
    dialog.get_by_label("商品（SKU）").fill("SKU-MILK-1L")
    dialog.get_by_role("button", name="创建").click()
    expect(page.locator(".toast")).to_contain_text(f"已保存 {name}")

    card = page.locator(".qr-card", has_text=name)
    expect(card).to_contain_text("库存核对 Stock check · 上海一号仓 A 区 03 货架 · 上海一号仓 Shanghai WH 1")
    preview = card.locator("img.qr-preview")
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 100", arg=preview.element_handle())
    created = next(e for e in api.ok("GET", "/entry-points?per_page=500", login="admin")["items"] if e["name"] == name)
    assert created["template"] == "stock_check" and created["prefill"]["location"] == "上海一号仓 A 区 03 货架"
    assert created["url"].endswith(f"/#/qr/{created['code']}")
    expect(card.locator(".qr-url")).to_have_text(created["url"])
    shot(page, "qr-console")

    with page.expect_download() as downloaded:
        card.get_by_role("button", name="下载 PNG").click()
    assert downloaded.value.suggested_filename.endswith(".png")
    assert open(downloaded.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    card.locator("input[type=checkbox]").check()
    with page.expect_download() as printed:
        page.get_by_role("button", name="打印 PDF（已选 1 个）").click()
    assert open(printed.value.path(), "rb").read(5) == b"%PDF-"
    assert desktop.js_errors() == []


def test_a_warehouse_worker_scans_a_shelf_and_lands_on_the_task(phone, api):
    tag = uuid.uuid4().hex[:6].upper()
    entry = api.ok("POST", "/entry-points", {
        "name": f"E2E B-07 货架 {tag}", "template": "stock_check", "department_id": next(
            d["id"] for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == "WH-SH-01"),
        "prefill": {"title": f"B-07 货架盘点 {tag}", "location": "上海一号仓 B 区 07 货架", "product_sku": "SKU-MILK-1L"},
    }, login="admin")
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="staff.wh1")

    # The code opens the app; signing in returns to it.
    page = phone.open(f"/qr/{entry['code']}")
    page.wait_for_function("() => location.hash.startsWith('#/signin')")
    page.locator("input[name=login]").fill("staff.wh1")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form.signin-form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text(entry["name"])
    assert page.evaluate("location.hash") == f"#/qr/{entry['code']}"
    expect(page.locator(".qr-template")).to_contain_text("库存核对 Stock check")
    expect(page.locator(".facts")).to_contain_text("上海一号仓 B 区 07 货架")
    expect(page.locator("input[name=title]")).to_have_value(f"B-07 货架盘点 {tag}")
    page.locator("textarea[name=description]").fill("货架上少了三盒")
    shot(page, "qr-scan")

    page.get_by_role("button", name="创建工单").click()
    expect(page.locator(".toast")).to_contain_text("已创建工单 WO-")
    page.wait_for_function("() => location.hash.startsWith('#/task/')")
    task_id = int(page.evaluate("location.hash").rsplit("/", 1)[1])
    task = api.ok("GET", f"/tasks/{task_id}", login="staff.wh1")
    assert task["step"] == "count" and task["work_order"]["title"] == f"B-07 货架盘点 {tag}"
    wo = api.ok("GET", f"/work-orders/{task['work_order_id']}", login="staff.wh1")
    assert wo["source"] == "qr" and wo["description"] == "货架上少了三盒" and wo["product_sku"] == "SKU-MILK-1L"
    assert wo["data"]["location"] == "上海一号仓 B 区 07 货架"
    assert phone.js_errors() == []
