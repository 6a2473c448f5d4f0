"""people: a phone number and an email address, as HR files carry them, and since when they are off duty

Revision ID: c3e8b1f4d9a6
Revises: a7d3f9e2c5b8
Create Date: 2026-12-05 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c3e8b1f4d9a6'
down_revision = 'a7d3f9e2c5b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('off_duty_since', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('off_duty_since')
        batch_op.drop_column('email')
        batch_op.drop_column('phone')
