"""audit events: hash chain; PostgreSQL refuses UPDATE, DELETE and TRUNCATE on them

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models
from bot.domain.audit_chain import FIELDS, GENESIS, chain_hash

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_PAGE = 1000

_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_REFUSE_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"""


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))

    _chain_existing_events(op.get_bind())

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f('ix_audit_events_prev_hash'), ['prev_hash'], unique=True)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_REFUSE_FUNCTION)
        op.execute(_REFUSE_TRIGGER)


def _chain_existing_events(bind) -> None:
    """Chain the events written before this migration, oldest first, a page at a time."""
    types = {'at': bot.store.models.UTCDateTime()}
    events = sa.table(
        'audit_events',
        sa.column('id', sa.Integer()),
        sa.column('prev_hash', sa.String()),
        sa.column('row_hash', sa.String()),
        *(sa.column(name, types.get(name, sa.String())) for name in FIELDS),
    )
    fill = (
        sa.update(events)
        .where(events.c.id == sa.bindparam('event_id'))
        .values(prev_hash=sa.bindparam('prev'), row_hash=sa.bindparam('hash'))
    )
    prev, last = GENESIS, None
    while True:
        query = sa.select(events.c.id, *(events.c[name] for name in FIELDS)).order_by(events.c.id).limit(_PAGE)
        if last is not None:
            query = query.where(events.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            return
        batch = []
        for row in rows:
            row_hash = chain_hash(prev, dict(zip(FIELDS, row[1:], strict=True)))
            batch.append({'event_id': row[0], 'prev': prev, 'hash': row_hash})
            prev = row_hash
        bind.execute(fill, batch)
        last = rows[-1][0]


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS audit_events_append_only()')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_prev_hash'))
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
