"""enforcement memory: each key's deadline, and whether its warnings were sent in a dry run

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enforcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("dry_run", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enforcements", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
        batch_op.drop_column("deadline")
