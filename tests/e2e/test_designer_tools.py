"""The flow designer's tools in a desktop browser (docs/design.md §13): conditions edited as choices (and as JSON),
Simulate drawn on the graph, comparing versions, the form builder with its phone preview, and the live count of who
an assignee selection is. Each test works on its own copy of a demo template. In zh-CN, with a screenshot of the comparison for the README."""
import json
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import shot

BODY = ("key", "name", "description", "priority", "classification", "owner_department_id", "form", "steps")


def _copy(api, source):
    """A copy of demo template `source` under a new key, for this test alone."""
    body = api.ok("GET", f"/templates/{source}", login="admin")
    key = f"{source[:10]}_{uuid.uuid4().hex[:6]}"
    api.ok("POST", "/templates", {**{k: body[k] for k in BODY}, "key": key, "name": f"{body['name']} {key}"}, login="admin")
    return key


OK = "未发现问题，可以发布。"  # the designer's status line when the server's check finds nothing


def _open_copy(desktop, api, source, *, before=None):
    """An admin reading Chinese opens a fresh copy of demo template `source` in the designer (after `before(key)`,
    when given, has run); answers the key, the page and its status line, once the server's check found nothing."""
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    key = _copy(api, source)
    extra = before(key) if before else None
    page = desktop.sign_in("admin")
    desktop.open(f"/admin/flows/{key}")
    status = page.locator(".flow-status")
    expect(status).to_have_text(OK)
    return key, page, status, extra


def _draft(page):
    return json.loads(page.locator("#flow-json").input_value())


def _step(page, key):
    return next(s for s in _draft(page)["steps"] if s["key"] == key)


def test_conditions_are_edited_as_choices(desktop, api):
    key, page, status, _ = _open_copy(desktop, api, "complaint")
    page.locator(".flow-card[data-step=warehouse_check]").click()
    when = page.locator(".flow-panel [data-field=when]")
    # The stored condition, as a row: the triage's outcome is one of …, "accepted" ticked.
    row = when.locator(".flow-when-row[data-kind=outcome]")
    expect(row).to_have_count(1)
    expect(row.get_by_label("步骤", exact=True)).to_have_value("triage")
    expect(row.get_by_label("accepted")).to_be_checked()
    expect(row.get_by_label("duplicate")).not_to_be_checked()
    row.get_by_label("duplicate").check()
    expect(page.locator(".flow-edge-label[data-to=warehouse_check]")).to_have_text("triage: accepted / duplicate")
    assert _step(page, "warehouse_check")["when"] == {"outcome": {"step": "triage", "in": ["accepted", "duplicate"]}}

    # A second row on a field: the operators fit the field's type (a number: no "contains"; a text: no "more than").
    when.get_by_role("button", name="+ 字段的值").click()
    rows = when.locator(".flow-when-row")
    expect(rows).to_have_count(2)
    field_row = rows.nth(1)
    field_row.get_by_label("字段", exact=True).select_option("order_amount")
    operators = field_row.get_by_label("运算").locator("option")
    expect(operators).to_have_text(["等于", "不等于", "大于", "大于等于", "小于", "小于等于", "属于", "为空"])
    field_row.get_by_label("运算").select_option("gte")
    field_row.get_by_label("值", exact=True).fill("500")
    when.get_by_label("组合方式").select_option("any")
    expect(status).to_have_text(OK)
    assert _step(page, "warehouse_check")["when"] == {"any": [
        {"outcome": {"step": "triage", "in": ["accepted", "duplicate"]}}, {"field": "order_amount", "op": "gte", "value": 500}]}
    field_row = page.locator(".flow-panel .flow-when-row").nth(1)
    field_row.get_by_label("字段", exact=True).select_option("customer_phone")
    expect(field_row.get_by_label("运算").locator("option")).to_have_text(["等于", "不等于", "属于", "包含", "为空"])
    # A refusal lands on the row it concerns: "one of" with no values.
    field_row.get_by_label("运算").select_option("in")
    expect(status).to_contain_text("处问题")
    field_row = page.locator(".flow-panel .flow-when-row").nth(1)
    expect(field_row.locator(".field-error")).to_contain_text("in")
    field_row.get_by_label("值", exact=True).fill("13800000000, 13900000000")
    expect(status).to_have_text(OK)
    assert _step(page, "warehouse_check")["when"]["any"][1] == {"field": "customer_phone", "op": "in", "value": ["13800000000", "13900000000"]}

    # The condition's own JSON: a `not` typed there is kept, shown as JSON only, and drawn on the edge.
    when = page.locator(".flow-panel [data-field=when]")
    when.locator("summary").click()
    box = when.locator("textarea.flow-when-json")
    box.fill(json.dumps({"not": {"outcome": {"step": "triage", "in": ["duplicate"]}}}))
    box.blur()
    expect(page.locator(".flow-panel .flow-fieldset[data-field=when] .notice-warn")).to_contain_text("JSON")
    expect(page.locator(".flow-edge-label[data-to=warehouse_check]")).to_contain_text("triage: duplicate")
    assert _step(page, "warehouse_check")["when"] == {"not": {"outcome": {"step": "triage", "in": ["duplicate"]}}}
    expect(status).to_have_text(OK)
    page.get_by_role("button", name="发布").click()
    expect(status).to_contain_text("已直接更新")
    assert api.ok("GET", f"/templates/{key}", login="admin")["steps"][1]["when"] == {"not": {"outcome": {"step": "triage", "in": ["duplicate"]}}}
    assert not desktop.js_errors(), desktop.js_errors()


def test_simulate_draws_the_dry_run_on_the_graph(desktop, api):
    key, page, status, _ = _open_copy(desktop, api, "complaint")
    # An unpublished change is what is simulated: the closing step now waits on a big order only.
    page.locator(".flow-card[data-step=close]").click()
    when = page.locator(".flow-panel [data-field=when]")
    when.get_by_role("button", name="+ 字段的值").click()
    row = when.locator(".flow-when-row")
    row.get_by_label("字段", exact=True).select_option("order_amount")
    row.get_by_label("运算").select_option("gt")
    row.get_by_label("值", exact=True).fill("1000")
    expect(status).to_have_text(OK)

    page.get_by_role("button", name="模拟运行").click()
    sim = page.locator(".flow-panel .flow-sim")
    expect(sim).to_be_visible()
    sim.get_by_label("订单金额 Order amount").fill("200")
    sim.get_by_label("客服分诊 CS triage").select_option("accepted")
    sim.get_by_label("开始时间").fill("2026-03-02T17:30")
    sim.get_by_role("button", name="运行模拟").click()
    triage = page.locator(".flow-card[data-step=triage]")
    expect(triage).to_have_class(r"flow-card flow-card-sim flow-card-sim-started")
    expect(triage.locator(".flow-card-simline")).to_contain_text("开始")
    expect(triage.locator(".flow-card-simline")).to_contain_text("截止")
    expect(page.locator(".flow-card[data-step=close]")).to_have_class(r"flow-card flow-card-sim flow-card-sim-skipped")
    item = sim.locator(".flow-sim-item[data-step=triage]")
    expect(item.locator(".flow-sim-who")).to_contain_text("派给：")
    names = item.locator(".flow-sim-who").inner_text()
    assert "#" not in names, names  # names, not ids
    expect(item.locator(".flow-sim-why")).not_to_be_empty()
    expect(sim.locator(".flow-sim-item[data-step=close] .chip")).to_have_text("跳过")

    # A bigger order: the closing step starts too.
    sim.get_by_label("订单金额 Order amount").fill("5000")
    sim.get_by_role("button", name="运行模拟").click()
    expect(page.locator(".flow-card[data-step=close]")).to_have_class(r"flow-card flow-card-sim flow-card-sim-started")
    # A duplicate skips the warehouse and everything after it.
    sim.get_by_label("客服分诊 CS triage").select_option("duplicate")
    sim.get_by_role("button", name="运行模拟").click()
    expect(page.locator(".flow-card[data-step=warehouse_check]")).to_have_class(r"flow-card flow-card-sim flow-card-sim-skipped")
    expect(page.locator(".flow-card[data-step=driver_visit]")).to_have_class(r"flow-card flow-card-sim flow-card-sim-skipped")
    page.get_by_role("button", name="结束模拟").click()
    expect(page.locator(".flow-card-sim")).to_have_count(0)
    expect(page.locator(".flow-panel .flow-sim")).to_have_count(0)
    # Nothing was published by simulating.
    assert api.ok("GET", f"/templates/{key}", login="admin")["steps"][3].get("when") is None
    assert not desktop.js_errors(), desktop.js_errors()


def test_versions_are_compared_and_publishing_says_what_stays_behind(desktop, api):
    key, page, status, running = _open_copy(desktop, api, "investigation", before=lambda key: api.create_work_order(
        "lead.cs", key, "Designer e2e: stays on version 1"))
    expect(page.get_by_role("button", name="比较版本")).to_be_hidden()  # one version only
    page.locator(".flow-card[data-step=intake]").click()
    page.locator(".flow-panel").get_by_label("时限（SLA）").fill("PT45M")
    page.locator(".flow-card[data-step=delivery]").click()
    page.get_by_role("button", name="删除步骤").click()
    page.locator("dialog[open]").get_by_role("button", name="删除步骤").click()
    expect(page.locator(".flow-card")).to_have_count(3)
    expect(status).to_have_text(OK)
    page.get_by_role("button", name="发布").click()
    expect(status).to_have_text("已发布为第 2 版；仍按第 1 版运行的进行中工单：1 个。")

    page.get_by_role("button", name="比较版本").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_label("从")).to_have_value("1")
    expect(dialog.get_by_label("到")).to_have_value("2")
    expect(dialog.locator(".flow-diff-removed[data-key=delivery]")).to_contain_text("配送调查 Delivery investigates")
    intake = dialog.locator(".flow-diff-changed[data-key=intake]")
    expect(intake.locator("tr[data-field=sla] .flow-diff-old")).to_have_text("PT30M")
    expect(intake.locator("tr[data-field=sla] .flow-diff-new")).to_have_text("PT45M")
    expect(dialog.locator(".flow-diff-changed[data-key=conclude] tr[data-field=after]")).to_be_visible()
    shot(page, "20-designer-diff")
    dialog.get_by_label("从").select_option("2")
    expect(dialog.locator(".flow-diff-same")).to_have_text("第 2 版与第 2 版相同。")
    dialog.get_by_role("button", name="关闭").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    api.ok("POST", f"/work-orders/{running['id']}/cancel", {"reason": "designer e2e"}, login="lead.cs")
    assert not desktop.js_errors(), desktop.js_errors()


def test_the_form_builder_and_its_phone_preview(desktop, api):
    key, page, status, _ = _open_copy(desktop, api, "complaint")
    page.locator(".flow-card[data-step=warehouse_check]").click()
    form = page.locator(".flow-panel .flow-form")
    phone = form.locator(".flow-phone")
    # The completion screen as a handler sees it: the outcomes, a barcode, photos and the findings, then the note.
    expect(phone.locator(".flow-phone-bar")).to_have_text("仓库核查 Warehouse check")
    expect(phone.locator(".choice-list label")).to_have_count(2)
    for label in ("扫描批次码 Scan the batch code", "货物照片 Photos of the goods", "检查发现 Findings", "备注"):
        expect(phone).to_contain_text(label)

    # New fields of every capture type, and a choice with its options.
    for kind in ("signature", "location", "select"):
        form.get_by_role("button", name="+ 添加字段").click()
        form = page.locator(".flow-panel .flow-form")
        item = form.locator(".flow-form-item").last
        if not item.locator("details").get_attribute("open"):
            item.locator("summary").click()
        item.get_by_label("类型").select_option(kind)
        form = page.locator(".flow-panel .flow-form")
    item = form.locator(".flow-form-item").last
    if item.locator("details").get_attribute("open") is None:
        item.locator("summary").click()
    item.get_by_label("选项").fill("轻微 minor, 严重 major")
    item.get_by_label("标签", exact=True).fill("损坏程度 Damage")
    expect(status).to_have_text(OK)
    fields = _step(page, "warehouse_check")["form"]
    assert [f["type"] for f in fields] == ["barcode", "photos", "textarea", "signature", "location", "select"]
    assert fields[-1]["options"] == ["轻微 minor", "严重 major"] and fields[-1]["label"] == "损坏程度 Damage"
    phone = page.locator(".flow-panel .flow-phone")
    expect(phone).to_contain_text("损坏程度 Damage")
    expect(phone.locator("select option")).to_have_text(["请选择…", "轻微 minor", "严重 major"])

    # Words per language: the step's title, an outcome, a label; the preview in English says them.
    panel = page.locator(".flow-panel")
    panel.get_by_label("标题（English）").fill("Warehouse check")
    panel.get_by_label("标题（中文）").fill("仓库核查")
    panel.get_by_label("“stock_ok”（English）").fill("Stock is fine")
    findings = panel.locator(".flow-form-item[data-name=findings]")
    findings.locator("summary").click()
    findings.get_by_label("标签（English）").fill("What was found")
    expect(phone.locator(".flow-phone-bar")).to_have_text("仓库核查")
    panel.get_by_label("预览语言").select_option("en")
    phone = page.locator(".flow-panel .flow-phone")
    expect(phone.locator(".flow-phone-bar")).to_have_text("Warehouse check")
    expect(phone).to_contain_text("What was found")
    expect(phone).to_contain_text("Stock is fine")
    expect(status).to_have_text(OK)
    page.get_by_role("button", name="发布").click()
    expect(status).to_contain_text("已直接更新")
    step = api.ok("GET", f"/templates/{key}", login="admin")["steps"][1]
    assert step["titles"] == {"zh-CN": "仓库核查", "en": "Warehouse check"}
    assert step["outcome_labels"] == {"stock_ok": {"en": "Stock is fine"}}
    assert next(f for f in step["form"] if f["name"] == "findings")["labels"] == {"en": "What was found"}
    # Removing a field and clearing a word leave no trace of them.
    panel = page.locator(".flow-panel")
    panel.get_by_label("“stock_ok”（English）").fill("")
    assert "outcome_labels" not in _step(page, "warehouse_check")
    assert not desktop.js_errors(), desktop.js_errors()


def test_the_live_count_of_who_a_selection_is(desktop, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    key = _copy(api, "investigation")
    page = desktop.sign_in("admin")
    desktop.open(f"/admin/flows/{key}")
    page.locator(".flow-card[data-step=intake]").click()
    spec = _step(page, "intake")["assignees"]
    count = api.ok("POST", "/assignees/count", {k: spec.get(k) or [] for k in ("users", "groups", "departments", "roles")}, login="admin")
    today = page.locator(".flow-panel .flow-today")
    expect(today).to_have_text(f"今天：{count['named']} 人，其中 {count['on_duty']} 人在岗。")
    # Another department: the count follows the selection.
    panel = page.locator(".flow-panel")
    departments = api.ok("GET", "/departments?per_page=500", login="admin")["items"]
    warehouse = next(d for d in departments if d["code"] == "WH-SH-01")
    panel.get_by_label("添加部门…").select_option(str(warehouse["id"]))
    both = api.ok("POST", "/assignees/count", {"departments": [*spec["departments"], warehouse["id"]]}, login="admin")
    expect(page.locator(".flow-panel .flow-today")).to_have_text(f"今天：{both['named']} 人，其中 {both['on_duty']} 人在岗。")
    assert both["named"] > count["named"]
    assert not desktop.js_errors(), desktop.js_errors()
