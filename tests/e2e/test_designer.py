"""The flow designer in a desktop browser (docs/design.md §13): an admin opens the demo's complaint flow as a graph,
edits a step's title and SLA, sees the server's message on that step's card while the SLA is wrong, fixes it and
publishes; undo, redo and leaving with unsaved changes; and every demo template goes through the designer unchanged.
In zh-CN, with a screenshot for the README."""
import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot

BODY = ("key", "name", "description", "priority", "classification", "owner_department_id", "form", "steps")


def _body(template):
    body = {k: template[k] for k in BODY}
    # A template the upgrade installed may hold `{}`, which the API reads as both lists empty.
    body["classification"] = {"business": [], "problem": [], **(body["classification"] or {})}
    return body


def test_an_admin_edits_and_publishes_the_complaint_flow(desktop, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    original = api.ok("GET", "/templates/complaint", login="admin")
    # A work order on the current version: publishing must then make a new one and leave this one where it is.
    running = api.create_work_order("lead.cs", "complaint", "Designer e2e: stays on its version")
    try:
        page = desktop.sign_in("admin")
        desktop.open("/admin/flows")
        row = page.locator("tr[data-key=complaint]")
        expect(row).to_contain_text("客户投诉 Customer complaint")
        expect(row.locator("td").nth(3)).to_have_text("4")
        row.get_by_role("link", name="打开").click()

        # The four steps, one above the other, the warehouse check's condition on its edge.
        cards = page.locator(".flow-card")
        expect(cards).to_have_count(4)
        expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
        tops = [page.locator(f".flow-card[data-step={k}]").bounding_box()["y"] for k in ("triage", "warehouse_check", "driver_visit", "close")]
        assert tops == sorted(tops) and len(set(tops)) == 4, tops
        expect(page.locator(".flow-edge-label[data-to=warehouse_check]")).to_have_text("triage: accepted")

        # The closing step: a new title, then an SLA the server refuses, shown on its card and under the field.
        close = page.locator(".flow-card[data-step=close]")
        close.click()
        expect(close).to_have_attribute("aria-pressed", "true")
        panel = page.locator(".flow-panel")
        panel.get_by_label("标题", exact=True).fill("客服回访结案 CS close (复核)")
        expect(close.locator(".flow-card-title")).to_have_text("客服回访结案 CS close (复核)")
        sla = panel.get_by_label("时限（SLA）")
        sla.fill("PT1H30")
        expect(page.locator(".flow-status")).to_contain_text("处问题")
        expect(close).to_have_class(r"flow-card flow-card-selected flow-card-error")
        expect(close.locator(".flow-card-issue")).to_contain_text("sla")
        expect(panel.locator("[data-field=sla] .field-error")).to_be_visible()
        expect(sla).to_have_attribute("aria-invalid", "true")
        page.evaluate("""() => {
          const head = document.querySelector('.flow-head');
          window.scrollTo(0, head.getBoundingClientRect().top + window.scrollY - 64);
          const panel = document.querySelector('.flow-panel');
          const field = panel.querySelector('[data-field=sla]');
          panel.scrollTop += field.getBoundingClientRect().top - panel.getBoundingClientRect().top - 160;
        }""")
        shot(page, "17-designer")
        for other in ("triage", "warehouse_check", "driver_visit"):
            expect(page.locator(f".flow-card[data-step={other}]")).not_to_have_class("flow-card-error")
        # The JSON beside it says the same.
        assert '"sla": "PT1H30"' in page.locator("#flow-json").input_value()
        sla.fill("PT90M")
        expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
        expect(close).not_to_have_class("flow-card-error")

        # Leaving with unsaved changes asks first.
        page.get_by_role("link", name="全部模板").click()
        dialog = page.locator("dialog[open]")
        expect(dialog).to_contain_text("不发布就离开？")
        dialog.get_by_role("button", name="取消").click()
        expect(page.locator(".flow-card")).to_have_count(4)

        page.get_by_role("button", name="发布").click()
        n = original["version"] + 1
        # The demo's own complaints run on it too: at least the one opened above stays behind.
        expect(page.locator(".flow-status")).to_have_text(re.compile(rf"^已发布为第 {n} 版；仍按第 {n - 1} 版运行的进行中工单：[1-9]\d* 个。$"))
        expect(page.locator(".flow-head .chip")).to_have_text(f"第 {n} 版")
        published = api.ok("GET", "/templates/complaint", login="admin")
        assert published["version"] == n
        assert api.ok("GET", f"/templates/complaint?version={n - 1}", login="admin")["steps"] == original["steps"]
        step = next(s for s in published["steps"] if s["key"] == "close")
        assert (step["title"], step["sla"]) == ("客服回访结案 CS close (复核)", "PT90M")
        assert [s["key"] for s in published["steps"]] == [s["key"] for s in original["steps"]]

        # Undo and redo, by keyboard too, within the session.
        title = panel.get_by_label("标题", exact=True)
        title.fill("改过的标题")
        expect(close.locator(".flow-card-title")).to_have_text("改过的标题")
        page.keyboard.press("Control+z")
        expect(close.locator(".flow-card-title")).to_have_text("客服回访结案 CS close (复核)")
        page.keyboard.press("Control+y")
        expect(close.locator(".flow-card-title")).to_have_text("改过的标题")
        page.get_by_role("button", name="撤销").click()
        expect(close.locator(".flow-card-title")).to_have_text("客服回访结案 CS close (复核)")
        page.get_by_role("link", name="全部模板").click()  # nothing unsaved: no question
        expect(page.locator("tr[data-key=complaint]")).to_be_visible()
        assert not desktop.js_errors(), desktop.js_errors()
    finally:
        api.ok("POST", f"/work-orders/{running['id']}/cancel", {"reason": "designer e2e"}, login="lead.cs")
        api.ok("PUT", "/templates/complaint", _body(original), login="admin")


def test_every_demo_template_goes_through_the_designer_unchanged(desktop, api):
    """Round trip: a template loaded into the designer and published as it is keeps exactly its steps and settings."""
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = desktop.sign_in("admin")
    templates = api.ok("GET", "/templates?per_page=500", login="admin")["items"]
    assert {"complaint", "investigation", "store_inspection", "safety_briefing", "stock_check"} <= {t["key"] for t in templates}
    for template in templates:
        before = api.ok("GET", f"/templates/{template['key']}", login="admin")
        desktop.open(f"/admin/flows/{template['key']}")
        expect(page.locator(".flow-card")).to_have_count(len(before["steps"]))
        expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
        page.get_by_role("button", name="发布").click()
        expect(page.locator(".flow-status")).to_contain_text("已发布")
        after = api.ok("GET", f"/templates/{template['key']}", login="admin")
        assert _body(after) == _body(before), template["key"]
    assert not desktop.js_errors(), desktop.js_errors()


def test_a_phone_sees_the_graph_read_only(phone, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = phone.sign_in("admin")
    phone.open("/admin/flows/investigation")
    expect(page.locator(".flow-canvas div.flow-card")).to_have_count(4)
    expect(page.locator(".flow-canvas button")).to_have_count(0)
    expect(page.get_by_role("button", name="发布")).to_have_count(0)
    # The join: CS concludes after both investigations, which run side by side.
    boxes = {k: page.locator(f".flow-card[data-step={k}]").bounding_box() for k in ("intake", "warehouse", "delivery", "conclude")}
    assert boxes["warehouse"]["y"] == boxes["delivery"]["y"] and boxes["warehouse"]["x"] != boxes["delivery"]["x"]
    assert boxes["intake"]["y"] < boxes["warehouse"]["y"] < boxes["conclude"]["y"]


def test_templates_are_made_duplicated_reshaped_and_deactivated(desktop, api):
    import json
    import uuid

    tag = uuid.uuid4().hex[:6]
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    page = desktop.sign_in("admin")

    # Duplicate the investigation: a new key and name, version 1, the same four steps.
    desktop.open("/admin/flows")
    page.locator("tr[data-key=investigation]").get_by_role("button", name="复制").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("标识").fill(f"inv_{tag}")
    dialog.get_by_label("名称").fill(f"调查副本 {tag}")
    dialog.get_by_role("button", name="复制").click()
    expect(page.locator(".flow-name")).to_have_text(f"调查副本 {tag}")
    expect(page.locator(".flow-card")).to_have_count(4)

    # A step beside the warehouse's: side by side with it, and the conclusion waits for both.
    page.locator(".flow-card[data-step=warehouse]").click()
    page.get_by_role("button", name="并行添加步骤").click()
    expect(page.locator(".flow-card")).to_have_count(5)
    expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
    made = page.locator(".flow-card-selected")
    new_key = made.get_attribute("data-step")
    assert made.bounding_box()["y"] == page.locator(".flow-card[data-step=warehouse]").bounding_box()["y"]
    draft = json.loads(page.locator("#flow-json").input_value())
    assert next(s for s in draft["steps"] if s["key"] == "conclude")["after"] == ["warehouse", "delivery", new_key]
    # Deleting it says what follows it; the conclusion then waits for the two investigations again.
    page.get_by_role("button", name="删除步骤").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("客服结论 CS concludes")
    dialog.get_by_role("button", name="删除步骤").click()
    expect(page.locator(".flow-card")).to_have_count(4)

    # A step after the intake: the investigations now follow it.
    page.locator(".flow-card[data-step=intake]").click()
    page.get_by_role("button", name="在其后添加步骤").click()
    expect(page.locator(".flow-card")).to_have_count(5)
    page.locator(".flow-panel").get_by_label("标题", exact=True).fill("主管复核 Lead review")
    expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
    # Another admin changes the template meanwhile: Publish says so before replacing it.
    theirs = api.ok("GET", f"/templates/inv_{tag}", login="admin")
    api.ok("PUT", f"/templates/inv_{tag}", {**_body(theirs), "description": "changed elsewhere"}, login="admin")
    page.get_by_role("button", name="发布").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("已被他人修改")
    dialog.get_by_role("button", name="取消").click()
    expect(page.locator(".flow-card")).to_have_count(5)
    page.get_by_role("button", name="发布").click()
    page.locator("dialog[open]").get_by_role("button", name="发布我的版本").click()
    expect(page.locator(".flow-status")).to_contain_text("已直接更新")  # nothing runs on it yet
    saved = api.ok("GET", f"/templates/inv_{tag}", login="admin")
    review = next(s for s in saved["steps"] if s["title"] == "主管复核 Lead review")
    assert (saved["version"], review["after"]) == (1, ["intake"])
    assert {s["key"]: s["after"] for s in saved["steps"]}["warehouse"] == [review["key"]]

    # Deactivated from the list: gone from the templates new work is opened from.
    page.get_by_role("link", name="全部模板").click()
    row = page.locator(f"tr[data-key=inv_{tag}]")
    row.get_by_role("button", name="停用").click()
    page.locator("dialog[open]").get_by_role("button", name="停用").click()
    expect(row).to_contain_text("已停用")
    assert f"inv_{tag}" not in [t["key"] for t in api.ok("GET", "/templates?per_page=500", login="admin")["items"]]

    # A new template: a key in use is refused at once; a free one starts a one-step draft the first Publish creates.
    page.get_by_role("button", name="新建模板").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("标识").fill("complaint")
    dialog.get_by_label("名称").fill("重复")
    dialog.get_by_role("button", name="开始绘制").click()
    expect(page.locator(".toast-error")).to_contain_text("已有标识为 complaint 的模板")
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("标识").fill(f"new_{tag}")
    dialog.get_by_label("名称").fill(f"新流程 {tag}")
    dialog.get_by_role("button", name="开始绘制").click()
    expect(page.locator(".flow-card")).to_have_count(1)
    expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
    # An expert writes the second step in the JSON: the graph follows, and the server's word on it lands on its card.
    draft = json.loads(page.locator("#flow-json").input_value())
    draft["steps"].append({"key": "sign_off", "title": "签发 Sign off", "after": ["step_1"], "assignees": {"roles": [{"role": "lead"}]},
                           "sla": "PT2H", "remind_before": "PT3H"})
    page.locator("#flow-json").fill(json.dumps(draft, ensure_ascii=False, indent=2))
    expect(page.locator(".flow-card")).to_have_count(2)
    sign_off = page.locator(".flow-card[data-step=sign_off]")
    expect(sign_off).to_contain_text("签发 Sign off")
    expect(sign_off.locator(".flow-card-issue")).to_contain_text("remind_before")
    sign_off.click()
    expect(page.locator(".flow-panel [data-field=remind_before] .field-error")).to_be_visible()
    page.locator(".flow-panel").get_by_label("到期前提醒").fill("PT30M")
    expect(page.locator(".flow-status")).to_have_text("未发现问题，可以发布。")
    assert '"remind_before": "PT30M"' in page.locator("#flow-json").input_value()
    page.get_by_role("button", name="发布").click()
    expect(page.locator(".flow-status")).to_contain_text("创建了第 1 版")
    created = api.ok("GET", f"/templates/new_{tag}", login="admin")
    assert (created["name"], [s["key"] for s in created["steps"]]) == (f"新流程 {tag}", ["step_1", "sign_off"])
    assert created["steps"][1]["remind_before"] == "PT30M"
    assert not desktop.js_errors(), desktop.js_errors()
