"""Set-based generation of large data sets for the benchmarks (INSERT ... SELECT generate_series).

Every row matches the models' columns and NOT NULL constraints (the models set their defaults in Python,
so each column is given here). Not a benchmark itself (run_all.py runs only bench_*.py).

Pseudo-random choices use a multiplicative hash of the row number, so a data set is the same on every run.
"""
from __future__ import annotations

import contextlib
import time

# (x * 2654435761) mod 2^32: Knuth's multiplicative hash, spread over [0, 2^32).
H = "((({x})::bigint * 2654435761) % 4294967296)"


def h(expr: str) -> str:
    return H.format(x=expr)


@contextlib.contextmanager
def bulk_load(conn, tables: list[str]):
    """Load fast: drop the secondary indexes of `tables` (kept: primary keys and unique constraints), skip FK
    triggers for this session (the generator writes consistent rows), then rebuild the indexes. The triggers that
    keep people's open loads were skipped too: with `tasks` loaded, the loads are counted afresh at the end."""
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        (tables,),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        conn.execute("SET session_replication_role = DEFAULT")
        for _, definition in rows:
            conn.execute(definition)
        if "tasks" in tables:
            from app.workorders.loads import RECOUNT

            started = time.perf_counter()
            for statement in RECOUNT:
                conn.execute(statement)
            print(f"# open loads counted in {time.perf_counter() - started:.1f}s", flush=True)


def q(value) -> str:
    """A SQL literal (the statements here use % as the modulo operator, so they take no bind parameters)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def timed(conn, label: str, sql: str, log=None) -> int:
    started = time.perf_counter()
    cur = conn.execute(sql)
    if log:
        log(f"{label}: {cur.rowcount} rows in {time.perf_counter() - started:.1f}s")
    return cur.rowcount


def organisation(conn, *, users: int, departments: int, password_hash: str, log=None) -> dict:
    """`departments` departments under one company; `users` people in a 4-level reporting line:
    user 1 the director; users 2..D+1 heads of departments; 5% team leads; everyone else staff under a lead."""
    d = departments
    leads = max(1, users // 20)
    first_lead, first_staff = d + 2, d + 2 + leads
    timed(conn, "departments", f"""
        INSERT INTO departments (id, code, name, kind, parent_id, active, created_at)
        SELECT g, 'D' || g, 'Department ' || g, CASE WHEN g = 1 THEN 'company' ELSE 'operations' END,
               CASE WHEN g = 1 THEN NULL ELSE 1 END, true, now() - interval '400 days'
        FROM generate_series(1, {d}) g""", log=log)
    timed(conn, "users", f"""
        INSERT INTO users (id, login, name, password_hash, department_id, manager_id, locale, active, on_duty,
                           session_version, created_at, updated_at)
        SELECT g, 'user' || g, 'User ' || g, {q(password_hash)},
               CASE WHEN g = 1 THEN 1
                    WHEN g < {first_lead} THEN g - 1
                    WHEN g < {first_staff} THEN ((g - {first_lead}) % {d}) + 1
                    ELSE ((g % {leads}) % {d}) + 1 END,
               CASE WHEN g = 1 THEN NULL
                    WHEN g < {first_lead} THEN 1
                    WHEN g < {first_staff} THEN 1 + ((g - {first_lead}) % {d}) + 1
                    ELSE {first_lead} + (g % {leads}) END,
               CASE WHEN g % 3 = 0 THEN 'en' ELSE 'zh-CN' END, true, true, 1,
               now() - interval '300 days', now() - interval '300 days'
        FROM generate_series(1, {users}) g""", log=log)
    conn.execute(f"""
        INSERT INTO user_roles (user_id, role)
        SELECT g, CASE WHEN g < {first_staff} THEN 'lead' ELSE 'staff' END FROM generate_series(1, {users}) g""")
    conn.execute("UPDATE departments SET head_id = id + 1")
    for table in ("departments", "users"):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {"first_staff": first_staff, "leads": leads}


def reset_sequences(conn, tables: list[str]) -> None:
    for table in tables:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)")


def work_orders(conn, *, first_id: int, count: int, template_id: int, template_key: str, users: int, open_every: int,
                open_age_minutes: int, departments: int = 20, log=None, label="work_orders") -> None:
    """`count` work orders from id `first_id`; every `open_every`-th one is in progress, the rest resolved."""
    timed(conn, label, f"""
        INSERT INTO work_orders (id, number, template_id, template_key, template_version, title, description, priority,
            status, source, tags, data, department_id, created_by_id, due_at, created_at, updated_at, started_at, resolved_at,
            contact_count, return_count, escalation_level)
        SELECT w, 'WO-BENCH-' || lpad(w::text, 9, '0'), {q(template_id)}, {q(template_key)}, 1, 'Bench work order ' || w, '',
               'P' || (1 + {h('w')} % 4), s.status, 'app', '[]'::jsonb, '{{}}'::jsonb,
               1 + {h('w')} % {departments}, 1 + {h('w + 7')} % {users}, s.created + interval '4 hours', s.created, s.created,
               s.created, CASE WHEN s.status = 'resolved' THEN s.created + interval '3 hours' END, 1, 0, 0
        FROM generate_series({first_id}, {first_id + count - 1}) w,
             LATERAL (SELECT CASE WHEN w % {open_every} = 0 THEN 'in_progress' ELSE 'resolved' END AS status,
                             CASE WHEN w % {open_every} = 0 THEN now() - ({h('w')} % {open_age_minutes}) * interval '1 minute'
                                  ELSE now() - interval '1 day' - ({h('w')} % 525600) * interval '1 minute' END AS created) s
    """, log=log)


def steps_tasks_candidates(conn, *, first_wo: int, count: int, step_keys: list[str], open_every: int, claimed_every: int,
                           candidates: int, first_staff: int, staff: int, log=None) -> None:
    """For work orders first_wo..first_wo+count-1 (made by `work_orders`): one step row and one pool task per step key,
    ids (w - 1) * len(step_keys) + i + 1. In a work order in progress the last step is live (open, or claimed by its
    first candidate when hash % claimed_every == 0) and the earlier ones completed; in a resolved one all are
    completed. Each task has `candidates` distinct staff candidates, `is_open` mirroring the task."""
    s = len(step_keys)
    keys = "ARRAY[" + ", ".join(f"'{k}'" for k in step_keys) + "]"
    stride = max(1, staff // candidates)
    span = f"generate_series({first_wo}, {first_wo + count - 1}) w CROSS JOIN generate_series(1, {s}) i"
    live = f"(w % {open_every} = 0 AND i = {s})"
    timed(conn, "work_order_steps", f"""
        INSERT INTO work_order_steps (id, work_order_id, key, status, activation, activated_at, completed_at, last_handler_id)
        SELECT (w - 1) * {s} + i, w, ({keys})[i], CASE WHEN {live} THEN 'active' ELSE 'completed' END, 1,
               wo.created_at, CASE WHEN {live} THEN NULL ELSE wo.created_at + interval '1 hour' END, NULL
        FROM {span} JOIN work_orders wo ON wo.id = w""", log=log)
    first_u = f"({first_staff} + {h('t')} % {staff})"
    timed(conn, "tasks", f"""
        INSERT INTO tasks (id, work_order_id, step_id, step, activation, instance, instance_label, mode, template_key, status,
            priority, assignee_id, due_at, escalation_level, created_at, claimed_at, completed_at, completed_effective_at,
            claimed_effective_at, device_time_untrusted, completed_by_id, outcome, note, data, version)
        SELECT t, w, t, ({keys})[i], 1, NULL, NULL, 'pool', wo.template_key, x.status, wo.priority,
               CASE WHEN x.status = 'open' THEN NULL ELSE {first_u} END,
               wo.created_at + interval '4 hours', 0, wo.created_at,
               CASE WHEN x.status = 'open' THEN NULL ELSE wo.created_at + interval '10 minutes' END,
               CASE WHEN x.status = 'completed' THEN wo.created_at + interval '1 hour' END,
               CASE WHEN x.status = 'completed' THEN wo.created_at + interval '1 hour' END,
               CASE WHEN x.status = 'open' THEN NULL ELSE wo.created_at + interval '10 minutes' END,
               false, CASE WHEN x.status = 'completed' THEN {first_u} END,
               CASE WHEN x.status = 'completed' THEN 'done' END, NULL, '{{}}'::jsonb,
               CASE WHEN x.status = 'open' THEN 1 ELSE 2 END
        FROM {span} JOIN work_orders wo ON wo.id = w,
             LATERAL (SELECT (w - 1) * {s} + i AS t) tt,
             LATERAL (SELECT CASE WHEN NOT {live} THEN 'completed'
                                  WHEN {h('t + 3')} % {claimed_every} = 0 THEN 'claimed' ELSE 'open' END AS status) x""", log=log)
    timed(conn, "task_candidates", f"""
        INSERT INTO task_candidates (task_id, user_id, is_open, added_at)
        SELECT t.id, {first_staff} + ({h('t.id')} + j * {stride}) % {staff}, t.status = 'open', t.created_at
        FROM tasks t, generate_series(0, {candidates - 1}) j
        WHERE t.id BETWEEN ({first_wo} - 1) * {s} + 1 AND ({first_wo} + {count} - 1) * {s}""", log=log)
