"""key_workloads and retirements: each key's last workload profile, and each approved retire on its way

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_workloads",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("iam_user", sa.String(length=64), nullable=False),
        sa.Column("profiled_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("runner", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("replaceable", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("lookups", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_key_workloads_account", "key_workloads", ["account"])
    op.create_index("ix_key_workloads_profiled_at", "key_workloads", ["profiled_at"])
    op.create_index("ix_key_workloads_replaceable", "key_workloads", ["replaceable"])
    op.create_table(
        "retirements",
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("iam_user", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("permission_set", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("next_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("replacement_since", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("told_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("switched_off_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("delete_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_retirements_key_id", "retirements", ["key_id"])
    op.create_index("ix_retirements_next_at", "retirements", ["next_at"])
    op.create_index("ix_retirements_state", "retirements", ["state"])


def downgrade() -> None:
    op.drop_index("ix_retirements_state", table_name="retirements")
    op.drop_index("ix_retirements_next_at", table_name="retirements")
    op.drop_index("ix_retirements_key_id", table_name="retirements")
    op.drop_table("retirements")
    op.drop_index("ix_key_workloads_replaceable", table_name="key_workloads")
    op.drop_index("ix_key_workloads_profiled_at", table_name="key_workloads")
    op.drop_index("ix_key_workloads_account", table_name="key_workloads")
    op.drop_table("key_workloads")
