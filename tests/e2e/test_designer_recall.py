"""The demo's recall flow built from nothing in the flow designer (docs/design.md §13), on a desktop, in zh-CN.

Every step is made through the designer's own controls: steps added after and beside others, a join drawn by
dragging from one card onto another, handlers picked by name (departments, roles) and from the work order's data,
conditions ticked as choices (the "every instance" quantifier included), the "otherwise" branch, SLA, escalation,
outcomes, forms, a branch moved left and back. The result must be the system's recall template step for step.
Simulate with "customer refused" shows the pickup skipped; published, a work order opened from it takes that route.
"""
import json
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import shot

VALID = "未发现问题，可以发布。"


def _draft(page):
    return json.loads(page.locator("#flow-json").input_value())


def _step(page, key):
    return next(s for s in _draft(page)["steps"] if s["key"] == key)


def _center(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_the_recall_flow_is_built_in_the_designer_and_runs_as_simulated(desktop, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    recall = api.ok("GET", "/templates/recall", login="admin")
    tag = uuid.uuid4().hex[:6]
    key = f"recall_{tag}"
    page = desktop.sign_in("admin")
    desktop.open("/admin/flows")
    page.get_by_role("button", name="新建模板").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("标识").fill(key)
    dialog.get_by_label("名称").fill(recall["name"])
    dialog.get_by_role("button", name="开始绘制").click()
    status = page.locator(".flow-status")
    expect(page.locator(".flow-card")).to_have_count(1)
    expect(status).to_have_text(VALID)
    panel = page.locator(".flow-panel")

    # The template's own settings.
    panel.get_by_label("说明").fill(recall["description"])
    panel.get_by_label("默认优先级").select_option("P1")
    panel.get_by_label("负责部门").select_option(label="质量部 Quality")

    def open_step(step_key):
        page.locator(f".flow-card[data-step={step_key}]").click()
        expect(panel.locator(".section-title").first).to_contain_text("步骤")

    def name_step(title, step_key):
        panel.get_by_label("标题", exact=True).fill(title)
        field = panel.get_by_label("标识", exact=True)
        field.fill(step_key)
        field.press("Tab")
        expect(page.locator(f".flow-card[data-step={step_key}]")).to_have_attribute("aria-pressed", "true")

    def remove_chip(name):
        panel.locator("[data-field=assignees]").get_by_role("button", name=f"移除 {name}").click()

    def add_field(label, name, kind):
        form = panel.locator(".flow-form")
        form.get_by_role("button", name="+ 添加字段").click()
        item = panel.locator(".flow-form .flow-form-item").last
        if item.locator("details").get_attribute("open") is None:
            item.locator("summary").click()
        item.get_by_label("类型").select_option(kind)
        item = panel.locator(".flow-form .flow-form-item").last
        item.get_by_label("标签", exact=True).fill(label)
        name_input = item.get_by_label("名称（数据中的键）")
        name_input.fill(name)
        name_input.press("Tab")

    def add_outcome_row():
        panel.locator("[data-field=when]").get_by_role("button", name="+ 某步骤的结果").click()

    # 1. Contact the customer: customer service, 4 hours, two escalation levels, three outcomes, a reason.
    open_step("step_1")
    name_step("联系客户 Contact the customer", "contact")
    panel.get_by_label("添加部门…").select_option(label="客服中心 Customer Service")
    remove_chip("角色：一线员工")
    panel.get_by_label("时限（SLA）").fill("PT4H")
    panel.get_by_label("最高级别").fill("2")
    # The escalation as a timeline: level 1 at the due time, level 2 an SLA later; no third level.
    timeline = panel.locator(".flow-esc")
    expect(timeline.locator("li")).to_have_count(2)
    expect(timeline.locator("li").nth(0)).to_contain_text("第 1 级")
    expect(timeline.locator("li").nth(1)).to_contain_text("第 2 级")
    panel.get_by_label("办理结果", exact=True).fill("agreed, refused, unreachable")
    add_field("原因 Reason", "reason", "text")
    expect(status).to_have_text(VALID)

    # 2. A lead follows up the unreachable: a step after the contact, the lead of customer service.
    panel.get_by_role("button", name="在其后添加步骤").click()
    expect(page.locator(".flow-card")).to_have_count(2)
    name_step("主管跟进 A lead follows up", "follow_up")
    panel.get_by_label("角色…").select_option("lead")
    panel.get_by_label("角色所在部门").select_option(label="客服中心 Customer Service")
    panel.get_by_role("button", name="添加角色").click()
    remove_chip("部门：客服中心 Customer Service")
    panel.get_by_label("时限（SLA）").fill("P1D")
    panel.get_by_label("办理结果", exact=True).fill("agreed, refused")
    add_outcome_row()
    row = panel.locator("[data-field=when] .flow-when-row")
    expect(row.get_by_label("步骤", exact=True)).to_have_value("contact")
    row.get_by_label("unreachable").check()
    panel.locator("[data-field=when] .flow-when-row").get_by_label("agreed").uncheck()
    assert _step(page, "follow_up")["when"] == {"outcome": {"step": "contact", "in": ["unreachable"]}}
    expect(status).to_have_text(VALID)

    # 3. The driver picks up: after the follow-up, then joined to the contact by dragging on the graph.
    panel.get_by_role("button", name="在其后添加步骤").click()
    name_step("司机取回 Driver picks up", "pickup")
    from_data = panel.get_by_label("由工单数据指定")
    from_data.fill("driver_ids")
    from_data.press("Tab")
    remove_chip("角色：主管 · 客服中心 Customer Service")
    port = page.locator(".flow-port[data-from=contact]")
    target = page.locator(".flow-card[data-step=pickup]")
    page.mouse.move(*_center(port.bounding_box()))
    page.mouse.down()
    page.mouse.move(*_center(target.bounding_box()), steps=8)
    expect(target).to_have_class("flow-card flow-card-selected flow-card-drop")
    page.mouse.up()
    expect(page.locator(".flow-edge[data-from=contact][data-to=pickup]")).to_have_count(1)
    assert _step(page, "pickup")["after"] == ["follow_up", "contact"]
    # A loop is refused: the contact cannot come after the pickup.
    page.mouse.move(*_center(page.locator(".flow-port[data-from=pickup]").bounding_box()))
    page.mouse.down()
    page.mouse.move(*_center(page.locator(".flow-card[data-step=contact]").bounding_box()), steps=8)
    page.mouse.up()
    expect(page.locator(".toast-error")).to_contain_text("形成循环")
    assert _step(page, "contact")["after"] == []
    # The panel says the same, and edits it with the keyboard: the follow-up taken out and put back.
    links = panel.locator("[data-field=after]")
    expect(links.locator(".flow-chip")).to_have_text(["主管跟进 A lead follows up×", "联系客户 Contact the customer×"])
    links.get_by_role("button", name="不再接在 主管跟进 A lead follows up 之后").click()
    expect(page.locator(".flow-edge[data-from=follow_up][data-to=pickup]")).to_have_count(0)
    links = panel.locator("[data-field=after]")
    expect(links.get_by_label("再接在…之后").locator("option")).to_have_text(["选择步骤…", "主管跟进 A lead follows up (follow_up)"])
    links.get_by_label("再接在…之后").select_option("follow_up")
    assert _step(page, "pickup")["after"] == ["contact", "follow_up"]
    panel.get_by_label("时限（SLA）").fill("P1D")
    panel.get_by_label("办理结果", exact=True).fill("picked_up, not_available")
    panel.get_by_label("可退回上一步").check()
    # Agreed at the contact, or at the follow-up.
    add_outcome_row()
    add_outcome_row()
    rows = panel.locator("[data-field=when] .flow-when-row")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_label("步骤", exact=True).select_option("contact")
    panel.locator("[data-field=when]").get_by_label("组合方式").select_option("any")
    assert _step(page, "pickup")["when"] == {"any": [{"outcome": {"step": "contact", "in": ["agreed"]}},
                                                     {"outcome": {"step": "follow_up", "in": ["agreed"]}}]}
    expect(status).to_have_text(VALID)

    # 4. The warehouse receives and inspects: one task per receiving warehouse, from the work order's list.
    panel.get_by_role("button", name="在其后添加步骤").click()
    name_step("仓库收货检验 Warehouse receives and inspects", "receive")
    panel.get_by_label("按列表逐项").fill("receive_at")
    from_data = panel.get_by_label("由工单数据指定")
    from_data.fill("")
    from_data.press("Tab")
    expect(panel.locator("[data-field=assignees] .flow-chip")).to_have_count(0)
    assert _step(page, "receive").get("assignees") is None
    panel.get_by_label("时限（SLA）").fill("P1D")
    panel.get_by_label("办理结果", exact=True).fill("passed, failed, not_received")
    add_field("检验结果 Findings", "findings", "textarea")
    add_outcome_row()
    expect(panel.locator("[data-field=when] .flow-when-row").get_by_label("步骤", exact=True)).to_have_value("pickup")
    assert _step(page, "receive")["when"] == {"outcome": {"step": "pickup", "in": ["picked_up"]}}
    expect(status).to_have_text(VALID)

    # 5. Back to stock when every warehouse passed the goods; 6. quality disposes of them otherwise (beside it).
    panel.get_by_role("button", name="在其后添加步骤").click()
    name_step("重新入库 Back to stock", "restock")
    panel.get_by_label("按列表逐项").fill("receive_at")
    remove_chip("角色：一线员工")
    panel.get_by_label("时限（SLA）").fill("P1D")
    add_outcome_row()
    expect(panel.locator("[data-field=when] .flow-when-row").get_by_label("passed")).to_be_checked()
    panel.locator("[data-field=when] .flow-when-row").get_by_label("哪些实例").select_option("all")
    assert _step(page, "restock")["when"] == {"outcome": {"step": "receive", "in": ["passed"], "quantifier": "all"}}
    panel.get_by_role("button", name="并行添加步骤").click()
    name_step("质检处置 Quality disposes of the goods", "dispose")
    remove_chip("角色：一线员工")
    panel.get_by_label("角色…").select_option("quality")
    panel.get_by_role("button", name="添加角色").click()
    panel.get_by_label("时限（SLA）").fill("P2D")
    panel.get_by_label("否则分支").check()
    expect(page.locator(".flow-edge-label[data-to=dispose]")).to_contain_text("其他情况")
    expect(status).to_have_text(VALID)

    # Branches reordered: the disposal moves left of the restock, then back.
    restock_x = page.locator(".flow-card[data-step=restock]").bounding_box()["x"]
    assert page.locator(".flow-card[data-step=dispose]").bounding_box()["x"] > restock_x  # left to right, in order
    expect(panel.locator(".flow-branch-order")).to_contain_text("第 2 个，共 2 个")
    panel.get_by_role("button", name="← 左移").click()
    assert [s["key"] for s in _draft(page)["steps"]][-2:] == ["dispose", "restock"]
    expect(page.locator(".flow-card[data-step=dispose]")).to_be_focused()
    assert page.locator(".flow-card[data-step=dispose]").bounding_box()["x"] < page.locator(".flow-card[data-step=restock]").bounding_box()["x"]
    panel.get_by_role("button", name="右移 →").click()
    assert [s["key"] for s in _draft(page)["steps"]] == [s["key"] for s in recall["steps"]]
    expect(status).to_have_text(VALID)

    # Simulate: the customer refused. The follow-up and the pickup are skipped, and all that follows them.
    page.get_by_role("button", name="模拟运行").click()
    sim = panel.locator(".flow-sim")
    sim.get_by_label("联系客户 Contact the customer").select_option("refused")
    sim.get_by_role("button", name="运行模拟").click()
    card = lambda k: page.locator(f".flow-card[data-step={k}]")  # noqa: E731
    expect(card("contact")).to_have_class("flow-card flow-card-sim flow-card-sim-started")
    for skipped in ("follow_up", "pickup", "receive", "restock", "dispose"):
        expect(card(skipped)).to_have_class("flow-card flow-card-sim flow-card-sim-skipped")
    expect(sim.locator(".flow-sim-item[data-step=pickup] .chip")).to_have_text("跳过")
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.evaluate("""() => {
      const head = document.querySelector('.flow-head');
      window.scrollTo(0, head.getBoundingClientRect().top + window.scrollY - 64);
      document.querySelector('.flow-graph').scrollTop = 0;
      const panel = document.querySelector('.flow-panel');
      const results = panel.querySelector('.flow-sim-results');
      panel.scrollTop += results.getBoundingClientRect().top - panel.getBoundingClientRect().top - 8;
    }""")
    shot(page, "19-designer-simulate")
    page.set_viewport_size({"width": 1280, "height": 800})
    # Unreachable, then agreed at the follow-up: the lead follows up, and the pickup starts.
    sim.get_by_label("联系客户 Contact the customer").select_option("unreachable")
    sim.get_by_label("主管跟进 A lead follows up").select_option("agreed")
    sim.get_by_role("button", name="运行模拟").click()
    expect(card("follow_up")).to_have_class("flow-card flow-card-sim flow-card-sim-started")
    expect(card("pickup")).not_to_have_class("flow-card flow-card-sim flow-card-sim-skipped")
    page.get_by_role("button", name="结束模拟").click()

    page.get_by_role("button", name="发布").click()
    expect(status).to_contain_text("创建了第 1 版")
    built = api.ok("GET", f"/templates/{key}", login="admin")
    for field in ("description", "priority", "owner_department_id", "form"):
        assert built[field] == recall[field], field
    # A template the upgrade installed may hold `{}`, which the API reads as both lists empty.
    assert built["classification"] == {"business": [], "problem": [], **(recall["classification"] or {})}
    assert built["steps"] == recall["steps"]

    # A work order on it, the customer refusing at the contact: the pickup and what follows are skipped.
    drivers = [u["id"] for u in api.ok("GET", "/people?q=driver", login="admin")["items"]][:2]
    warehouse = next(d for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"] if d["code"] == "WH-SH-01")
    wo = api.ok("POST", "/work-orders", {"template": key, "title": f"设计器召回 {tag}", "data": {
        "driver_ids": drivers, "receive_at": [{"code": "WH-SH-01", "label": warehouse["name"], "assignees": {"departments": [warehouse["id"]]}}],
    }}, login="admin")
    contact = next(t for t in wo["tasks"] if t["step"] == "contact")
    api.ok("POST", f"/tasks/{contact['id']}/claim", {}, login="cs.agent1")
    api.ok("POST", f"/tasks/{contact['id']}/complete", {"outcome": "refused", "data": {"reason": "客户拒绝 Customer refused"}}, login="cs.agent1")
    detail = api.ok("GET", f"/work-orders/{wo['id']}", login="admin")
    route = {s["key"]: s["status"] for s in detail["steps"]}
    assert route == {"contact": "completed", "follow_up": "skipped", "pickup": "skipped", "receive": "skipped",
                     "restock": "skipped", "dispose": "skipped"}, route
    assert detail["status"] == "resolved"
    page.goto(f"{desktop.base}/#/wo/{wo['id']}")
    steps = page.locator("ol.route li")
    expect(steps).to_have_count(6)
    expect(page.locator("ol.route li.route-skipped")).to_have_count(5)
    expect(page.locator("ol.route li.route-skipped").nth(1)).to_contain_text("司机取回")
    assert not desktop.js_errors(), desktop.js_errors()
