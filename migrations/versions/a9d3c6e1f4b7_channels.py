"""channels beyond Web Push: people's identities, the channel outbox, every attempt, broken identities (§14)

Revision ID: a9d3c6e1f4b7
Revises: c5f0a3d8e1b2
Create Date: 2026-12-06 01:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'a9d3c6e1f4b7'
down_revision = 'c5f0a3d8e1b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dingtalk_userid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('wecom_userid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('feishu_user_id', sa.String(length=64), nullable=True))
    op.create_table(
        'channel_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('error_code', sa.String(length=40), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_channel_deliveries_notification_id_notifications')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_deliveries')),
        sa.UniqueConstraint('notification_id', 'channel', name='uq_channel_deliveries_notification_channel'),
    )
    op.create_index('ix_channel_deliveries_status_next', 'channel_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_table(
        'channel_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('result', sa.String(length=8), nullable=False),
        sa.Column('error_code', sa.String(length=40), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_channel_attempts_notification_id_notifications')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_channel_attempts_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_attempts')),
    )
    op.create_index('ix_channel_attempts_user_channel', 'channel_attempts', ['user_id', 'channel', 'id'], unique=False)
    op.create_index(op.f('ix_channel_attempts_notification_id'), 'channel_attempts', ['notification_id'], unique=False)
    op.create_table(
        'channel_states',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('broken_identity', sa.String(length=128), nullable=True),
        sa.Column('broken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('broken_code', sa.String(length=40), nullable=True),
        sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_channel_states_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', 'channel', name=op.f('pk_channel_states')),
    )


def downgrade():
    op.drop_table('channel_states')
    op.drop_index(op.f('ix_channel_attempts_notification_id'), table_name='channel_attempts')
    op.drop_index('ix_channel_attempts_user_channel', table_name='channel_attempts')
    op.drop_table('channel_attempts')
    op.drop_index('ix_channel_deliveries_status_next', table_name='channel_deliveries')
    op.drop_table('channel_deliveries')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('feishu_user_id')
        batch_op.drop_column('wecom_userid')
        batch_op.drop_column('dingtalk_userid')
