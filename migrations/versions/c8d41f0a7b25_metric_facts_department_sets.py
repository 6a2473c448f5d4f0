"""metric facts carry the set of departments taking part (leads' visibility without a join)

The facts are a read model rebuilt from the work-order tables, so they are emptied here rather than
converted, and the refresh state is forgotten: the next summary of a period builds that period's facts
again. Run `flask metrics rebuild-facts` right after upgrading to build them all at once instead.

Revision ID: c8d41f0a7b25
Revises: ae7a74d82109
Create Date: 2026-11-23 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c8d41f0a7b25'
down_revision = 'ae7a74d82109'
branch_labels = None
depends_on = None

FACT_TABLES = ('metric_step_days', 'metric_task_facts', 'metric_tag_facts', 'metric_work_order_facts')


def _forget_facts():
    for table in FACT_TABLES:
        op.execute(f'DELETE FROM {table}')
    op.execute("DELETE FROM metric_settings WHERE key = 'facts_refreshed_at'")


def _step_days(with_department_set: bool):
    columns = [
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('step', sa.String(length=64), nullable=False),
        sa.Column('escalation_level', sa.Integer(), nullable=False),
    ]
    key = ['day', 'template_key', 'step', 'escalation_level']
    if with_department_set:
        columns.append(sa.Column('department_set_id', sa.Integer(), nullable=False))
        key.append('department_set_id')
    op.create_table(
        'metric_step_days', *columns,
        sa.Column('every', sa.BigInteger(), nullable=False),
        sa.Column('tasks', sa.BigInteger(), nullable=False),
        sa.Column('completed', sa.BigInteger(), nullable=False),
        sa.Column('on_time', sa.BigInteger(), nullable=False),
        sa.Column('late', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=op.f('pk_metric_step_days')),
    )


def upgrade():
    _forget_facts()
    op.create_table('metric_department_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('departments', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_department_sets')),
    sa.UniqueConstraint('departments', name=op.f('uq_metric_department_sets_departments'))
    )
    for table in ('metric_task_facts', 'metric_tag_facts', 'metric_work_order_facts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('department_set_id', sa.Integer(), nullable=False))
    op.drop_table('metric_step_days')
    _step_days(with_department_set=True)


def downgrade():
    _forget_facts()
    op.drop_table('metric_step_days')
    _step_days(with_department_set=False)
    for table in ('metric_work_order_facts', 'metric_tag_facts', 'metric_task_facts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('department_set_id')
    op.drop_table('metric_department_sets')
