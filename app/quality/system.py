"""The flows Baton starts by itself (docs/design.md §13): the andon's quarantine, the recall of delivered goods,
and the restock after a stock shortage.

They are installed on every database by the upgrade (migration `a7d3f9e2c5b8`), owned by the system
(`FlowTemplate.system`), and edited by admins like any template (a new version once work runs on one); the demo
seed routes them to its own departments. Pure data: no database, so the migration can read it.
"""

SYSTEM_KEYS = ("quarantine", "recall", "restock")


def system_templates(*, customer_service: int | None = None, quality: int | None = None, operations: int | None = None) -> list[dict]:
    """Quarantine (andon containment), recall (one per delivered order) and restock (stock shortage).

    Routed by role where a company has not said otherwise: on a new database, customers are contacted and
    followed up by the quality team, who own the recall; an admin then points those steps at customer service by
    editing the template (a new version). With the departments named, they are routed as a company with them would.
    """
    contact = {"departments": [customer_service]} if customer_service else {"roles": [{"role": "quality"}]}
    follow_up = {"roles": [{"role": "lead", "department": customer_service}]} if customer_service else {"roles": [{"role": "quality"}]}
    qa, ops = quality, operations
    return [
        {
            "key": "quarantine", "name": "隔离库存 Quarantine stock", "priority": "P1", "owner_department_id": qa,
            "description": "Andon containment: each warehouse holding the stock quarantines it, then quality confirms",
            "steps": [
                {"key": "quarantine", "title": "隔离库存 Quarantine the stock", "mode": "pool", "for_each": "warehouses", "sla": "PT2H",
                 "outcomes": ["quarantined", "none_found"],
                 "form": [{"name": "quantity", "label": "隔离数量 Quantity quarantined", "type": "integer", "required": False}]},
                {"key": "confirm", "title": "质检确认 Quality confirms the containment", "after": ["quarantine"], "mode": "pool",
                 "assignees": {"roles": [{"role": "quality"}]}, "sla": "PT4H"},
            ],
        },
        {
            "key": "recall", "name": "召回 Recall", "priority": "P1", "owner_department_id": qa,
            "description": "Contact the customer (a lead follows up the unreachable) → the driver picks up → the "
                           "warehouse receives and inspects → passed goods back to stock, anything else disposed of by "
                           "quality. A refusal closes the recall with its reason.",
            "steps": [
                {"key": "contact", "title": "联系客户 Contact the customer", "mode": "pool", "assignees": contact,
                 "sla": "PT4H", "escalation": {"max_level": 2}, "outcomes": ["agreed", "refused", "unreachable"],
                 "form": [{"name": "reason", "label": "原因 Reason", "type": "text", "required": False}]},
                {"key": "follow_up", "title": "主管跟进 A lead follows up", "after": ["contact"], "mode": "pool",
                 "assignees": follow_up, "sla": "P1D", "outcomes": ["agreed", "refused"],
                 "when": {"outcome": {"step": "contact", "in": ["unreachable"]}}},
                {"key": "pickup", "title": "司机取回 Driver picks up", "after": ["contact", "follow_up"], "mode": "pool",
                 "assignees": {"from_data": "driver_ids"}, "sla": "P1D", "outcomes": ["picked_up", "not_available"],
                 "allow_return": True,
                 "when": {"any": [{"outcome": {"step": "contact", "in": ["agreed"]}},
                                  {"outcome": {"step": "follow_up", "in": ["agreed"]}}]}},
                {"key": "receive", "title": "仓库收货检验 Warehouse receives and inspects", "after": ["pickup"], "mode": "pool",
                 "for_each": "receive_at", "sla": "P1D", "outcomes": ["passed", "failed", "not_received"],
                 "form": [{"name": "findings", "label": "检验结果 Findings", "type": "textarea", "required": False}],
                 "when": {"outcome": {"step": "pickup", "in": ["picked_up"]}}},
                {"key": "restock", "title": "重新入库 Back to stock", "after": ["receive"], "mode": "pool", "for_each": "receive_at",
                 "sla": "P1D", "when": {"outcome": {"step": "receive", "in": ["passed"], "quantifier": "all"}}},
                {"key": "dispose", "title": "质检处置 Quality disposes of the goods", "after": ["receive"], "mode": "pool",
                 "assignees": {"roles": [{"role": "quality"}]}, "sla": "P2D", "default": True},
            ],
        },
        {
            "key": "restock", "name": "补货 Restock", "priority": "P2", "owner_department_id": ops,
            "description": "A product paused for stock shortage: its owner department restocks it; stock transferred from "
                           "elsewhere is received and counted, and quality confirms a product that is discontinued",
            "steps": [
                {"key": "restock", "title": "补货 Restock the product", "mode": "pool", "for_each": "owner", "sla": "PT4H",
                 "outcomes": ["restocked", "transferred", "discontinued"]},
                {"key": "receive_transfer", "title": "接收调拨 Receive the transferred stock", "after": ["restock"], "mode": "pool",
                 "for_each": "owner", "sla": "P1D", "outcomes": ["received", "short"],
                 "form": [{"name": "received_quantity", "label": "收到数量 Quantity received", "type": "integer", "required": True}],
                 "when": {"outcome": {"step": "restock", "in": ["transferred"]}}},
                {"key": "confirm_discontinued", "title": "确认停售 Quality confirms it is discontinued", "after": ["restock"],
                 "mode": "pool", "assignees": {"roles": [{"role": "quality"}]}, "sla": "P1D",
                 "when": {"outcome": {"step": "restock", "in": ["discontinued"]}}},
            ],
        },
    ]
