"""posture_snapshots and security_hub_findings: each scan's posture summary, and what went to Security Hub

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posture_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("taken_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("chart_posted_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_posture_snapshots_taken_at", "posture_snapshots", ["taken_at"])
    op.create_index("ix_posture_snapshots_chart_posted_at", "posture_snapshots", ["chart_posted_at"])
    op.create_table(
        "security_hub_findings",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("finding_id", sa.String(length=512), nullable=False),
        sa.Column("aws_account_id", sa.String(length=12), nullable=False),
        sa.Column("record_state", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("first_sent_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "finding_id"),
    )
    op.create_index("ix_security_hub_findings_record_state", "security_hub_findings", ["record_state"])


def downgrade() -> None:
    op.drop_index("ix_security_hub_findings_record_state", table_name="security_hub_findings")
    op.drop_table("security_hub_findings")
    op.drop_index("ix_posture_snapshots_chart_posted_at", table_name="posture_snapshots")
    op.drop_index("ix_posture_snapshots_taken_at", table_name="posture_snapshots")
    op.drop_table("posture_snapshots")
