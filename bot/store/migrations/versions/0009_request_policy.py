"""request policy: the rule that applied, whom it named, reminders, escalation and nudges

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_rule", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("policy", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("nudged_at", bot.store.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("nudged_at")
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("policy")
        batch_op.drop_column("policy_rule")
