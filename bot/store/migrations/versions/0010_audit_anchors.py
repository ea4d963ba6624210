"""audit anchors: chain heads recorded outside the audit table, insert-only

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchors is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_REFUSE_TRIGGER = """
CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_anchors
FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only()
"""


def upgrade() -> None:
    op.create_table('audit_anchors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recorded_at', bot.store.models.UTCDateTime(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_anchors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_anchors_seq'), ['seq'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_REFUSE_FUNCTION)
        op.execute(_REFUSE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_anchors_append_only ON audit_anchors')
        op.execute('DROP FUNCTION IF EXISTS audit_anchors_append_only()')
    with op.batch_alter_table('audit_anchors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_anchors_seq'))
    op.drop_table('audit_anchors')
