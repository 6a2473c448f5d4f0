"""sign-in throttling: atomic counters per login and address, device, login and address

Replaces the log of failed sign-ins (one row per failure, counted on every attempt) by counters that an
attempt reserves before its password is checked. Failures of the last window are carried over into the
per-login and per-address counters, so an attack in progress does not get a fresh start.

Revision ID: f7c2d5e8a1b3
Revises: e3f1a9c2b7d4
Create Date: 2026-12-04 23:00:00.000000

"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa
import app.common.types

# revision identifiers, used by Alembic.
revision = 'f7c2d5e8a1b3'
down_revision = 'e3f1a9c2b7d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttles',
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', app.common.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', app.common.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', app.common.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_login_throttles'))
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_last_at'), ['last_at'], unique=False)
    # The last window's failures (the default window, 15 minutes) go on counting; older ones were due for pruning.
    since = sa.bindparam('since', datetime.now(timezone.utc) - timedelta(minutes=15), type_=app.common.types.UTCDateTime())
    for kind, column in (('login', 'login'), ('address', 'address')):
        op.execute(sa.text(
            "INSERT INTO login_throttles (kind, key, failures, window_start, last_at) "
            f"SELECT '{kind}', {column}, count(*), min(at), max(at) FROM login_failures WHERE at > :since GROUP BY {column}"
        ).bindparams(since))
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_login_at')
        batch_op.drop_index('ix_login_failures_address_at')
    op.drop_table('login_failures')


def downgrade():
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', app.common.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_login_at', ['login', 'at'], unique=False)
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_last_at'))
    op.drop_table('login_throttles')
