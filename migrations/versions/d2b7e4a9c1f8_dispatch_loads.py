"""dispatch loads: people's open loads and each template's seats kept by triggers on tasks (§16)

`person_loads` (open tasks of any template per person) and `dispatch_seats` (per template and person: open tasks of
the template, a copy of the open load, the last turn; replaces `dispatch_turns`) are kept by triggers on `tasks`
through `task_load_changes` (on PostgreSQL applied when the transaction commits, people in id order; on SQLite at
once). The statements are this revision's copy of `app.workorders.loads`. Existing rows are counted from `tasks`;
the turns of `dispatch_turns` move to the seats. Big candidate sets are stored once (`dispatch_sets`) and
`dispatch_pointers.seated` remembers which of them a template has seated.

Revision ID: d2b7e4a9c1f8
Revises: a9d3c6e1f4b7
Create Date: 2026-12-06 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'd2b7e4a9c1f8'
down_revision = 'a9d3c6e1f4b7'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
NEVER_GIVEN = '1970-01-01 00:00:00.000000'

POSTGRESQL = [
    "CREATE OR REPLACE FUNCTION baton_task_load_change() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  IF TG_OP <> 'INSERT' AND OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), OLD.template_key, OLD.assignee_id, -1);\n  END IF;\n  IF TG_OP <> 'DELETE' AND NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL THEN\n    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), NEW.template_key, NEW.assignee_id, 1);\n  END IF;\n  RETURN NULL;\nEND $$",
    "CREATE OR REPLACE FUNCTION baton_apply_task_loads() RETURNS trigger LANGUAGE plpgsql AS $$\nDECLARE\n  keys text[];\n  people integer[];\n  deltas integer[];\n  turns timestamptz[];\nBEGIN\n  WITH gone AS (DELETE FROM task_load_changes WHERE txid = txid_current() RETURNING template_key, user_id, delta, given_at)\n  SELECT array_agg(template_key), array_agg(user_id), array_agg(delta), array_agg(given_at) INTO keys, people, deltas, turns FROM gone;\n  IF people IS NULL THEN\n    RETURN NULL;  -- an earlier firing in this transaction applied them all\n  END IF;\n  INSERT INTO person_loads AS p (user_id, open)\n    SELECT c.user_id, sum(c.delta) FROM unnest(people, deltas) AS c(user_id, delta) GROUP BY c.user_id ORDER BY c.user_id\n    ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open;\n  UPDATE dispatch_seats AS s SET load = p.open FROM person_loads AS p\n    WHERE p.user_id = ANY(people) AND s.user_id = p.user_id AND s.load <> p.open;\n  INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)\n    SELECT c.template_key, c.user_id, sum(c.delta), min(p.open), coalesce(max(c.given_at), timestamptz '1970-01-01 00:00:00+00')\n    FROM unnest(keys, people, deltas, turns) AS c(template_key, user_id, delta, given_at) JOIN person_loads AS p ON p.user_id = c.user_id\n    GROUP BY c.user_id, c.template_key HAVING sum(c.delta) <> 0 OR max(c.given_at) IS NOT NULL ORDER BY c.user_id, c.template_key\n    ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,\n      given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;\n  RETURN NULL;\nEND $$",
    "CREATE TRIGGER tasks_load_insert AFTER INSERT ON tasks FOR EACH ROW\n  WHEN (NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL) EXECUTE FUNCTION baton_task_load_change()",
    "CREATE TRIGGER tasks_load_update AFTER UPDATE OF status, assignee_id, template_key ON tasks FOR EACH ROW\n  WHEN (((OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL) OR (NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL))\n        AND (OLD.status, OLD.assignee_id, OLD.template_key) IS DISTINCT FROM (NEW.status, NEW.assignee_id, NEW.template_key))\n  EXECUTE FUNCTION baton_task_load_change()",
    "CREATE TRIGGER tasks_load_delete AFTER DELETE ON tasks FOR EACH ROW\n  WHEN (OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL) EXECUTE FUNCTION baton_task_load_change()",
    'CREATE CONSTRAINT TRIGGER task_load_changes_apply AFTER INSERT ON task_load_changes DEFERRABLE INITIALLY DEFERRED\n  FOR EACH ROW EXECUTE FUNCTION baton_apply_task_loads()',
]

POSTGRESQL_DROP = [
    'DROP TRIGGER IF EXISTS tasks_load_insert ON tasks',
    'DROP TRIGGER IF EXISTS tasks_load_update ON tasks',
    'DROP TRIGGER IF EXISTS tasks_load_delete ON tasks',
    'DROP TRIGGER IF EXISTS task_load_changes_apply ON task_load_changes',
    'DROP FUNCTION IF EXISTS baton_task_load_change()',
    'DROP FUNCTION IF EXISTS baton_apply_task_loads()',
]

SQLITE = [
    "CREATE TRIGGER tasks_load_insert AFTER INSERT ON tasks WHEN NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL BEGIN INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (0, NEW.template_key, NEW.assignee_id, 1); END",
    "CREATE TRIGGER tasks_load_update_old AFTER UPDATE OF status, assignee_id, template_key ON tasks\n  WHEN OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL AND (OLD.status IS NOT NEW.status OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.template_key IS NOT NEW.template_key) BEGIN INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (0, OLD.template_key, OLD.assignee_id, -1); END",
    "CREATE TRIGGER tasks_load_update_new AFTER UPDATE OF status, assignee_id, template_key ON tasks\n  WHEN NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL AND (OLD.status IS NOT NEW.status OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.template_key IS NOT NEW.template_key) BEGIN INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (0, NEW.template_key, NEW.assignee_id, 1); END",
    "CREATE TRIGGER tasks_load_delete AFTER DELETE ON tasks WHEN OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL BEGIN INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (0, OLD.template_key, OLD.assignee_id, -1); END",
    "CREATE TRIGGER task_load_changes_apply AFTER INSERT ON task_load_changes BEGIN\n  INSERT INTO person_loads (user_id, open) VALUES (NEW.user_id, NEW.delta)\n    ON CONFLICT (user_id) DO UPDATE SET open = open + excluded.open;\n  UPDATE dispatch_seats SET load = (SELECT open FROM person_loads WHERE user_id = NEW.user_id) WHERE user_id = NEW.user_id;\n  INSERT INTO dispatch_seats (template_key, user_id, held, load, given_at)\n    VALUES (NEW.template_key, NEW.user_id, NEW.delta, (SELECT open FROM person_loads WHERE user_id = NEW.user_id), coalesce(NEW.given_at, '1970-01-01 00:00:00.000000'))\n    ON CONFLICT (template_key, user_id) DO UPDATE SET held = held + excluded.held,\n      given_at = CASE WHEN excluded.given_at > '1970-01-01 00:00:00.000000' THEN excluded.given_at ELSE given_at END;\n  DELETE FROM task_load_changes WHERE id = NEW.id;\nEND",
]

SQLITE_DROP = [
    'DROP TRIGGER IF EXISTS tasks_load_insert',
    'DROP TRIGGER IF EXISTS tasks_load_update_old',
    'DROP TRIGGER IF EXISTS tasks_load_update_new',
    'DROP TRIGGER IF EXISTS tasks_load_delete',
    'DROP TRIGGER IF EXISTS task_load_changes_apply',
]

RECOUNT = [
    "INSERT INTO person_loads (user_id, open)\n  SELECT assignee_id, count(*) FROM tasks WHERE status = 'claimed' AND assignee_id IS NOT NULL GROUP BY assignee_id\n  ON CONFLICT (user_id) DO UPDATE SET open = excluded.open",
    "UPDATE person_loads SET open = 0 WHERE open <> 0\n  AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.assignee_id = person_loads.user_id AND tasks.status = 'claimed')",
    "INSERT INTO dispatch_seats (template_key, user_id, held, load, given_at)\n  SELECT template_key, assignee_id, count(*), 0, '1970-01-01 00:00:00.000000' FROM tasks WHERE status = 'claimed' AND assignee_id IS NOT NULL GROUP BY template_key, assignee_id\n  ON CONFLICT (template_key, user_id) DO UPDATE SET held = excluded.held",
    "UPDATE dispatch_seats SET held = 0 WHERE held <> 0 AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.template_key = dispatch_seats.template_key\n  AND tasks.assignee_id = dispatch_seats.user_id AND tasks.status = 'claimed')",
    'UPDATE dispatch_seats SET load = coalesce((SELECT open FROM person_loads WHERE person_loads.user_id = dispatch_seats.user_id), 0)',
]


def upgrade():
    op.create_table(
        'person_loads',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_person_loads_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_person_loads')),
    )
    op.create_table(
        'dispatch_seats',
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('held', sa.Integer(), nullable=False),
        sa.Column('load', sa.Integer(), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispatch_seats_user_id_users')),
        sa.PrimaryKeyConstraint('template_key', 'user_id', name=op.f('pk_dispatch_seats')),
    )
    op.create_index('ix_dispatch_seats_order', 'dispatch_seats', ['template_key', 'load', 'given_at', 'user_id'], unique=False)
    op.create_index('ix_dispatch_seats_user', 'dispatch_seats', ['user_id'], unique=False)
    op.create_table(
        'dispatch_sets',
        sa.Column('digest', sa.String(length=24), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('digest', 'user_id', name=op.f('pk_dispatch_sets')),
    )
    op.create_table(
        'task_load_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('txid', sa.BigInteger(), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('delta', sa.Integer(), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_load_changes')),
    )
    op.create_index('ix_task_load_changes_txid', 'task_load_changes', ['txid'], unique=False)
    with op.batch_alter_table('dispatch_pointers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seated', JSON, nullable=False, server_default='[]'))
    with op.batch_alter_table('dispatch_pointers', schema=None) as batch_op:
        batch_op.alter_column('seated', server_default=None)
    # The turns so far, then every count from the tasks; then the triggers keep them.
    op.execute("INSERT INTO dispatch_seats (template_key, user_id, held, load, given_at) "
               "SELECT template_key, user_id, 0, 0, given_at FROM dispatch_turns")
    for statement in RECOUNT:
        op.execute(statement)
    op.drop_table('dispatch_turns')
    for statement in POSTGRESQL if op.get_bind().dialect.name == 'postgresql' else SQLITE:
        op.execute(statement)


def downgrade():
    for statement in POSTGRESQL_DROP if op.get_bind().dialect.name == 'postgresql' else SQLITE_DROP:
        op.execute(statement)
    op.create_table(
        'dispatch_turns',
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispatch_turns_user_id_users')),
        sa.PrimaryKeyConstraint('template_key', 'user_id', name=op.f('pk_dispatch_turns')),
    )
    op.execute("INSERT INTO dispatch_turns (template_key, user_id, given_at) SELECT template_key, user_id, given_at "
               f"FROM dispatch_seats WHERE given_at > '{NEVER_GIVEN}'")
    with op.batch_alter_table('dispatch_pointers', schema=None) as batch_op:
        batch_op.drop_column('seated')
    op.drop_index('ix_task_load_changes_txid', table_name='task_load_changes')
    op.drop_table('task_load_changes')
    op.drop_table('dispatch_sets')
    op.drop_index('ix_dispatch_seats_user', table_name='dispatch_seats')
    op.drop_index('ix_dispatch_seats_order', table_name='dispatch_seats')
    op.drop_table('dispatch_seats')
    op.drop_table('person_loads')
