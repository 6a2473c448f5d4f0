"""business calendars: working hours, holidays and make-up days; departments and tasks name theirs, and tasks
and their facts keep their durations in working time

Installs the built-in calendar `cn-standard` (Monday to Friday 09:00-12:00 and 13:00-18:00, Asia/Shanghai, China's
public holidays and make-up working days from the holiday library), so a new company has it after the upgrade.

Revision ID: d5a8e2c4f7b1
Revises: b4e7c1d9a2f6
Create Date: 2026-12-05 22:30:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'd5a8e2c4f7b1'
down_revision = 'b4e7c1d9a2f6'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
OFFICE = [["09:00", "12:00"], ["13:00", "18:00"]]


def upgrade():
    calendars = op.create_table(
        'calendars',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('week', JSON, nullable=False),
        sa.Column('holidays', JSON, nullable=False),
        sa.Column('workdays', JSON, nullable=False),
        sa.Column('holidays_from', sa.String(length=8), nullable=True),
        sa.Column('built_in', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendars')),
        sa.UniqueConstraint('key', name=op.f('uq_calendars_key')),
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_departments_calendar_id_calendars'), 'calendars', ['calendar_id'], ['id'])
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_calendar_id'), ['calendar_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tasks_calendar_id_calendars'), 'calendars', ['calendar_id'], ['id'])
        batch_op.add_column(sa.Column('claim_working_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('complete_working_seconds', sa.Float(), nullable=True))
    with op.batch_alter_table('metric_task_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_working_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('complete_working_seconds', sa.Float(), nullable=True))
    # Every task so far ran on the wall clock: its working time is its wall time.
    op.execute("UPDATE metric_task_facts SET claim_working_seconds = claim_seconds, complete_working_seconds = complete_seconds")
    now = datetime.now(timezone.utc)
    if op.get_bind().dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    op.bulk_insert(calendars, [{
        'key': 'cn-standard', 'name': 'China standard: Mon–Fri 09:00–18:00, public holidays and make-up days',
        'timezone': 'Asia/Shanghai',
        'week': {d: (OFFICE if d not in ('sat', 'sun') else []) for d in ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')},
        'holidays': [], 'workdays': [], 'holidays_from': 'CN', 'built_in': True, 'version': 1, 'created_at': now, 'updated_at': now,
    }])


def downgrade():
    with op.batch_alter_table('metric_task_facts', schema=None) as batch_op:
        batch_op.drop_column('complete_working_seconds')
        batch_op.drop_column('claim_working_seconds')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('complete_working_seconds')
        batch_op.drop_column('claim_working_seconds')
        batch_op.drop_constraint(batch_op.f('fk_tasks_calendar_id_calendars'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tasks_calendar_id'))
        batch_op.drop_column('calendar_id')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_departments_calendar_id_calendars'), type_='foreignkey')
        batch_op.drop_column('calendar_id')
    op.drop_table('calendars')
