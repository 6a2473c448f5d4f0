"""routing: why a step of a work order started or was skipped

Steps may now carry conditions (`when`, `default`); a skipped step has the status `skipped` (a string column,
no constraint to change) and each step records the router's reason.

Revision ID: b4e7c1d9a2f6
Revises: f7c2d5e8a1b3
Create Date: 2026-12-05 04:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'b4e7c1d9a2f6'
down_revision = 'f7c2d5e8a1b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('work_order_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))


def downgrade():
    with op.batch_alter_table('work_order_steps', schema=None) as batch_op:
        batch_op.drop_column('route')
