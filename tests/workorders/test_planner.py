"""The activation planner (app/workorders/planner.py): the one rule for which tasks a step opens and for whom.

The engine and the bulk writer both plan through it (the recall path's row-for-row equivalence test in
tests/quality/test_recall.py compares what they store); here, what it decides and what planning many costs.
"""
from types import SimpleNamespace


from app.common.clock import utcnow
from app.extensions import db
from app.org.models import User
from app.workorders.planner import ActivationPlanner
from tests.conftest import statements


def _work_order(demo, data):
    return SimpleNamespace(data=data, department_id=demo.dept("CS"), created_by_id=demo.uid("lead.cs"))


def test_instances_handlers_and_stand_ins(app, demo):
    planner = ActivationPlanner(now=utcnow())
    step = {"key": "visit", "mode": "pool", "for_each": "stores",
            "assignees": {"departments": [demo.dept("WH-SH-01")]}}
    data = {"stores": [{"code": "S1", "assignees": {"users": [demo.uid("driver.li")]}}, "S2"]}
    first, second = planner.plan(work_order=_work_order(demo, data), step=step)
    assert (first.instance, first.label, first.members) == (0, "S1", [demo.uid("driver.li")])
    warehouse = sorted(u.id for u in db.session.scalars(db.select(User).where(User.department_id == demo.dept("WH-SH-01"),
                                                                               User.active.is_(True))))
    assert (second.instance, second.label) == (1, "S2") and second.members == warehouse
    each = planner.plan(work_order=_work_order(demo, {}), step={"key": "sign", "mode": "each",
                                                               "assignees": {"users": [demo.uid("cs.agent1"), demo.uid("cs.agent2")]}})
    assert [t.members for t in each] == [[demo.uid("cs.agent1")], [demo.uid("cs.agent2")]]
    # Nobody named can take it: the owning department's head (or their stand-in), said on the task.
    (fallback,) = planner.plan(work_order=_work_order(demo, {}), step={"key": "x", "mode": "pool", "assignees": {"users": []}})
    assert fallback.members and fallback.substitutions == {"fallback": fallback.members}


def test_planning_many_work_orders_costs_the_queries_of_their_distinct_specs(app, demo):
    """A recall plans one step for thousands of work orders: resolutions are remembered, not repeated."""
    step = {"key": "call", "mode": "pool", "assignees": {"from_data": "agent"}}
    agents = [demo.uid("cs.agent1"), demo.uid("cs.agent2")]
    work_orders = [_work_order(demo, {"agent": agents[i % 2]}) for i in range(202)]
    planner = ActivationPlanner(now=utcnow())
    with statements() as sent:
        planner.plan(work_order=work_orders[0], step=step)
        planner.plan(work_order=work_orders[1], step=step)
        after_two = len(sent)
        plans = [planner.plan(work_order=w, step=step) for w in work_orders[2:]]
    assert after_two > 0 and len(sent) == after_two  # 200 more work orders, not one more query
    assert [p[0].members for p in plans[:2]] == [[agents[0]], [agents[1]]]
