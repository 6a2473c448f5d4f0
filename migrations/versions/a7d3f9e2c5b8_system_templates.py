"""system flows: the andon's quarantine, the recall and the restock are installed with the database

The flows Baton starts by itself are owned by the system (`flow_templates.system`) and installed by this upgrade,
so the andon, recalls and stock shortages work on a database that never saw the demo. Their definitions are read
from `app.quality.system` as they stand at the upgrade; a database that already has one (from the demo seed) keeps
its own, now marked as the system's.

Revision ID: a7d3f9e2c5b8
Revises: d5a8e2c4f7b1
Create Date: 2026-12-05 23:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'a7d3f9e2c5b8'
down_revision = 'd5a8e2c4f7b1'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade():
    from app.flows.schemas import TemplateSchema
    from app.quality.system import SYSTEM_KEYS, system_templates

    with op.batch_alter_table('flow_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('system', sa.Boolean(), server_default=sa.false(), nullable=False))
    templates = sa.table(
        'flow_templates', sa.column('id', sa.Integer), sa.column('key', sa.String), sa.column('version', sa.Integer),
        sa.column('name', sa.String), sa.column('description', sa.String), sa.column('priority', sa.String),
        sa.column('classification', JSON), sa.column('form', JSON), sa.column('steps', JSON),
        sa.column('owner_department_id', sa.Integer), sa.column('is_current', sa.Boolean), sa.column('active', sa.Boolean),
        sa.column('created_by_id', sa.Integer), sa.column('created_at', sa.DateTime(timezone=True)), sa.column('system', sa.Boolean),
    )
    bind = op.get_bind()
    bind.execute(templates.update().where(templates.c.key.in_(SYSTEM_KEYS)).values(system=True))
    present = set(bind.execute(sa.select(templates.c.key).where(templates.c.key.in_(SYSTEM_KEYS))).scalars())
    now = datetime.now(timezone.utc)
    if bind.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    rows = []
    for body in system_templates():
        if body["key"] in present:
            continue
        loaded = TemplateSchema().load(body)
        rows.append({
            'key': loaded['key'], 'version': 1, 'name': loaded['name'], 'description': loaded['description'],
            'priority': loaded['priority'], 'classification': loaded['classification'], 'form': loaded['form'],
            'steps': loaded['steps'], 'owner_department_id': None, 'is_current': True, 'active': True, 'created_by_id': None,
            'created_at': now, 'system': True,
        })
    if rows:
        op.bulk_insert(templates, rows)


def downgrade():
    from app.quality.system import SYSTEM_KEYS

    templates = sa.table('flow_templates', sa.column('id', sa.Integer), sa.column('key', sa.String),
                         sa.column('system', sa.Boolean), sa.column('created_by_id', sa.Integer))
    work_orders = sa.table('work_orders', sa.column('template_id', sa.Integer))
    # The versions this upgrade installed go unless work runs on them; any other stays, as an ordinary template.
    used = sa.exists().where(work_orders.c.template_id == templates.c.id)
    op.get_bind().execute(templates.delete().where(templates.c.key.in_(SYSTEM_KEYS), templates.c.system.is_(True),
                                                   templates.c.created_by_id.is_(None), ~used))
    with op.batch_alter_table('flow_templates', schema=None) as batch_op:
        batch_op.drop_column('system')
