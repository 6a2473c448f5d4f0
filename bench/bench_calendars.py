"""Calendar benchmark: re-planning live tasks after a calendar change, on PostgreSQL.

    .venv/bin/python bench/bench_calendars.py [--tasks 100000]

A warehouse with `--tasks` live tasks on one business calendar (a pool step with an SLA of 4 working hours, a
reminder and three escalation levels: four timers each), opened over the past week at 10,000 different moments.
An admin then makes Saturday mornings working time (PUT /calendars/{id}, through the service the view calls).

Prints the re-plan's wall time, its rate, the SQL statements it sent, and, measured in the same run as the
baseline, the set-based bulk writer opening the same number of work orders (the recall fan-out): the ratio says
what a calendar change costs against opening the work in the first place. Checks that every live task and every
pending timer moved to what `flows.timing` plans for it on the new calendar. Exit status 0 unless a check fails.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import benchlib  # noqa: E402
from bench.bench_routing import Statements  # noqa: E402

WEEK = {d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [], "sun": []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000, help="live tasks on the calendar")
    args = parser.parse_args()
    print(f"# bench_calendars on {benchlib.machine()}")
    failures = 0
    with benchlib.bench_database("calendars") as url:
        app = benchlib.make_app(url, benchlib.new_secret())
        try:
            benchlib.create_schema(app)
            with app.app_context():
                from sqlalchemy import select, text

                from app.calendars.service import clock, create_calendar, update_calendar
                from app.calendars.schemas import CalendarSchema
                from app.common.clock import utcnow
                from app.extensions import db
                from app.flows.schemas import TemplateSchema
                from app.flows.service import create_template, get_template
                from app.flows.timing import due_at, timer_plan
                from app.org.models import Department, User
                from app.seed import seed_organisation
                from app.workorders.bulk import create_work_orders
                from app.workorders.models import Task, Timer

                seed_organisation()
                wh = db.session.scalar(select(Department.id).where(Department.code == "WH-SH-01"))
                admin = db.session.scalar(select(User).where(User.login == "admin"))
                now = utcnow()
                calendar = create_calendar(body=CalendarSchema().load({"name": "Warehouse", "week": WEEK}), now=now)
                step = {"key": "pick", "title": "Pick", "assignees": {"departments": [wh]}, "sla": "PT4H", "remind_before": "PT1H",
                        "escalation": {"interval": "PT2H", "max_level": 3}, "sla_calendar": calendar.id}
                create_template(body=TemplateSchema().load({"key": "pick", "name": "Pick", "owner_department_id": wh, "steps": [step]}),
                                created_by=admin, now=now)
                db.session.commit()
                template = get_template(key="pick")
                started = time.perf_counter()
                for first in range(0, args.tasks, 20_000):
                    items = [{"title": f"Pick {n}"} for n in range(first, min(first + 20_000, args.tasks))]
                    create_work_orders(template=template, items=items, now=now, tz="Asia/Shanghai", created_by_id=admin.id,
                                       department_id=wh, source="api")
                    db.session.commit()
                opened = time.perf_counter() - started
                # Spread the openings over the past week (10,000 moments), as live work would be, and re-plan on that.
                db.session.execute(text("UPDATE tasks SET created_at = created_at - (id % 10000) * interval '1 minute'"))
                db.session.commit()
                week = {**WEEK, "sat": [["09:00", "12:00"]]}
                body = CalendarSchema().load({"name": "Warehouse with Saturday mornings", "week": week})
                with Statements(db.engine) as seen:
                    started = time.perf_counter()
                    _, replanned = update_calendar(calendar_id=calendar.id, body=body, now=utcnow())
                    replan = time.perf_counter() - started
                benchlib.figure("live_tasks", args.tasks)
                benchlib.figure("replanned_tasks", replanned["tasks"])
                benchlib.figure("replanned_timers", replanned["timers"])
                benchlib.figure("replan_s", replan, "s")
                benchlib.figure("replan_tasks_per_s", replanned["tasks"] / replan)
                benchlib.figure("replan_statements", seen.count)
                # The planning alone (read the live tasks, plan each on the new calendar, nothing written): the rest of
                # the re-plan is the three set-based UPDATEs per batch.
                on = clock(calendar.id)
                started = time.perf_counter()
                seen_plans = {}
                for created_at in db.session.scalars(select(Task.created_at).where(Task.calendar_id == calendar.id)):
                    if created_at not in seen_plans:
                        due = due_at(step, created_at, on)
                        seen_plans[created_at] = timer_plan(step=step, due_at=due, now=created_at, clock=on)
                benchlib.figure("planning_only_s", time.perf_counter() - started, "s")
                benchlib.figure("baseline_bulk_open_s", opened, "s")
                benchlib.figure("ratio_replan_to_bulk_open", replan / opened)
                if replanned["tasks"] != args.tasks or replanned["timers"] != args.tasks * 4:
                    failures += 1
                    print(f"CHECK FAILED: re-planned {replanned}")
                # A sample of 500 tasks checked in full against the planning rule on the new calendar.
                ids = random.Random(7).sample(range(1, args.tasks + 1), min(500, args.tasks))
                for task in db.session.scalars(select(Task).where(Task.id.in_(ids))):
                    due = due_at(step, task.created_at, on)
                    plan = {(k, lvl): at for k, lvl, at in timer_plan(step=step, due_at=due, now=task.created_at, clock=on)}
                    timers = {(t.kind, t.level): t.fire_at for t in db.session.scalars(select(Timer).where(Timer.task_id == task.id))}
                    if task.due_at != due or timers != plan:
                        failures += 1
                        print(f"CHECK FAILED: task {task.id}: due {task.due_at} != {due} or timers differ")
                        break
        finally:
            benchlib.close_app(app)
    print("all checks held" if not failures else f"{failures} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
