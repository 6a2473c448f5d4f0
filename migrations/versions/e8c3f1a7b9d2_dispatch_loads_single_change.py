"""dispatch loads: the triggers' functions plan once and apply a single change in three plain statements

The functions that keep `person_loads` and `dispatch_seats` (revision d2b7e4a9c1f8) run their statements with
generic plans (`plan_cache_mode = force_generic_plan` on the function: the cached plans of PL/pgSQL were re-planned
for every call), and the commit-time apply takes three plain statements when the transaction changed one person's
load once (a claim, a completion, a hand-back) instead of the set-based ones. PostgreSQL only; the statements are this
revision's copy of `app.workorders.loads`.

Revision ID: e8c3f1a7b9d2
Revises: d2b7e4a9c1f8
Create Date: 2026-12-06 08:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e8c3f1a7b9d2'
down_revision = 'd2b7e4a9c1f8'
branch_labels = None
depends_on = None

FUNCTIONS = [
    "CREATE OR REPLACE FUNCTION baton_task_load_change() RETURNS trigger LANGUAGE plpgsql\n  SET plan_cache_mode = force_generic_plan AS $$\nBEGIN\n  IF TG_OP <> 'INSERT' AND OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), OLD.template_key, OLD.assignee_id, -1);\n  END IF;\n  IF TG_OP <> 'DELETE' AND NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), NEW.template_key, NEW.assignee_id, 1);\n  END IF;\n  RETURN NULL;\nEND $$",
    "CREATE OR REPLACE FUNCTION baton_apply_task_loads() RETURNS trigger LANGUAGE plpgsql\n  SET plan_cache_mode = force_generic_plan AS $$\nDECLARE\n  keys text[];\n  people integer[];\n  deltas integer[];\n  turns timestamptz[];\n  now_open integer;\nBEGIN\n  WITH gone AS (DELETE FROM task_load_changes WHERE txid = txid_current() RETURNING template_key, user_id, delta, given_at)\n  SELECT array_agg(template_key), array_agg(user_id), array_agg(delta), array_agg(given_at) INTO keys, people, deltas, turns FROM gone;\n  IF people IS NULL THEN\n    RETURN NULL;  -- an earlier firing in this transaction applied them all\n  END IF;\n  IF cardinality(people) = 1 THEN\n    INSERT INTO person_loads AS p (user_id, open) VALUES (people[1], deltas[1])\n      ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open RETURNING p.open INTO now_open;\n    UPDATE dispatch_seats AS s SET load = now_open WHERE s.user_id = people[1] AND s.load <> now_open;\n    IF deltas[1] <> 0 OR turns[1] IS NOT NULL THEN\n      INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)\n        VALUES (keys[1], people[1], deltas[1], now_open, coalesce(turns[1], timestamptz '1970-01-01 00:00:00+00'))\n        ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,\n          given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;\n    END IF;\n    RETURN NULL;\n  END IF;\n  INSERT INTO person_loads AS p (user_id, open)\n    SELECT c.user_id, sum(c.delta) FROM unnest(people, deltas) AS c(user_id, delta) GROUP BY c.user_id ORDER BY c.user_id\n    ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open;\n  UPDATE dispatch_seats AS s SET load = p.open FROM person_loads AS p\n    WHERE p.user_id = ANY(people) AND s.user_id = p.user_id AND s.load <> p.open;\n  INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)\n    SELECT c.template_key, c.user_id, sum(c.delta), min(p.open), coalesce(max(c.given_at), timestamptz '1970-01-01 00:00:00+00')\n    FROM unnest(keys, people, deltas, turns) AS c(template_key, user_id, delta, given_at) JOIN person_loads AS p ON p.user_id = c.user_id\n    GROUP BY c.user_id, c.template_key HAVING sum(c.delta) <> 0 OR max(c.given_at) IS NOT NULL ORDER BY c.user_id, c.template_key\n    ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,\n      given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;\n  RETURN NULL;\nEND $$",
]

PREVIOUS = [
    "CREATE OR REPLACE FUNCTION baton_task_load_change() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  IF TG_OP <> 'INSERT' AND OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), OLD.template_key, OLD.assignee_id, -1);\n  END IF;\n  IF TG_OP <> 'DELETE' AND NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), NEW.template_key, NEW.assignee_id, 1);\n  END IF;\n  RETURN NULL;\nEND $$",
    "CREATE OR REPLACE FUNCTION baton_apply_task_loads() RETURNS trigger LANGUAGE plpgsql AS $$\nDECLARE\n  keys text[];\n  people integer[];\n  deltas integer[];\n  turns timestamptz[];\nBEGIN\n  WITH gone AS (DELETE FROM task_load_changes WHERE txid = txid_current() RETURNING template_key, user_id, delta, given_at)\n  SELECT array_agg(template_key), array_agg(user_id), array_agg(delta), array_agg(given_at) INTO keys, people, deltas, turns FROM gone;\n  IF people IS NULL THEN\n    RETURN NULL;  -- an earlier firing in this transaction applied them all\n  END IF;\n  INSERT INTO person_loads AS p (user_id, open)\n    SELECT c.user_id, sum(c.delta) FROM unnest(people, deltas) AS c(user_id, delta) GROUP BY c.user_id ORDER BY c.user_id\n    ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open;\n  UPDATE dispatch_seats AS s SET load = p.open FROM person_loads AS p\n    WHERE p.user_id = ANY(people) AND s.user_id = p.user_id AND s.load <> p.open;\n  INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)\n    SELECT c.template_key, c.user_id, sum(c.delta), min(p.open), coalesce(max(c.given_at), timestamptz '1970-01-01 00:00:00+00')\n    FROM unnest(keys, people, deltas, turns) AS c(template_key, user_id, delta, given_at) JOIN person_loads AS p ON p.user_id = c.user_id\n    GROUP BY c.user_id, c.template_key HAVING sum(c.delta) <> 0 OR max(c.given_at) IS NOT NULL ORDER BY c.user_id, c.template_key\n    ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,\n      given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;\n  RETURN NULL;\nEND $$",
]


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for statement in FUNCTIONS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for statement in PREVIOUS:
            op.execute(statement)
