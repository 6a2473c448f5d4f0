"""Demo data for `flask seed demo`: idempotent, realistic, and small enough to read."""
from sqlalchemy import select

from app.calendars.service import install_built_in
from app.common.clock import utcnow
from app.extensions import db
from app.flows import service as flows
from app.flows.models import FlowTemplate
from app.flows.schemas import TemplateSchema
from app.org import service as org
from app.org.models import Department, User
from app.quality.demo import quality_templates, seed_catalogue
from app.quality.system import SYSTEM_KEYS
from app.workorders import entrypoints
from app.workorders import service as workorders
from app.workorders.classifications import add_path
from app.workorders.models import QrEntryPoint, WorkOrder
from app.workorders.schemas import WorkOrderCreateSchema

DEMO_PASSWORD = "baton-demo"

DEPARTMENTS = [
    # code, name, kind, parent code
    ("HQ", "Baton Retail 总部", "company", None),
    ("CS", "客服中心 Customer Service", "customer_service", "HQ"),
    ("OPS", "运营部 Operations", "operations", "HQ"),
    ("WH-SH-01", "上海一号仓 Shanghai WH 1", "warehouse", "OPS"),
    ("WH-BJ-01", "北京一号仓 Beijing WH 1", "warehouse", "OPS"),
    ("DLV-SH", "上海配送 Shanghai Delivery", "delivery", "OPS"),
    ("MER", "商家运营 Merchants", "merchant", "HQ"),
    ("QA", "质量部 Quality", "quality", "HQ"),
]

# login, name, department, manager login, roles, extra permissions
PEOPLE = [
    ("admin", "系统管理员 Admin", "HQ", None, ["admin"], []),
    ("gm.zhang", "张总 Zhang (GM)", "HQ", None, ["lead"], []),
    ("mgr.ops", "王经理 Wang (Ops)", "OPS", "gm.zhang", ["lead"], []),
    ("mgr.wh1", "李主管 Li (WH SH)", "WH-SH-01", "mgr.ops", ["lead", "staff"], []),
    ("staff.wh1", "赵师傅 Zhao", "WH-SH-01", "mgr.wh1", ["staff"], []),
    ("staff.wh1b", "钱师傅 Qian", "WH-SH-01", "mgr.wh1", ["staff"], []),
    ("mgr.wh2", "周主管 Zhou (WH BJ)", "WH-BJ-01", "mgr.ops", ["lead", "staff"], []),
    ("staff.wh2", "孙师傅 Sun", "WH-BJ-01", "mgr.wh2", ["staff"], []),
    ("staff.wh2b", "吴师傅 Wu", "WH-BJ-01", "mgr.wh2", ["staff"], []),
    ("mgr.dlv", "郑队长 Zheng (Delivery)", "DLV-SH", "mgr.ops", ["lead", "staff"], []),
    ("driver.li", "李司机 Li (driver)", "DLV-SH", "mgr.dlv", ["staff"], []),
    ("driver.wang", "王司机 Wang (driver)", "DLV-SH", "mgr.dlv", ["staff"], []),
    ("driver.chen", "陈司机 Chen (driver)", "DLV-SH", "mgr.dlv", ["staff"], []),
    ("lead.cs", "刘组长 Liu (CS lead)", "CS", "gm.zhang", ["lead"], []),
    ("cs.agent1", "陈客服 Chen (CS)", "CS", "lead.cs", ["staff"], ["andon.pull"]),
    ("cs.agent2", "杨客服 Yang (CS)", "CS", "lead.cs", ["staff"], []),
    ("mgr.qa", "黄经理 Huang (Quality)", "QA", "gm.zhang", ["quality", "lead"], []),
    ("quality.qa", "林质检 Lin (QA)", "QA", "mgr.qa", ["quality"], []),
    ("merchant.hu", "胡老板 Hu (merchant)", "MER", "gm.zhang", ["staff"], []),
    ("merchant.xu", "徐店长 Xu (merchant)", "MER", "merchant.hu", ["staff"], []),
]

HEADS = {"OPS": "mgr.ops", "WH-SH-01": "mgr.wh1", "WH-BJ-01": "mgr.wh2", "DLV-SH": "mgr.dlv", "CS": "lead.cs", "QA": "mgr.qa", "HQ": "gm.zhang", "MER": "merchant.hu"}


def seed_organisation() -> dict:
    """Create the demo departments and people that are missing; leave existing ones alone."""
    created = {"departments": 0, "users": 0}
    codes = {}
    for code, name, kind, parent in DEPARTMENTS:
        dept = db.session.scalar(select(Department).where(Department.code == code))
        if dept is None:
            dept = org.create_department(code=code, name=name, kind=kind, parent_id=codes[parent] if parent else None)
            created["departments"] += 1
        codes[code] = dept.id
    logins = {}
    for login, name, dept, manager, roles, permissions in PEOPLE:
        user = db.session.scalar(select(User).where(User.login == login))
        if user is None:
            user = org.create_user(
                login=login,
                password=DEMO_PASSWORD,
                name=name,
                department_id=codes[dept],
                manager_id=logins.get(manager),
                roles=roles,
                permissions=permissions,
                locale="zh-CN",
            )
            created["users"] += 1
        logins[login] = user.id
    for code, login in HEADS.items():
        dept = db.session.get(Department, codes[code])
        if dept.head_id is None:
            dept.head_id = logins[login]
    # Operations works office hours with China's holidays: its warehouses and drivers inherit the built-in calendar
    # (steps that say "sla_calendar": "business" count working time there).
    operations = db.session.get(Department, codes["OPS"])
    if operations.calendar_id is None:
        operations.calendar_id = install_built_in(utcnow()).id
    db.session.commit()
    return created


def seed_demo() -> dict:
    """Everything the demo needs, created only where missing."""
    return {"organisation": seed_organisation(), "classifications": seed_classifications(), "templates": seed_templates(), "work_orders": seed_work_orders(),
            "catalogue": seed_catalogue(), "entry_points": seed_entry_points()}


def _ids(logins: list[str]) -> list[int]:
    return list(db.session.scalars(select(User.id).where(User.login.in_(logins)).order_by(User.id)))


def _dept(code: str) -> int:
    return db.session.scalar(select(Department.id).where(Department.code == code))


def demo_templates() -> list[dict]:
    """The built-in templates: serial, parallel (diamond), joint and each handling."""
    cs, wh1, wh2, dlv, mer = (_dept(c) for c in ("CS", "WH-SH-01", "WH-BJ-01", "DLV-SH", "MER"))
    return [
        {
            "key": "complaint", "name": "客户投诉 Customer complaint", "priority": "P2", "owner_department_id": cs,
            "description": "CS triage → warehouse check → driver visit → CS close; a duplicate closes at triage",
            "classification": {"business": ["零售 Retail", "生鲜 Fresh"], "problem": ["售后 After-sales", "商品质量 Quality"]},
            "form": [{"name": "customer_phone", "label": "客户电话 Customer phone", "type": "text", "required": False},
                     {"name": "order_amount", "label": "订单金额 Order amount", "type": "number", "required": False}],
            "steps": [
                {"key": "triage", "title": "客服分诊 CS triage", "mode": "pool", "assignees": {"departments": [cs]},
                 "sla": "PT30M", "remind_before": "PT10M", "outcomes": ["accepted", "duplicate"]},
                {"key": "warehouse_check", "title": "仓库核查 Warehouse check", "after": ["triage"], "mode": "pool",
                 "assignees": {"departments": [wh1, wh2]}, "sla": "PT2H", "remind_before": "PT30M", "allow_return": True,
                 "when": {"outcome": {"step": "triage", "in": ["accepted"]}},
                 "outcomes": ["stock_ok", "stock_damaged"],
                 # The batch on the shelf is scanned and checked against the complaint's batch (docs/design.md §15).
                 "form": [{"name": "batch_scan", "label": "扫描批次码 Scan the batch code", "type": "barcode", "required": False,
                           "formats": ["code_128", "qr_code", "data_matrix"], "must_match": "batch_no"},
                          {"name": "photos", "label": "货物照片 Photos of the goods", "type": "photos", "required": False, "max": 6},
                          {"name": "findings", "label": "检查发现 Findings", "type": "textarea", "required": True}]},
                {"key": "driver_visit", "title": "司机上门 Driver visit", "after": ["warehouse_check"], "mode": "pool",
                 "assignees": {"departments": [dlv]}, "sla": "PT4H", "allow_return": True,
                 "escalation": {"interval": "PT1H", "max_level": 3, "reassign_at_level": 2},
                 "form": [{"name": "customer_signature", "label": "客户签名 Customer's signature", "type": "signature", "required": False},
                          {"name": "visit_location", "label": "上门位置 Where the visit took place", "type": "location", "required": False}]},
                {"key": "close", "title": "客服回访结案 CS close", "after": ["driver_visit"], "mode": "pool",
                 "assignees": {"departments": [cs]}, "sla": "PT1H", "allow_return": True, "outcomes": ["resolved", "unresolved"]},
            ],
        },
        {
            "key": "investigation", "name": "跨部门调查 Cross-department investigation", "priority": "P2", "owner_department_id": cs,
            "description": "Warehouse and delivery investigate in parallel, then CS concludes",
            "classification": {"business": ["零售 Retail"], "problem": ["配送 Delivery", "错发漏发 Wrong item"]},
            "steps": [
                {"key": "intake", "title": "客服受理 CS intake", "mode": "pool", "assignees": {"departments": [cs]}, "sla": "PT30M"},
                {"key": "warehouse", "title": "仓库调查 Warehouse investigates", "after": ["intake"], "mode": "pool",
                 "assignees": {"departments": [wh1, wh2]}, "sla": "PT4H", "allow_return": True,
                 "form": [{"name": "root_cause", "label": "根本原因 Root cause", "type": "select", "required": True,
                           "options": ["picking", "packing", "labelling", "stock", "none"]}]},
                {"key": "delivery", "title": "配送调查 Delivery investigates", "after": ["intake"], "mode": "pool",
                 "assignees": {"departments": [dlv]}, "sla": "PT4H", "allow_return": True},
                {"key": "conclude", "title": "客服结论 CS concludes", "after": ["warehouse", "delivery"], "mode": "pool",
                 "assignees": {"departments": [cs]}, "sla": "PT1H", "outcomes": ["resolved", "unresolved"]},
            ],
        },
        {
            "key": "store_inspection", "name": "门店联合巡检 Joint store inspection", "priority": "P3", "owner_department_id": mer,
            "description": "Any merchant on the team completes it for all (joint handling)",
            "steps": [
                {"key": "inspect", "title": "联合巡检 Inspect the shelf", "mode": "joint", "assignees": {"departments": [mer]}, "sla": "P1D",
                 "form": [{"name": "shelf_ok", "label": "货架已整理 Shelf in order", "type": "boolean", "required": True}]},
            ],
        },
        {
            "key": "safety_briefing", "name": "安全交底确认 Safety briefing sign-off", "priority": "P3", "owner_department_id": wh1,
            "description": "Every warehouse worker confirms on their own phone (each handling)",
            "steps": [
                {"key": "acknowledge", "title": "本人确认 Acknowledge the briefing", "mode": "each",
                 "assignees": {"roles": [{"role": "staff", "department": wh1}, {"role": "staff", "department": wh2}]}, "sla": "PT8H",
                 "sla_calendar": "business"},
            ],
        },
        {
            "key": "stock_check", "name": "库存核对 Stock check", "priority": "P2", "owner_department_id": wh1,
            "description": "First warehouse worker to claim it counts the bin (pool handling)",
            "steps": [
                {"key": "count", "title": "盘点库位 Count the bin", "mode": "pool", "assignees": {"departments": [wh1, wh2]},
                 "sla": "PT1H", "remind_before": "PT15M", "outcomes": ["matches", "discrepancy"],
                 "form": [{"name": "counted", "label": "盘点数量 Counted quantity", "type": "integer", "required": True},
                          {"name": "photo", "label": "照片 Photo", "type": "attachment", "required": False}]},
            ],
        },
    ] + quality_templates()


CLASSIFICATIONS = {
    "business": [
        ["零售 Retail", "生鲜 Fresh", "乳品 Dairy"], ["零售 Retail", "生鲜 Fresh", "果蔬 Produce"],
        ["零售 Retail", "日用品 Household", "清洁 Cleaning"], ["零售 Retail", "日用品 Household", "纸品 Paper"],
        ["物流 Logistics", "仓储 Warehousing", "盘点 Stock count"], ["物流 Logistics", "配送 Delivery", "同城 Same-day"],
        ["商家 Merchants", "入驻 Onboarding", "资质 Credentials"], ["商家 Merchants", "门店 Stores", "陈列 Display"],
    ],
    "problem": [
        ["售后 After-sales", "商品质量 Quality", "破损 Damaged"], ["售后 After-sales", "商品质量 Quality", "临期 Near expiry"],
        ["售后 After-sales", "退换货 Returns", "退款 Refund"], ["配送 Delivery", "错发漏发 Wrong item", "错发 Wrong item"],
        ["配送 Delivery", "错发漏发 Wrong item", "漏发 Missing item"], ["配送 Delivery", "时效 Timeliness", "超时 Late"],
        ["售前 Pre-sales", "咨询 Enquiry", "库存 Availability"], ["售前 Pre-sales", "咨询 Enquiry", "价格 Price"],
    ],
}


def seed_classifications() -> int:
    """The demo business and problem trees (3 levels each)."""
    return sum(add_path(tree=tree, path=path) for tree, paths in CLASSIFICATIONS.items() for path in paths)


def seed_templates() -> int:
    """Install the demo templates that are missing, and route the system flows to the demo's departments.

    The system flows (quality.system) come with the database, routed by role; while nobody has edited them, the
    demo edits them as an admin would (customer service contacts the customers), never adding a second template.
    """
    created = 0
    for body in demo_templates():
        current = db.session.scalar(select(FlowTemplate).where(FlowTemplate.key == body["key"], FlowTemplate.is_current.is_(True)))
        if current is None:
            flows.create_template(body=TemplateSchema().load(body), created_by=None, now=utcnow(), system=body["key"] in SYSTEM_KEYS)
            created += 1
        elif current.system and current.version == 1 and current.created_by_id is None and body["key"] in SYSTEM_KEYS:
            loaded = TemplateSchema().load(body)
            if (loaded["steps"], loaded["owner_department_id"]) != (current.steps, current.owner_department_id):
                flows.replace_template(key=body["key"], body=loaded, created_by=None, now=utcnow())
    return created


def seed_work_orders() -> int:
    """A few live work orders so every demo inbox has something in it (only when there are none)."""
    if db.session.scalar(select(WorkOrder.id).limit(1)):
        return 0
    lead = db.session.scalar(select(User).where(User.login == "lead.cs"))
    wh_lead = db.session.scalar(select(User).where(User.login == "mgr.wh1"))
    now = utcnow()
    orders = [
        (wh_lead, {"template": "stock_check", "title": "A-12-03 库位数量不符 Bin A-12-03 count mismatch", "priority": "P1",
                   "source": "app", "product_sku": "SKU-MILK-1L"}),
        (wh_lead, {"template": "stock_check", "title": "B-02-11 盘点 Cycle count B-02-11", "priority": "P3", "source": "app"}),
        (lead, {"template": "complaint", "title": "牛奶破损投诉 Damaged milk delivered", "priority": "P2", "source": "phone",
                "business": ["零售 Retail", "生鲜 Fresh", "乳品 Dairy"], "problem": ["售后 After-sales", "商品质量 Quality", "破损 Damaged"],
                "order_no": "SO-DEMO-0001", "customer_ref": "C-10086", "product_sku": "SKU-MILK-1L", "batch_no": "B-MILK-A01",
                "tags": ["damaged"], "emotion": "angry",
                "data": {"customer_phone": "138****0000", "order_amount": 59.9}}),
        (lead, {"template": "investigation", "title": "错发商品调查 Wrong item investigation", "priority": "P2", "source": "online",
                "order_no": "SO-DEMO-0002", "customer_ref": "C-20001"}),
        (wh_lead, {"template": "safety_briefing", "title": "冷库安全交底 Cold-room safety briefing", "priority": "P3", "source": "app"}),
    ]
    for creator, body in orders:
        workorders.create_work_order(body=WorkOrderCreateSchema().load(body), created_by=creator, department_id=creator.department_id,
                                     now=now, tz="Asia/Shanghai")
    return len(orders)


def seed_entry_points() -> int:
    """Two printed QR codes (docs/design.md §15): a shelf in the Shanghai warehouse and a store counter (only when
    there are none)."""
    if db.session.scalar(select(QrEntryPoint.id).limit(1)):
        return 0
    admin = db.session.scalar(select(User).where(User.login == "admin"))
    points = [
        {"name": "A-03 货架 Shelf A-03", "template": "stock_check", "department_id": _dept("WH-SH-01"),
         "prefill": {"title": "A-03 货架盘点 Shelf A-03 count", "location": "上海一号仓 A 区 03 货架 Shanghai WH 1, aisle A, shelf 03",
                     "product_sku": "SKU-MILK-1L"}},
        {"name": "徐汇店收银台 Xuhui store counter", "template": "complaint", "department_id": _dept("CS"),
         "prefill": {"title": "门店顾客反馈 A customer's report at the counter", "location": "徐汇店 1 号收银台 Xuhui store, counter 1",
                     "priority": "P2"}},
    ]
    for body in points:
        entrypoints.create_entry_point(body=body, created_by=admin, now=utcnow())
    return len(points)
