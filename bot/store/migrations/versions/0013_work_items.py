"""work_items: the work after an ack, recorded before the ack and deleted when done

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("function", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("found", sa.JSON(), nullable=True),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_work_items_lease_until", "work_items", ["lease_until"])
    op.create_index("ix_work_items_owner", "work_items", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_work_items_owner", table_name="work_items")
    op.drop_index("ix_work_items_lease_until", table_name="work_items")
    op.drop_table("work_items")
