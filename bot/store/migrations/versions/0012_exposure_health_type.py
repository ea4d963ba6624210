"""exposures: the AWS Health risk event's type and its start time

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_type", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reported_at", bot.store.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
        batch_op.drop_column("health_type")
