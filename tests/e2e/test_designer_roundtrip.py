"""Round trip (docs/design.md §13): a template made in the designer and the same template posted as JSON are equal.

A generated 30-step template (parallel branches and their joins, outcome branches with an "otherwise", conditions on
the opening form and on earlier steps' data, `not`, "every instance" of a for_each step, forms of every kind, words
per language, escalations, dispatch) is posted through the API; the same body is typed into a new template's JSON
view in the designer and published there; both stored bodies must be equal. The posted one, opened in the designer
and published without a change, must stay as it was. (Every demo template does the same in test_designer.py.)
"""
import json
import random
import uuid

from playwright.sync_api import expect

BODY = ("key", "name", "description", "priority", "classification", "owner_department_id", "form", "steps")
VALID = "未发现问题，可以发布。"
FIELD_KINDS = ("text", "textarea", "number", "integer", "boolean", "date", "datetime", "select", "multiselect", "photos",
               "signature", "barcode", "location", "list")


def _body(template, key=None):
    body = {k: template[k] for k in BODY}
    body["classification"] = {"business": [], "problem": [], **(body["classification"] or {})}
    if key:
        body["key"] = key
    return body


def generate(seed: int, *, key: str, departments: list[int], users: list[int], size: int = 30) -> dict:
    """A valid branching template of exactly `size` steps, the same for the same seed."""
    rng = random.Random(seed)
    steps: list[dict] = []

    def form(n):
        fields = []
        for i in range(rng.randint(0, 2)):
            kind = rng.choice(FIELD_KINDS)
            field = {"name": f"f{n}_{i}", "label": f"字段 {n}.{i} Field {n}.{i}", "type": kind, "required": rng.random() < 0.3}
            if kind in ("select", "multiselect"):
                field["options"] = ["甲 A", "乙 B", "丙 C"]
            if rng.random() < 0.3:
                field["labels"] = {"zh-CN": f"字段 {n}.{i}", "en": f"Field {n}.{i}"}
            fields.append(field)
        return fields

    def add(after, *, when=None, default=False, outcomes=None, for_each=None, fields=None):
        n = len(steps)
        mode = rng.choice(("pool", "pool", "joint", "each"))
        step = {"key": f"s{n:02d}", "title": f"步骤 {n} Step {n}", "after": list(after), "mode": mode,
                "outcomes": outcomes or ["done"], "form": form(n) if fields is None else fields}
        if for_each:
            step["for_each"] = for_each
            step["mode"] = "pool"
        else:
            step["assignees"] = rng.choice([
                {"departments": [rng.choice(departments)]},
                {"roles": [{"role": rng.choice(("staff", "lead", "quality")), "department": rng.choice([None, *departments])}]},
                {"users": sorted(rng.sample(users, 2))},
                {"departments": [rng.choice(departments)], "roles": [{"role": "lead", "department": None}]},
            ])
        sla = rng.choice((None, "PT30M", "PT4H", "P1D"))
        if sla:
            step["sla"] = sla
            if rng.random() < 0.4:
                step["remind_before"] = "PT10M"
            if rng.random() < 0.3:
                step["sla_calendar"] = "business"
            if rng.random() < 0.4:
                level = rng.randint(1, 4)
                step["escalation"] = {"interval": rng.choice((None, "PT1H")), "max_level": level,
                                      "reassign_at_level": rng.choice((None, level))}
        if step["mode"] == "pool" and rng.random() < 0.25:
            step["dispatch"] = rng.choice(("round_robin", "least_loaded"))
            step["capacity"] = rng.randint(1, 9)
        if rng.random() < 0.3:
            step["titles"] = {"zh-CN": f"步骤 {n}", "en": f"Step {n}"}
        if len(step["outcomes"]) > 1 and rng.random() < 0.5:
            step["outcome_labels"] = {step["outcomes"][0]: {"zh-CN": "是", "en": "Yes"}}
        if rng.random() < 0.2:
            step["allow_return"] = True
        if when is not None:
            step["when"] = when
        if default:
            step["default"] = True
        steps.append(step)
        return step["key"]

    def text_field(key):
        return next((f["name"] for s in steps if s["key"] == key for f in s["form"] if f["type"] in ("text", "textarea")), None)

    tail = [add([], outcomes=["accept", "reject"], fields=[{"name": "note", "label": "备注 Note", "type": "text", "required": False}])]
    while len(steps) < size:
        left = size - len(steps)
        kind = rng.choice([k for k, n in (("chain", 1), ("parallel", 3), ("diamond", 4), ("fields", 3), ("each", 4)) if n <= left])
        if kind == "chain":
            tail = [add(tail)]
        elif kind == "parallel":
            branches = [add(tail) for _ in range(rng.randint(2, min(3, left - 1)))]
            tail = [add(branches)]
        elif kind == "diamond":
            split = add(tail, outcomes=["yes", "no"], fields=[{"name": "note", "label": "说明 Note", "type": "textarea", "required": False}])
            yes = add([split], when={"outcome": {"step": split, "in": ["yes"]}})
            other = add([split], default=True)
            note = text_field(split)
            tail = [add([yes, other], when={"not": {"field": f"{split}.{note}", "op": "empty", "value": True}})]
        elif kind == "fields":
            big = add(tail, when={"all": [{"field": "amount", "op": "gte", "value": 100},
                                          {"field": "category", "op": "in", "value": ["甲 A", "乙 B"]}]})
            rest = add(tail, when={"any": [{"field": "amount", "op": "lt", "value": 100}, {"field": "urgent", "op": "eq", "value": False}]})
            tail = [add([big, rest])]
        else:
            each = add(tail, for_each="sites", outcomes=["passed", "failed"])
            passed = add([each], when={"outcome": {"step": each, "in": ["passed"], "quantifier": "all"}})
            failed = add([each], default=True)
            tail = [add([passed, failed])]
    return {
        "key": key, "name": f"生成的流程 Generated {key}", "description": f"seed {seed}", "priority": "P2",
        "classification": {"business": [], "problem": []}, "owner_department_id": departments[0],
        "form": [{"name": "amount", "label": "金额 Amount", "type": "number", "required": True},
                 {"name": "category", "label": "类别 Category", "type": "select", "required": False, "options": ["甲 A", "乙 B", "丙 C"]},
                 {"name": "urgent", "label": "加急 Urgent", "type": "boolean", "required": False},
                 {"name": "sites", "label": "地点 Sites", "type": "list", "required": False}],
        "steps": steps,
    }


def test_a_generated_30_step_template_is_the_same_made_in_the_designer_or_posted(desktop, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="admin")
    departments = [d["id"] for d in api.ok("GET", "/departments?per_page=500", login="admin")["items"]]
    users = [u["id"] for u in api.ok("GET", "/users?per_page=50", login="admin")["items"]]
    tag = uuid.uuid4().hex[:6]
    body = generate(20261206, key=f"gen_{tag}", departments=departments, users=users)
    assert len(body["steps"]) == 30
    assert any(len(s["after"]) > 1 for s in body["steps"]) and any(s.get("default") for s in body["steps"])
    assert sum(1 for s in body["steps"] if s.get("when")) >= 6
    posted = api.ok("POST", "/templates", body, login="admin")
    edges = sum(len(s["after"]) for s in body["steps"])

    # The same body, typed into a new template's JSON view, drawn, checked and published by the designer.
    page = desktop.sign_in("admin")
    desktop.open(f"/admin/flows/gen_{tag}_ui?new=1&name=x")
    expect(page.locator(".flow-card")).to_have_count(1)
    page.locator("#flow-json").fill(json.dumps({**body, "key": f"gen_{tag}_ui"}, ensure_ascii=False, indent=2))
    expect(page.locator(".flow-card")).to_have_count(30)
    expect(page.locator(".flow-edge")).to_have_count(edges)
    expect(page.locator(".flow-status")).to_have_text(VALID)
    page.get_by_role("button", name="发布").click()
    expect(page.locator(".flow-status")).to_contain_text("创建了第 1 版")
    made = api.ok("GET", f"/templates/gen_{tag}_ui", login="admin")
    assert _body(made, key=posted["key"]) == _body(posted)

    # The posted one, opened and published unchanged: the same template.
    desktop.open(f"/admin/flows/gen_{tag}")
    expect(page.locator(".flow-card")).to_have_count(30)
    expect(page.locator(".flow-status")).to_have_text(VALID)
    page.get_by_role("button", name="发布").click()
    expect(page.locator(".flow-status")).to_contain_text("已直接更新")
    assert _body(api.ok("GET", f"/templates/gen_{tag}", login="admin")) == _body(posted)
    # And every step's panel opens on it (conditions as rows or as JSON, forms, words) without an error.
    for step in body["steps"]:
        page.locator(f".flow-card[data-step={step['key']}]").click()
        expect(page.locator(".flow-panel [data-field=after]")).to_be_visible()
    expect(page.get_by_role("button", name="撤销")).to_be_disabled()  # opening them changed nothing
    assert json.loads(page.locator("#flow-json").input_value())["steps"] == posted["steps"]
    assert not desktop.js_errors(), desktop.js_errors()
