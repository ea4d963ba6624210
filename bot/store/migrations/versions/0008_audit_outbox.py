"""audit outbox; enforcement memory

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('audit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', bot.store.models.UTCDateTime(), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('enforcements',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('warned_3_at', bot.store.models.UTCDateTime(), nullable=True),
    sa.Column('warned_1_at', bot.store.models.UTCDateTime(), nullable=True),
    sa.Column('deactivated_at', bot.store.models.UTCDateTime(), nullable=True),
    sa.Column('request_id', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('account', 'key_id')
    )
    with op.batch_alter_table('finding_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_count', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('finding_notices', schema=None) as batch_op:
        batch_op.drop_column('notify_count')
    op.drop_table('enforcements')
    op.drop_table('audit_outbox')
