"""The admin console in a desktop browser (docs/design.md §13): an admin sets up a department, people (one of
them from an HR file, previewed before anything is written), a group and an API key, and deactivates someone;
nobody else can reach it. In zh-CN, with screenshots of each screen for the README."""
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import shot


def test_an_admin_sets_up_a_company_in_the_console(desktop, api, tmp_path):
    tag = uuid.uuid4().hex[:6].upper()
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = desktop.sign_in("admin")
    expect(page.locator(".tabbar .tab", has_text="管理")).to_be_visible()

    # A department under Operations, with its head picked by name.
    desktop.open("/admin/departments")
    expect(page.locator(".tree-item", has_text="运营部")).to_be_visible()
    page.get_by_role("button", name="新增部门").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("编码").fill(f"E2E-{tag}")
    dialog.get_by_label("姓名").fill(f"E2E 仓库 {tag}")
    dialog.get_by_label("上级部门").select_option(label="运营部 Operations")
    dialog.get_by_label("负责人").fill("李主管 Li (WH SH) (mgr.wh1)")
    dialog.get_by_role("button", name="创建").click()
    node = page.locator(".tree-item", has_text=f"E2E 仓库 {tag}")
    expect(node).to_contain_text("负责人：李主管 Li (WH SH)")
    shot(page, "12-console-departments")
    dept = next(d for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == f"E2E-{tag}")
    assert dept["parent_id"] == next(d["id"] for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == "OPS")

    # A person made by hand, then another from an HR file: the dry run first, as a table, then the import.
    desktop.open("/admin/people")
    page.get_by_role("button", name="新增人员").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("账号").fill(f"e2e.lead.{tag.lower()}")
    dialog.get_by_label("姓名").fill(f"周组长 {tag}")
    dialog.get_by_label("密码").fill("a-sturdy-console-password-7")
    dialog.get_by_label("部门").select_option(label=f"E2E 仓库 {tag}")
    dialog.get_by_role("button", name="创建").click()
    expect(page.locator(".toast")).to_contain_text(f"已创建 周组长 {tag}")
    csv = tmp_path / "people.csv"
    csv.write_bytes(f"login,name,department,manager,roles,工号\r\ne2e.staff.{tag.lower()},吴员工 {tag},E2E-{tag},e2e.lead.{tag.lower()},staff,7\r\n"
                    .encode("gb18030"))
    page.locator("input[type=file]").set_input_files(str(csv))
    preview = page.locator(".import-preview")
    expect(preview).to_contain_text("将新增 1 人")
    expect(preview.locator("table")).to_contain_text(f"e2e.staff.{tag.lower()}")
    expect(preview).to_contain_text("未读取的列：工号")
    shot(page, "13-console-import")
    preview.get_by_role("button", name="确认导入：新增 1，更新 0").click()
    expect(preview).to_contain_text("已导入：新增 1")
    page.locator("#people-q").fill(tag)
    expect(page.locator(".cards .card")).to_have_count(2)
    shot(page, "14-console-people")
    staff = api.ok("GET", f"/users?q=e2e.staff.{tag.lower()}", login="admin")["items"][0]
    lead = api.ok("GET", f"/users?q=e2e.lead.{tag.lower()}", login="admin")["items"][0]
    assert staff["manager_id"] == lead["id"] and staff["department_id"] == dept["id"]

    # A group with both of them, picked by name.
    desktop.open("/admin/groups")
    page.get_by_role("button", name="新增小组").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("姓名").fill(f"夜班 {tag}")
    for person in (lead, staff):
        dialog.get_by_label("添加成员").fill(f"{person['name']} ({person['login']})")
        dialog.get_by_role("button", name="添加", exact=True).click()
    dialog.get_by_role("button", name="创建").click()
    expect(page.locator(".card", has_text=f"夜班 {tag}")).to_contain_text("2 名成员")

    # An API key: the secret is shown once, with a copy button.
    desktop.open("/admin/keys")
    page.get_by_role("button", name="新建 API 密钥").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("姓名").fill(f"ERP {tag}")
    dialog.get_by_label("推送订单").check()
    dialog.get_by_role("button", name="创建").click()
    secret = page.locator(".key-value")
    expect(secret).to_have_text(__import__("re").compile(r"^\S{20,}$"))
    expect(page.get_by_role("button", name="复制")).to_be_visible()
    shot(page, "15-console-keys")

    # A person's page shows their open work; deactivating them says how much of it was handed back.
    wo = api.ok("POST", "/work-orders", {"template": "stock_check", "title": f"E2E 盘点 {tag}"}, login="mgr.wh1")
    api.ok("POST", f"/tasks/{wo['tasks'][0]['id']}/transfer", {"to_user": staff["login"]}, login="mgr.wh1")
    desktop.open(f"/admin/people/{staff['id']}")
    expect(page.locator(".person-work")).to_contain_text(f"E2E 盘点 {tag}")
    page.get_by_role("button", name="停用").click()
    page.locator("dialog[open]").get_by_role("button", name="停用").click()
    expect(page.locator(".toast")).to_contain_text(f"已停用 吴员工 {tag}，交回 1 项任务")
    expect(page.locator(".person-title")).to_contain_text("已停用")
    assert desktop.js_errors() == []


def test_nobody_else_reaches_the_console(phone, api):
    page = phone.sign_in("lead.cs")
    expect(page.locator(".tabbar .tab")).not_to_have_count(0)
    assert page.locator(".tabbar a[href='#/admin/people']").count() == 0
    phone.open("/admin/people")
    page.wait_for_function("() => location.hash.startsWith('#/inbox')")
