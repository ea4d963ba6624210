"""delivered rotations: which key each location holds, and the rotation's delivery and cut-over dates

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rotations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("told_at", bot.store.models.UTCDateTime(), nullable=True))
    op.create_table(
        "location_deliveries",
        sa.Column("rotation_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("held", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("transient", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["rotation_id"], ["rotations.id"]),
        sa.PrimaryKeyConstraint("rotation_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("location_deliveries")
    with op.batch_alter_table("rotations", schema=None) as batch_op:
        batch_op.drop_column("told_at")
        batch_op.drop_column("delivered_at")
