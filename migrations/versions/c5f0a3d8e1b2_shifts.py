"""shifts: who works when, per person or per group (docs/design.md §16)

Someone with shifts is on duty inside them (app/org/duty.py); the two indexes answer "is a shift of this person
or group covering now" as a bounded range each. A shift with a handover is marked when its end was handled; the
partial index finds the few whose end is still to handle.

Revision ID: c5f0a3d8e1b2
Revises: b66c6cdd18fa
Create Date: 2026-12-07 01:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c5f0a3d8e1b2'
down_revision = 'b66c6cdd18fa'
branch_labels = None
depends_on = None

HANDOVER_DUE = "handover AND handed_over_at IS NULL"


def upgrade():
    op.create_table(
        'shifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('group_id', sa.Integer(), nullable=True),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handover', sa.Boolean(), nullable=False),
        sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('(user_id IS NULL) <> (group_id IS NULL)', name=op.f('ck_shifts_one_holder')),
        sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_shifts_starts_before_end')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_shifts_created_by_id_users')),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_shifts_group_id_groups')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shifts_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts')),
    )
    op.create_index('ix_shifts_user', 'shifts', ['user_id', 'starts_at', 'ends_at'], unique=False)
    op.create_index('ix_shifts_group', 'shifts', ['group_id', 'starts_at', 'ends_at'], unique=False)
    op.create_index('ix_shifts_handover_due', 'shifts', ['ends_at'], unique=False,
                    postgresql_where=sa.text(HANDOVER_DUE), sqlite_where=sa.text(HANDOVER_DUE))


def downgrade():
    op.drop_index('ix_shifts_handover_due', table_name='shifts', postgresql_where=sa.text(HANDOVER_DUE),
                  sqlite_where=sa.text(HANDOVER_DUE))
    op.drop_index('ix_shifts_group', table_name='shifts')
    op.drop_index('ix_shifts_user', table_name='shifts')
    op.drop_table('shifts')
