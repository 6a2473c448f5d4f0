"""QR entry points: printed codes that open a prefilled new work order (a shelf, a vehicle, a store counter)

Revision ID: 9b2e6d4f1c07
Revises: c3e8b1f4d9a6
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '9b2e6d4f1c07'
down_revision = 'c3e8b1f4d9a6'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade():
    op.create_table(
        'qr_entry_points',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('prefill', JSON, nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qr_entry_points_created_by_id_users')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_qr_entry_points_department_id_departments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_qr_entry_points')),
        sa.UniqueConstraint('code', name=op.f('uq_qr_entry_points_code')),
    )


def downgrade():
    op.drop_table('qr_entry_points')
