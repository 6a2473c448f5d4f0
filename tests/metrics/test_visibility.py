"""What a lead sees of closed work: the facts carry the set of departments taking part (see `facts`), on both databases.

On top of the hand-built week (see conftest), WO8 goes through the Beijing warehouse only:

    WO8  lead.cs  phone  (none)  resolved; one pool step "count" (WH-BJ-01), on time
         opened 03-05 03:00, task 03:00 claim 03:20 done 03:50 due 04:00 (claim 1,200 s, completion 3,000 s)

Departments taking part: WO1, WO2, WO3, WO6, WO7 CS + WH-SH-01; WO4 CS + WH-SH-01 + DLV-SH; WO5 CS;
WO8 CS + WH-BJ-01. The tree: HQ > CS, HQ > OPS > WH-SH-01, WH-BJ-01, DLV-SH.
"""
import pytest
from sqlalchemy import select, update

from app.extensions import db
from tests.metrics.conftest import TEMPLATE, _set_times, catch_up, summary_for, t, task_times

BJ_TEMPLATE = {
    "key": "metrics-beijing",
    "name": "Beijing count",
    "priority": "P3",
    "steps": [{"key": "count", "title": "Count", "mode": "pool", "sla": "PT1H"}],
}


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-9)


@pytest.fixture
def beijing(week, flow, demo):
    body = {**BJ_TEMPLATE, "steps": [{**BJ_TEMPLATE["steps"][0], "assignees": {"departments": [demo.dept("WH-BJ-01")]}}]}
    flow.template(body)
    wo8 = flow.create(BJ_TEMPLATE["key"], source="phone")
    flow.finish(wo8["id"], "count", "staff.wh2")
    _set_times(wo8["id"], t(5, 3), [task_times(t(5, 3), t(5, 3, 20), t(5, 3, 50), t(5, 4))])
    week.ids["wo8"] = wo8["id"]
    catch_up()
    return week


def _departments_of(work_order_id: int) -> str:
    from app.workorders.models import WorkOrderDepartment

    ids = db.session.scalars(select(WorkOrderDepartment.department_id).where(WorkOrderDepartment.work_order_id == work_order_id))
    return ",".join(str(i) for i in sorted(ids))


def test_each_fact_carries_the_set_of_departments_taking_part(beijing, demo):
    from app.metrics.models import DepartmentSet, StepDay, TagFact, TaskFact, WorkOrderFact

    summary_for("admin", demo)
    sets = dict(db.session.execute(select(DepartmentSet.id, DepartmentSet.departments)).all())
    cs, wh1, wh2 = demo.dept("CS"), demo.dept("WH-SH-01"), demo.dept("WH-BJ-01")
    # Closed: WO1, WO2, WO3 (CS + WH-SH-01), WO5 (CS), WO8 (CS + WH-BJ-01), and WO7 (CS + WH-SH-01): the job writes
    # every closed work order, not only those of a period someone asked for. Each set is kept once.
    assert sorted(sets.values()) == sorted(",".join(str(i) for i in sorted(s)) for s in ({cs, wh1}, {cs}, {cs, wh2}))
    facts = dict(db.session.execute(select(WorkOrderFact.work_order_id, WorkOrderFact.department_set_id)).all())
    assert set(facts) == {beijing.ids[name] for name in ("wo1", "wo2", "wo3", "wo5", "wo7", "wo8")}
    for work_order_id, set_id in facts.items():
        assert sets[set_id] == _departments_of(work_order_id)
    # The task and tag facts and the per-day totals carry their work order's set.
    for model in (TaskFact, TagFact):
        for work_order_id, set_id in db.session.execute(select(model.work_order_id, model.department_set_id)):
            assert set_id == facts[work_order_id]
    step_days = db.session.execute(select(StepDay.template_key, StepDay.department_set_id, StepDay.every)).all()
    assert {(key, sets[set_id]) for key, set_id, _ in step_days} == {
        (TEMPLATE["key"], f"{min(cs, wh1)},{max(cs, wh1)}"), (TEMPLATE["key"], str(cs)),
        (BJ_TEMPLATE["key"], f"{min(cs, wh2)},{max(cs, wh2)}")}


def test_a_lead_sees_exactly_the_work_of_their_subtree(beijing, demo):
    bj = BJ_TEMPLATE["key"]
    # WH-BJ-01 takes part in WO8 only.
    wh2 = summary_for("mgr.wh2", demo)
    assert wh2["work_orders"] == {"total": 1, "customer": 1, "open": 0, "in_progress": 0, "resolved": 1, "cancelled": 0}
    assert [(s["template"], s["step"], s["tasks"], s["completed"], s["on_time"], s["late"], s["overdue_open"])
            for s in wh2["steps"]] == [(bj, "count", 1, 1, 1, 0, 0)]
    assert wh2["on_time_rate"] == 1.0 and wh2["escalations"]["by_level"] == []
    assert wh2["sla"]["time_to_claim"] == {"median": 1200, "p90": 1200, "count": 1, "estimated": False}
    assert wh2["sla"]["time_to_complete"] == {"median": 3000, "p90": 3000, "count": 1, "estimated": False}
    assert [i["label"] for i in wh2["pareto"]["items"]] == ["(unclassified)"] and wh2["tags_by_department"] == []
    assert wh2["backlog"]["open"] == 0

    # The Shanghai warehouse does not see WO8: its figures are those of the week (WO5 never left CS).
    wh1 = summary_for("mgr.wh1", demo)
    assert wh1["work_orders"] == {"total": 5, "customer": 4, "open": 1, "in_progress": 1, "resolved": 3, "cancelled": 0}
    assert [s["template"] for s in wh1["steps"]] == [TEMPLATE["key"]] * 2
    assert (wh1["sla"]["tasks"], wh1["sla"]["on_time"], wh1["sla"]["late"]) == (9, 5, 3)

    # OPS sees both warehouses: the week's five and WO8, its tasks counted once.
    ops = summary_for("mgr.ops", demo)
    assert ops["work_orders"]["total"] == 6 and ops["work_orders"]["resolved"] == 4
    assert [s["template"] for s in ops["steps"]] == [bj, TEMPLATE["key"], TEMPLATE["key"]]
    assert (ops["sla"]["tasks"], ops["sla"]["on_time"], ops["sla"]["late"]) == (10, 6, 3)
    assert ops["sla"]["time_to_claim"]["count"] == wh1["sla"]["time_to_claim"]["count"] + 1

    # CS takes part in everything: the same figures as an admin's.
    admin, cs = summary_for("admin", demo, group_by="department"), summary_for("lead.cs", demo, group_by="department")
    assert admin["work_orders"]["total"] == 7
    for name in ("work_orders", "sla", "steps", "escalations", "evaluations", "effort", "pareto", "tags_by_department", "backlog",
                 "groups"):
        assert cs[name] == admin[name], name

    # Quality takes part in nothing.
    qa = summary_for("mgr.qa", demo)
    assert (qa["work_orders"]["total"], qa["sla"]["tasks"], qa["steps"]) == (0, 0, [])


def test_moving_a_department_in_the_tree_needs_no_rebuild(beijing, demo):
    from app.metrics.models import DepartmentSet
    from app.org.models import Department

    assert summary_for("mgr.ops", demo)["work_orders"]["total"] == 6
    sets = db.session.scalars(select(DepartmentSet.departments)).all()
    # The Beijing warehouse moves from OPS to HQ: OPS no longer sees WO8; the facts stay as they are.
    db.session.execute(update(Department).where(Department.id == demo.dept("WH-BJ-01")).values(parent_id=demo.dept("HQ")))
    db.session.commit()
    ops = summary_for("mgr.ops", demo)
    assert ops["work_orders"]["total"] == 5 and [s["template"] for s in ops["steps"]] == [TEMPLATE["key"]] * 2
    assert ops["sla"] == summary_for("mgr.wh1", demo)["sla"]
    assert summary_for("mgr.wh2", demo)["work_orders"]["total"] == 1
    assert db.session.scalars(select(DepartmentSet.departments)).all() == sets


def test_work_closed_after_the_last_catch_up_joins_the_set_it_shares(beijing, flow, demo):
    from app.metrics.models import DepartmentSet, WorkOrderFact

    before = summary_for("mgr.wh1", demo)
    sets = db.session.scalar(select(db.func.count()).select_from(DepartmentSet))
    # WO6 (CS + WH-SH-01, like WO1) is finished after the job's last pass; the next pass writes its fact.
    wo6 = beijing.ids["wo6"]
    flow.finish(wo6, "a", "cs.agent1")
    flow.finish(wo6, "b", "staff.wh1")
    catch_up()
    after = summary_for("mgr.wh1", demo)
    assert db.session.scalar(select(db.func.count()).select_from(DepartmentSet)) == sets
    fact_sets = dict(db.session.execute(select(WorkOrderFact.work_order_id, WorkOrderFact.department_set_id)).all())
    assert fact_sets[wo6] == fact_sets[beijing.ids["wo1"]]
    assert (after["work_orders"]["resolved"], after["work_orders"]["in_progress"]) == (4, 0)
    # Its two tasks now count from the per-day totals of that set: step b gained one.
    assert after["sla"]["tasks"] == before["sla"]["tasks"] + 1
    assert [s["tasks"] for s in after["steps"]] == [before["steps"][0]["tasks"], before["steps"][1]["tasks"] + 1]
    assert summary_for("mgr.wh2", demo)["work_orders"]["total"] == 1


def test_after_the_upgrade_empties_the_facts_the_next_catch_up_builds_them_again(beijing, demo):
    from sqlalchemy import delete

    from app.metrics.catch_up import STATE_KEY
    from app.metrics.models import MetricSetting, StepDay, TagFact, TaskFact, WorkOrderFact

    before = {login: summary_for(login, demo, group_by="day") for login in ("admin", "mgr.ops", "mgr.wh2")}
    # What migration c8d41f0a7b25 does: the read model is emptied and the refresh state forgotten.
    for model in (StepDay, TaskFact, TagFact, WorkOrderFact):
        db.session.execute(delete(model))
    db.session.execute(delete(MetricSetting).where(MetricSetting.key == STATE_KEY))
    db.session.commit()
    catch_up()
    for login, summary in before.items():
        assert summary_for(login, demo, group_by="day") == summary, login
