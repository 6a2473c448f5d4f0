"""dispatch: pool offers handed out by round robin or least load, with a capacity per person and template

Tasks carry their template's key (a step's capacity counts a person's open tasks of the template, read from the
index on assignee, status and template) and how their step hands offers out; offers waiting for room have a
partial index of their own. `dispatch_pointers` is the row each template's dispatch decisions lock and holds the
round-robin turn; `dispatch_turns` says when a person was last handed a task of a template.

Revision ID: b66c6cdd18fa
Revises: 9b2e6d4f1c07
Create Date: 2026-12-06 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'b66c6cdd18fa'
down_revision = '9b2e6d4f1c07'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
WAITING = "dispatch IS NOT NULL AND status = 'open' AND assignee_id IS NULL"


def upgrade():
    op.create_table(
        'dispatch_pointers',
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('last_given', JSON, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('template_key', name=op.f('pk_dispatch_pointers')),
    )
    op.create_table(
        'dispatch_turns',
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispatch_turns_user_id_users')),
        sa.PrimaryKeyConstraint('template_key', 'user_id', name=op.f('pk_dispatch_turns')),
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('dispatch', sa.String(length=16), nullable=True))
    # Every task so far was offered by claim; its template is its work order's.
    op.execute("UPDATE tasks SET template_key = (SELECT work_orders.template_key FROM work_orders "
               "WHERE work_orders.id = tasks.work_order_id)")
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.alter_column('template_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index('ix_tasks_assignee_status')
        batch_op.create_index('ix_tasks_assignee_status', ['assignee_id', 'status', 'template_key'], unique=False)
    op.create_index('ix_tasks_dispatch_waiting', 'tasks', ['template_key', 'step'], unique=False,
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))


def downgrade():
    op.drop_index('ix_tasks_dispatch_waiting', table_name='tasks', postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_assignee_status')
        batch_op.create_index('ix_tasks_assignee_status', ['assignee_id', 'status'], unique=False)
        batch_op.drop_column('dispatch')
        batch_op.drop_column('template_key')
    op.drop_table('dispatch_turns')
    op.drop_table('dispatch_pointers')
