"""People import benchmark: a 2,000-row HR file, on PostgreSQL.

    .venv/bin/python bench/bench_import.py [--rows 2000]

Builds a CSV as an HR system exports it (a department per 200 people, a manager for every ten, the managers'
own rows later in the file than some of their reports, Chinese names) and an XLSX of the same rows, then times,
through the services `POST /users/import` calls: reading each file, the dry run (every check, nothing written),
the real run, and importing the same file again (everything unchanged). Prints the figures and, as the same-run
baseline, the ratios of the real run and of the re-import to the dry run. Checks that every person is there with
their manager. Exit status 0 unless a check fails.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import benchlib  # noqa: E402


def hr_file(rows: int) -> list[list[str]]:
    lines = []
    for n in range(rows):
        manager = f"emp{(n // 10) * 10 + 10:05d}" if n % 10 else f"emp{max(n - 100, 0):05d}" if n >= 100 else ""
        if manager == f"emp{n:05d}" or int(manager[3:] or 0) >= rows:
            manager = ""
        lines.append([f"emp{n:05d}", f"员工{n} Employee {n}", "WH-SH-01" if (n // 200) % 2 else "WH-BJ-01", manager,
                      "lead,staff" if n % 10 == 0 else "staff", "", "zh-CN", f"1380000{n:04d}", f"emp{n}@example.com"])
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    print(f"# bench_import on {benchlib.machine()}")
    failures = 0
    with benchlib.bench_database("import") as url:
        app = benchlib.make_app(url, benchlib.new_secret())
        try:
            benchlib.create_schema(app)
            with app.app_context():
                from openpyxl import Workbook
                from sqlalchemy import func, select

                from app.extensions import db
                from app.org import importing
                from app.org.models import User
                from app.seed import seed_organisation

                seed_organisation()
                header = list(importing.EXPORTED)
                rows = hr_file(args.rows)
                out = io.StringIO()
                writer = csv.writer(out)
                writer.writerow(header)
                writer.writerows(rows)
                data = out.getvalue().encode("utf-8-sig")
                book = Workbook(write_only=True)
                sheet = book.create_sheet()
                sheet.append(header)
                for row in rows:
                    sheet.append(row)
                xlsx = io.BytesIO()
                book.save(xlsx)

                started = time.perf_counter()
                table = importing.read_table("people.csv", data)
                read_csv = time.perf_counter() - started
                started = time.perf_counter()
                importing.read_table("people.xlsx", xlsx.getvalue())
                read_xlsx = time.perf_counter() - started
                started = time.perf_counter()
                plan, problems = importing.plan_import(table)
                dry = time.perf_counter() - started
                db.session.rollback()
                if problems:
                    failures += 1
                    print(f"CHECK FAILED: {problems[:3]}")
                started = time.perf_counter()
                plan, problems = importing.plan_import(importing.read_table("people.csv", data))
                importing.apply_import(plan)
                db.session.commit()
                real = time.perf_counter() - started
                started = time.perf_counter()
                again, _ = importing.plan_import(importing.read_table("people.csv", data))
                db.session.rollback()
                reimport = time.perf_counter() - started
                benchlib.figure("rows", args.rows)
                benchlib.figure("read_csv_ms", read_csv * 1000, "ms")
                benchlib.figure("read_xlsx_ms", read_xlsx * 1000, "ms")
                benchlib.figure("dry_run_ms", dry * 1000, "ms")
                benchlib.figure("real_run_ms", real * 1000, "ms")
                benchlib.figure("reimport_unchanged_ms", reimport * 1000, "ms")
                benchlib.figure("ratio_real_to_dry_run", real / dry)
                benchlib.figure("ratio_reimport_to_dry_run", reimport / dry)
                imported = db.session.scalar(select(func.count()).select_from(User).where(User.login.like("emp%")))
                with_manager = db.session.scalar(select(func.count()).select_from(User)
                                                 .where(User.login.like("emp%"), User.manager_id.is_not(None)))
                expected_managers = sum(1 for r in rows if r[3])
                if imported != args.rows or with_manager != expected_managers or any(e["action"] != "unchanged" for e in again):
                    failures += 1
                    print(f"CHECK FAILED: {imported} people, {with_manager} with managers (expected {expected_managers})")
        finally:
            benchlib.close_app(app)
    print("all checks held" if not failures else f"{failures} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
