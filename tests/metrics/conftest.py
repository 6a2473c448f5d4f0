"""A hand-built week of work for the metrics tests.

The week is Monday 2025-03-03 to Sunday 2025-03-09 in Asia/Shanghai (UTC+8). Work orders are
made through the API and engine (create, complete, return, claim, cancel), then their times are
set on the rows so that every duration is exact. The figures each test expects are worked out by
hand in the test itself.

    WO1  lead.cs  phone    售后/质量/破损  tags damaged,crushed resolved; a on time, b late (escalated to 1)
                                                             customer: resolved, QA 4; 2 contacts
    WO2  lead.cs  online   售后/质量/破损                    resolved after one return of b to a; all on time
                                                             customer: not resolved, QA 2
    WO3  lead.cs  andon    配送/时效                         resolved; b has no SLA; not evaluated
    WO4  mgr.wh1  phone    配送/时效       tags late,damaged open; a unclaimed and overdue, escalated to 2
    WO5  lead.cs  cs_desk  (none)          tags vip          cancelled
    WO6  mgr.wh1  phone    售后/质量/缺件  tags crushed,damaged in progress; a claimed, overdue; opened 23:30 local on Sunday
    WO7  lead.cs  phone    售后/质量/破损                    opened 00:10 local on the next Monday: outside the week

Times (UTC; the task list is in order of creation):
    WO1 opened 03-03 02:00   a 02:00 claim 02:10 done 02:40 due 03:00 | b 02:40 claim 03:00 done 05:40 due 04:40
    WO2 opened 03-04 01:00   a1 01:00 claim 01:05 done 01:20 due 02:00 | b1 01:20 returned
                             a2 01:40 claim 01:50 done 02:00 due 02:40 | b2 02:00 claim 02:30 done 03:00 due 04:00
    WO3 opened 03-05 01:00   a 01:00 claim 01:15 done 01:30 due 02:00 | b 01:30 claim 01:31 done 01:40 no due
    WO4 opened 03-06 02:00   a 02:00 open, due 03:00                       (work order due 03-06 03:00)
    WO5 opened 03-07 03:00   a cancelled
    WO6 opened 03-09 15:30   a 15:30 claim 15:55, due 16:30                (work order due 03-10 06:00)
    WO7 opened 03-09 16:10   a, b done; evaluated (QA 1) — must not count

Volumes: 03-03 orders 20,000, self-service 30, IVR 20 of which 4 misrouted, manual 10;
         03-04 orders 30,000, self-service 50 of which 2 misrouted, IVR 10, manual 8 of which 1 misrouted.

Summaries only read: the `week` fixture runs the job that writes the read model of closed work
(`catch_up`) once at NOW, and a test that closes more work runs it again before summarising.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.workorders.models import Tag, Task, WorkOrder
from tests.conftest import built_once
from tests.workorders.conftest import flow  # noqa: F401  (shared fixture)

NOW = datetime(2025, 3, 10, 0, 0, tzinfo=timezone.utc)  # Monday 08:00 local, after the week
WEEK = {"from": "2025-03-03", "to": "2025-03-09"}

TEMPLATE = {
    "key": "metrics-two-step",
    "name": "Two steps",
    "priority": "P3",
    "steps": [
        {"key": "a", "title": "Step A", "mode": "pool", "assignees": {"roles": [{"role": "staff"}]}, "sla": "PT1H"},
        {"key": "b", "title": "Step B", "after": ["a"], "mode": "pool", "assignees": {"users": []}, "sla": "PT2H",
         "allow_return": True},
    ],
}


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=timezone.utc)


@dataclass
class Dataset:
    ids: dict = field(default_factory=dict)


def _template(flow, demo):
    body = {**TEMPLATE, "steps": [dict(s) for s in TEMPLATE["steps"]]}
    body["steps"][0]["assignees"] = {"departments": [demo.dept("CS")]}
    body["steps"][1]["assignees"] = {"departments": [demo.dept("WH-SH-01")]}
    flow.template(body)


def _set_times(wo_id: int, opened: datetime, tasks: list[dict], due: datetime | None = None, escalation: int = 0) -> None:
    """Put exact times on a work order and its tasks (in order of creation)."""
    db.session.execute(update(WorkOrder).where(WorkOrder.id == wo_id).values(
        created_at=opened, due_at=due, escalation_level=escalation))
    rows = db.session.scalars(select(Task.id).where(Task.work_order_id == wo_id).order_by(Task.id)).all()
    assert len(rows) == len(tasks), (wo_id, len(rows), len(tasks))
    for task_id, values in zip(rows, tasks):
        db.session.execute(update(Task).where(Task.id == task_id).values(**values))
    db.session.commit()


def task_times(created, claimed=None, done=None, due=None, level=0) -> dict:
    return {"created_at": created, "claimed_effective_at": claimed, "completed_effective_at": done, "due_at": due,
            "escalation_level": level}


def build_week(flow, client, demo, evaluate=True, volumes=True) -> Dataset:
    data = Dataset()
    _template(flow, demo)
    wh1, dlv = demo.dept("WH-SH-01"), demo.dept("DLV-SH")
    # "damaged" and "crushed" are both the Shanghai warehouse's; "vip" is nobody's.
    db.session.add_all([Tag(name="damaged", department_id=wh1), Tag(name="crushed", department_id=wh1),
                        Tag(name="late", department_id=dlv)])
    db.session.commit()
    key = TEMPLATE["key"]
    quality_damage = ["售后 After-sales", "质量 Quality", "破损 Damaged"]
    delivery_time = ["配送 Delivery", "时效 Timeliness"]

    wo1 = flow.create(key, source="phone", problem=quality_damage, business=["零售", "生鲜"], tags=["damaged", "crushed"], contact_count=2)
    flow.finish(wo1["id"], "a", "cs.agent1")
    flow.finish(wo1["id"], "b", "staff.wh1")
    _set_times(wo1["id"], t(3, 2), [
        task_times(t(3, 2), t(3, 2, 10), t(3, 2, 40), t(3, 3)),
        task_times(t(3, 2, 40), t(3, 3), t(3, 5, 40), t(3, 4, 40), level=1),
    ], escalation=1)

    wo2 = flow.create(key, source="online", problem=quality_damage)
    flow.finish(wo2["id"], "a", "cs.agent1")
    (b1,) = flow.open_tasks(wo2["id"], "b")
    assert flow.act(b1["id"], "return", "staff.wh1", reason="photo missing").status_code == 200
    flow.finish(wo2["id"], "a", "cs.agent1")
    flow.finish(wo2["id"], "b", "staff.wh1")
    _set_times(wo2["id"], t(4, 1), [
        task_times(t(4, 1), t(4, 1, 5), t(4, 1, 20), t(4, 2)),
        task_times(t(4, 1, 20)),
        task_times(t(4, 1, 40), t(4, 1, 50), t(4, 2), t(4, 2, 40)),
        task_times(t(4, 2), t(4, 2, 30), t(4, 3), t(4, 4)),
    ])

    wo3 = flow.create(key, source="andon", problem=delivery_time)
    flow.finish(wo3["id"], "a", "cs.agent2")
    flow.finish(wo3["id"], "b", "staff.wh1b")
    _set_times(wo3["id"], t(5, 1), [
        task_times(t(5, 1), t(5, 1, 15), t(5, 1, 30), t(5, 2)),
        task_times(t(5, 1, 30), t(5, 1, 31), t(5, 1, 40), None),
    ])

    wo4 = flow.create(key, login="mgr.wh1", source="phone", problem=delivery_time, tags=["late", "damaged"])
    _set_times(wo4["id"], t(6, 2), [task_times(t(6, 2), due=t(6, 3), level=2)], due=t(6, 3), escalation=2)

    wo5 = flow.create(key, source="cs_desk", tags=["vip"])
    response = client.post(f"/api/v1/work-orders/{wo5['id']}/cancel", json={"reason": "duplicate"}, headers=flow.h("lead.cs"))
    assert response.status_code == 200, response.json
    _set_times(wo5["id"], t(7, 3), [task_times(t(7, 3), due=t(7, 4))])

    wo6 = flow.create(key, login="mgr.wh1", source="phone", problem=["售后 After-sales", "质量 Quality", "缺件 Missing part"],
                      tags=["crushed", "damaged"])
    (a6,) = flow.open_tasks(wo6["id"], "a")
    assert flow.act(a6["id"], "claim", "cs.agent1").status_code == 200
    _set_times(wo6["id"], t(9, 15, 30), [task_times(t(9, 15, 30), t(9, 15, 55), None, t(9, 16, 30))], due=t(10, 6))

    wo7 = flow.create(key, source="phone", problem=quality_damage)
    flow.finish(wo7["id"], "a", "cs.agent1")
    flow.finish(wo7["id"], "b", "staff.wh1")
    _set_times(wo7["id"], t(9, 16, 10), [
        task_times(t(9, 16, 10), t(9, 16, 20), t(9, 16, 30), t(9, 17)),
        task_times(t(9, 16, 30), t(9, 16, 40), t(9, 17), t(9, 18)),
    ])

    data.ids = {f"wo{i}": wo["id"] for i, wo in enumerate([wo1, wo2, wo3, wo4, wo5, wo6, wo7], start=1)}
    if evaluate:
        lead = flow.h("lead.cs")
        for name, body in (("wo1", {"resolved": True, "score": 4}), ("wo2", {"resolved": False, "score": 2, "note": "still broken"}),
                           ("wo7", {"resolved": False, "score": 1})):
            response = client.post(f"/api/v1/work-orders/{data.ids[name]}/evaluation", json=body, headers=lead)
            assert response.status_code == 201, response.json
    if volumes:
        response = client.post("/api/v1/service-volumes", headers=flow.h("admin"), json={"volumes": [
            {"day": "2025-03-03", "channel": "orders", "count": 20000},
            {"day": "2025-03-03", "channel": "self_service", "count": 30},
            {"day": "2025-03-03", "channel": "ivr", "count": 20, "misrouted": 4},
            {"day": "2025-03-03", "channel": "manual", "count": 10},
            {"day": "2025-03-04", "channel": "orders", "count": 30000},
            {"day": "2025-03-04", "channel": "self_service", "count": 50, "misrouted": 2},
            {"day": "2025-03-04", "channel": "ivr", "count": 10},
            {"day": "2025-03-04", "channel": "manual", "count": 8, "misrouted": 1},
        ]})
        assert response.status_code == 200, response.json
    return data


def catch_up(now=NOW, tz="Asia/Shanghai", **kwargs) -> dict:
    """One pass of the job keeping the metrics read model caught up (what `flask worker` and the sweep Lambda run)."""
    from app.metrics.catch_up import catch_up_facts

    return catch_up_facts(now=now, tz=tz, **kwargs)


@pytest.fixture
def week(flow, client, demo, backend):  # noqa: F811
    """The week, with the read model caught up at NOW (built once per worker and database, then put back)."""

    def build():
        data = build_week(flow, client, demo)
        catch_up()
        return data

    return built_once("metrics-week", backend, build)


def summary_for(login: str, demo, group_by=None, now=NOW, pareto_level=3, parts=None, **period):
    """The summary at service level, for a demo user, at a fixed `now` (only `parts` of it, if given)."""
    from datetime import date

    from app.metrics.period import Period
    from app.metrics.summary import summarise

    bounds = {**WEEK, **period}
    span = Period(date.fromisoformat(bounds["from"]), date.fromisoformat(bounds["to"]), "Asia/Shanghai")
    extra = {} if parts is None else {"parts": parts}
    return summarise(user=demo.user(login), period=span, group_by=group_by, now=now, pareto_level=pareto_level, **extra)
