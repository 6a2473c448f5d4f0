"""Routing benchmark: what conditions cost, against a flow without them, on PostgreSQL.

    .venv/bin/python bench/bench_routing.py [--work-orders 60] [--dry-runs 200]

Two 30-step templates, measured in the same run, through the services the HTTP views call:

- `chain`: 30 steps one after the other, no conditions (the baseline);
- `branching`: 10 stages of three steps — a decision (outcomes yes / no), a branch taken on "yes" (`when`) and a
  default branch — each stage joining into the next decision; every work order runs 20 steps and skips 10.

For each it prints the dry run's cost (ms per dry run of the whole template) and a work order's whole life (create,
then complete every task that opens until it resolves): ms and SQL statements per work order and per step run, and
the ratios branching : chain. Every life is checked: the work order resolves with exactly the steps the route says.
Exit status 0 unless a check fails (timing never fails a benchmark).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import benchlib  # noqa: E402

STAGES = 10


def chain_template(cs: int) -> dict:
    steps = [{"key": f"s{i}", "title": f"Step {i}", "assignees": {"departments": [cs]}, "sla": "PT4H",
              **({"after": [f"s{i - 1}"]} if i > 1 else {})} for i in range(1, 3 * STAGES + 1)]
    return {"key": "bench_chain", "name": "30-step chain", "steps": steps}


def branching_template(cs: int) -> dict:
    steps = []
    for i in range(1, STAGES + 1):
        after = {"after": [f"yes{i - 1}", f"no{i - 1}"]} if i > 1 else {}
        steps += [
            {"key": f"d{i}", "title": f"Decide {i}", "assignees": {"departments": [cs]}, "sla": "PT4H",
             "outcomes": ["yes", "no"], **after},
            {"key": f"yes{i}", "title": f"Yes {i}", "after": [f"d{i}"], "assignees": {"departments": [cs]}, "sla": "PT4H",
             "when": {"outcome": {"step": f"d{i}", "in": ["yes"]}}},
            {"key": f"no{i}", "title": f"No {i}", "after": [f"d{i}"], "assignees": {"departments": [cs]}, "sla": "PT4H",
             "default": True},
        ]
    return {"key": "bench_branching", "name": "30-step branching", "steps": steps}


def outcome_for(step_key: str, n: int) -> str | None:
    """Decisions alternate per work order and stage, so both branches are taken."""
    if not step_key.startswith("d"):
        return None
    return "yes" if (int(step_key[1:]) + n) % 2 else "no"


class Statements:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._one)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._one)

    def _one(self, *args, **kwargs):
        self.count += 1


def one_life(key: str, n: int, user, tz: str) -> tuple[int, list[str]]:
    """Create a work order and complete every task that opens until it resolves; answers (steps run, statuses)."""
    from sqlalchemy import select

    from app.common.clock import utcnow
    from app.extensions import db
    from app.workorders.completion import complete_task
    from app.workorders.models import Task, TaskStatus, WorkOrder, WorkOrderStep
    from app.workorders.service import create_work_order

    work_order = create_work_order(body={"template": key, "title": f"{key} {n}"}, created_by=user,
                                   department_id=user.department_id, now=utcnow(), tz=tz)
    wo_id = work_order.id
    ran = 0
    while True:
        task = db.session.execute(select(Task.id, Task.step).where(Task.work_order_id == wo_id, Task.status == TaskStatus.OPEN)
                                  .order_by(Task.id).limit(1)).first()
        if task is None:
            break
        complete_task(user=user, task_id=task.id, outcome=outcome_for(task.step, n), note=None, data=None, now=utcnow(),
                      max_skew=300)
        ran += 1
    status = db.session.scalar(select(WorkOrder.status).where(WorkOrder.id == wo_id))
    steps = list(db.session.scalars(select(WorkOrderStep.status).where(WorkOrderStep.work_order_id == wo_id)))
    db.session.remove()
    return ran, [status, *steps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-orders", type=int, default=60, help="work orders driven to the end per template")
    parser.add_argument("--dry-runs", type=int, default=200, help="dry runs per template")
    args = parser.parse_args()
    print(f"# bench_routing on {benchlib.machine()}")
    failures = 0
    with benchlib.bench_database("routing") as url:
        secret = benchlib.new_secret()
        app = benchlib.make_app(url, secret)
        try:
            benchlib.create_schema(app)
            with app.app_context():
                from sqlalchemy import select

                from app.extensions import db
                from app.flows.schemas import TemplateSchema
                from app.flows.service import create_template, get_template
                from app.org.models import Department, User
                from app.seed import seed_organisation
                from app.workorders.dryrun import dry_run
                from app.common.clock import utcnow

                seed_organisation()
                cs = db.session.scalar(select(Department.id).where(Department.code == "CS"))
                admin = db.session.scalar(select(User).where(User.login == "admin"))
                for body in (chain_template(cs), branching_template(cs)):  # through the schema, as POST /templates does
                    create_template(body=TemplateSchema().load(body), created_by=admin, now=utcnow())
                db.session.commit()
                tz = app.config["BUSINESS_TIMEZONE"]
                results = {}
                for name, key in (("chain", "bench_chain"), ("branching", "bench_branching")):
                    template = get_template(key=key)
                    admin = db.session.scalar(select(User).where(User.login == "admin"))
                    outcomes = {s["key"]: "yes" for s in template.steps if s["key"].startswith("d")}
                    dry_run(template=template, user=admin, data={}, outcomes=outcomes, step_data={}, start_at=utcnow(),
                            department_id=None, zone=tz)  # warm-up
                    started = time.perf_counter()
                    for _ in range(args.dry_runs):
                        answer = dry_run(template=template, user=admin, data={}, outcomes=outcomes, step_data={},
                                         start_at=utcnow(), department_id=None, zone=tz)
                    dry_ms = (time.perf_counter() - started) * 1000 / args.dry_runs
                    started_steps = sum(1 for s in answer["steps"] if s["status"] == "started")
                    lead = db.session.scalar(select(User).where(User.login == "lead.cs"))
                    one_life(key, -1, lead, tz)  # warm-up
                    lead = db.session.scalar(select(User).where(User.login == "lead.cs"))
                    ran_total = 0
                    with Statements(db.engine) as seen:
                        started = time.perf_counter()
                        for n in range(args.work_orders):
                            lead = db.session.scalar(select(User).where(User.login == "lead.cs"))
                            ran, statuses = one_life(key, n, lead, tz)
                            ran_total += ran
                            expected_run = 3 * STAGES if name == "chain" else 2 * STAGES
                            if statuses[0] != "resolved" or ran != expected_run or \
                                    statuses[1:].count("skipped") != (0 if name == "chain" else STAGES):
                                failures += 1
                                print(f"CHECK FAILED: {name} work order {n}: ran {ran}, statuses {statuses}")
                        elapsed = time.perf_counter() - started
                    results[name] = {"dry": dry_ms, "life": elapsed * 1000 / args.work_orders,
                                     "per_step": elapsed * 1000 / ran_total, "statements": seen.count / args.work_orders,
                                     "statements_per_step": seen.count / ran_total, "started": started_steps}
                    benchlib.figure(f"{name}_dry_run_ms", dry_ms, "ms")
                    benchlib.figure(f"{name}_dry_run_started_steps", started_steps)
                    benchlib.figure(f"{name}_life_ms_per_work_order", results[name]["life"], "ms")
                    benchlib.figure(f"{name}_life_ms_per_step_run", results[name]["per_step"], "ms")
                    benchlib.figure(f"{name}_statements_per_work_order", results[name]["statements"])
                    benchlib.figure(f"{name}_statements_per_step_run", results[name]["statements_per_step"])
                benchlib.figure("ratio_dry_run_branching_to_chain", results["branching"]["dry"] / results["chain"]["dry"])
                benchlib.figure("ratio_per_step_run_branching_to_chain", results["branching"]["per_step"] / results["chain"]["per_step"])
                benchlib.figure("ratio_statements_per_step_branching_to_chain",
                                results["branching"]["statements_per_step"] / results["chain"]["statements_per_step"])
        finally:
            benchlib.close_app(app)
    print("all checks held" if not failures else f"{failures} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
