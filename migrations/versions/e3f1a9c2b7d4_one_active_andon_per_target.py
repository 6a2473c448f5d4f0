"""one active andon per target; order_recalls: one recall per order, product and batch

Two partial unique indexes allow one active andon per batch and one active product-wide andon per product.
A database that already holds several active andons on one target (pulled before this check existed) keeps
one of them — the oldest recall whose filters reach every line the others reach, else the oldest recall with its
filters widened just enough to reach them all (and its fan-out queued again), else the oldest pause — and
resolves the others with a note naming it, so no customer an earlier recall would have reached is left out:
their sale holds are released (the one kept still holds the same target, so no sale status changes) and
their pending recall jobs are cancelled (recall work orders already open go on). Each of those andons gets a
`resolved` event, and the one kept a `duplicates_resolved` event listing them.

`order_recalls` records what of each order has been recalled; it is filled from the existing recall links,
keeping the first recall work order where duplicates were created before this check.

Revision ID: e3f1a9c2b7d4
Revises: c8d41f0a7b25
Create Date: 2026-12-04 22:40:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import app.common.types
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'e3f1a9c2b7d4'
down_revision = 'c8d41f0a7b25'
branch_labels = None
depends_on = None

NOTE = ("Resolved by the upgrade to one active andon per target (migration e3f1a9c2b7d4): "
        "andon {kept} stays active on this {scope}.")
UTC_TIME = app.common.types.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')

andons = sa.table('andons', sa.column('id', sa.Integer), sa.column('scope', sa.String), sa.column('product_id', sa.Integer),
                  sa.column('batch_id', sa.Integer), sa.column('action', sa.String), sa.column('status', sa.String),
                  sa.column('warehouse_id', sa.Integer), sa.column('driver_id', sa.Integer),
                  sa.column('shipped_from', UTC_TIME), sa.column('shipped_to', UTC_TIME),
                  sa.column('filters', JSON),
                  sa.column('created_at', UTC_TIME), sa.column('resolved_at', UTC_TIME), sa.column('resolution_note', sa.Text))
andon_events = sa.table('andon_events', sa.column('andon_id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('actor_id', sa.Integer), sa.column('at', UTC_TIME), sa.column('details', JSON))
sale_holds = sa.table('sale_holds', sa.column('andon_id', sa.Integer), sa.column('active', sa.Boolean),
                      sa.column('released_at', UTC_TIME))
recall_jobs = sa.table('recall_jobs', sa.column('andon_id', sa.Integer), sa.column('status', sa.String),
                       sa.column('finished_at', UTC_TIME), sa.column('updated_at', UTC_TIME))
andon_recalls = sa.table('andon_recalls', sa.column('andon_id', sa.Integer), sa.column('order_id', sa.Integer),
                         sa.column('work_order_id', sa.Integer), sa.column('created_at', UTC_TIME))
order_lines = sa.table('order_lines', sa.column('order_id', sa.Integer), sa.column('product_id', sa.Integer),
                       sa.column('batch_id', sa.Integer), sa.column('warehouse_id', sa.Integer), sa.column('driver_id', sa.Integer),
                       sa.column('shipped_at', UTC_TIME), sa.column('delivered_at', UTC_TIME))


FILTERS = ('warehouse_id', 'driver_id', 'shipped_from', 'shipped_to')


def _covers(wide, narrow) -> bool:
    """Every order line `narrow` reaches, `wide` reaches too (the rule of `app.quality.andon.filters_cover`, kept
    here as it was when this migration was written)."""
    for key in ('warehouse_id', 'driver_id'):
        if getattr(wide, key) is not None and getattr(wide, key) != getattr(narrow, key):
            return False
    if wide.shipped_from is not None and (narrow.shipped_from is None or narrow.shipped_from < wide.shipped_from):
        return False
    if wide.shipped_to is not None and (narrow.shipped_to is None or narrow.shipped_to > wide.shipped_to):
        return False
    return True


def _widest(recalls) -> dict:
    """The narrowest filters that reach every line any of `recalls` reaches."""
    def same(key):
        values = {getattr(r, key) for r in recalls}
        return values.pop() if len(values) == 1 else None
    starts, ends = [r.shipped_from for r in recalls], [r.shipped_to for r in recalls]
    return {'warehouse_id': same('warehouse_id'), 'driver_id': same('driver_id'),
            'shipped_from': None if None in starts else min(starts), 'shipped_to': None if None in ends else max(ends)}


def _shown(kept, widened: dict) -> dict:
    """The filters as the andon shows them (codes and logins as given, times as ISO text), after widening."""
    shown = dict(kept.filters or {})
    for key, name in (('warehouse_id', 'warehouse'), ('driver_id', 'driver')):
        if widened[key] is None:
            shown.pop(name, None)
    for key in ('shipped_from', 'shipped_to'):
        if widened[key] is None:
            shown.pop(key, None)
        else:
            shown[key] = widened[key].isoformat()
    return shown


def _keep(group, bind, now):
    """The andon that stays active on a target: (the row, the filters it was widened to or None)."""
    recalls = [a for a in group if a.action == 'recall']
    if not recalls:
        return group[0], None
    covering = next((r for r in recalls if all(_covers(r, other) for other in recalls)), None)
    if covering is not None:
        return covering, None
    kept, widened = recalls[0], _widest(recalls)
    bind.execute(sa.update(andons).where(andons.c.id == kept.id).values(filters=_shown(kept, widened), **widened))
    # Its fan-out runs again over the wider filters; what it already created is skipped (one per andon and order).
    bind.execute(sa.update(recall_jobs).where(recall_jobs.c.andon_id == kept.id)
                 .values(status='pending', finished_at=None, updated_at=now))
    return kept, widened


def _resolve_duplicate_active_andons(bind) -> None:
    now = datetime.now(timezone.utc)
    rows = bind.execute(sa.select(andons.c.id, andons.c.scope, andons.c.product_id, andons.c.batch_id, andons.c.action,
                                  andons.c.filters, *(andons.c[key] for key in FILTERS))
                        .where(andons.c.status == 'active').order_by(andons.c.created_at, andons.c.id)).all()
    targets: dict[tuple, list] = {}
    for row in rows:
        targets.setdefault((row.product_id, row.batch_id), []).append(row)
    for group in targets.values():
        if len(group) < 2:
            continue
        kept, widened = _keep(group, bind, now)
        others = [a.id for a in group if a.id != kept.id]
        note = NOTE.format(kept=kept.id, scope=kept.scope)
        bind.execute(sa.update(andons).where(andons.c.id.in_(others))
                     .values(status='resolved', resolved_at=now, resolution_note=note))
        bind.execute(sa.update(sale_holds).where(sale_holds.c.andon_id.in_(others), sale_holds.c.active.is_(True))
                     .values(active=False, released_at=now))
        bind.execute(sa.update(recall_jobs).where(recall_jobs.c.andon_id.in_(others), recall_jobs.c.status == 'pending')
                     .values(status='cancelled', finished_at=now, updated_at=now))
        bind.execute(sa.insert(andon_events), [
            {'andon_id': andon_id, 'kind': 'resolved', 'actor_id': None, 'at': now,
             'details': {'note': note, 'kept_andon_id': kept.id, 'migration': revision}} for andon_id in others
        ] + [{'andon_id': kept.id, 'kind': 'duplicates_resolved', 'actor_id': None, 'at': now,
              'details': {'andon_ids': others, 'migration': revision,
                          'widened_filters': _shown(kept, widened) if widened else None}}])


def _fill_order_recalls(bind) -> None:
    """What each existing recall link recalled: the order's lines the andon reached, first work order per key."""
    a, ar, ol = andons, andon_recalls, order_lines
    key = sa.func.coalesce(ol.c.batch_id, 0)
    first = sa.func.row_number().over(partition_by=(ar.c.order_id, a.c.product_id, key),
                                      order_by=(ar.c.created_at, ar.c.work_order_id))
    reached = (sa.select(ar.c.order_id, a.c.product_id, key.label('batch_key'), ar.c.andon_id, ar.c.work_order_id,
                         ar.c.created_at, first.label('rank'))
               .select_from(ar.join(a, a.c.id == ar.c.andon_id).join(ol, ol.c.order_id == ar.c.order_id))
               .where(ol.c.product_id == a.c.product_id, ol.c.delivered_at.is_not(None),
                      sa.or_(a.c.batch_id.is_(None), ol.c.batch_id == a.c.batch_id),
                      sa.or_(a.c.warehouse_id.is_(None), ol.c.warehouse_id == a.c.warehouse_id),
                      sa.or_(a.c.driver_id.is_(None), ol.c.driver_id == a.c.driver_id),
                      sa.or_(a.c.shipped_from.is_(None), ol.c.shipped_at >= a.c.shipped_from),
                      sa.or_(a.c.shipped_to.is_(None), ol.c.shipped_at <= a.c.shipped_to))
               .subquery())
    columns = ['order_id', 'product_id', 'batch_key', 'andon_id', 'work_order_id', 'created_at']
    order_recalls = sa.table('order_recalls', *(sa.column(c) for c in columns))
    bind.execute(sa.insert(order_recalls).from_select(
        columns, sa.select(*(reached.c[c] for c in columns)).where(reached.c.rank == 1)))


def upgrade():
    bind = op.get_bind()
    _resolve_duplicate_active_andons(bind)
    op.create_table('order_recalls',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('batch_key', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('andon_id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.common.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['andon_id'], ['andons.id'], name=op.f('fk_order_recalls_andon_id_andons')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_recalls_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_recalls_product_id_products')),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_order_recalls_work_order_id_work_orders')),
    sa.PrimaryKeyConstraint('order_id', 'product_id', 'batch_key', name=op.f('pk_order_recalls'))
    )
    _fill_order_recalls(bind)
    with op.batch_alter_table('andons', schema=None) as batch_op:
        batch_op.create_index('uq_andons_active_batch', ['batch_id'], unique=True,
                              sqlite_where=sa.text("status = 'active' AND batch_id IS NOT NULL"),
                              postgresql_where=sa.text("status = 'active' AND batch_id IS NOT NULL"))
        batch_op.create_index('uq_andons_active_product', ['product_id'], unique=True,
                              sqlite_where=sa.text("status = 'active' AND batch_id IS NULL"),
                              postgresql_where=sa.text("status = 'active' AND batch_id IS NULL"))


def downgrade():
    # Andons resolved by the upgrade stay resolved: nothing here can tell which one a person wants back.
    with op.batch_alter_table('andons', schema=None) as batch_op:
        batch_op.drop_index('uq_andons_active_product', sqlite_where=sa.text("status = 'active' AND batch_id IS NULL"),
                            postgresql_where=sa.text("status = 'active' AND batch_id IS NULL"))
        batch_op.drop_index('uq_andons_active_batch', sqlite_where=sa.text("status = 'active' AND batch_id IS NOT NULL"),
                            postgresql_where=sa.text("status = 'active' AND batch_id IS NOT NULL"))
    op.drop_table('order_recalls')
