"""time-bound keys: the duration a request asks for, the key's end, and each time-bound key's progress

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_for_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("key_ends_at", bot.store.models.UTCDateTime(), nullable=True))
    op.create_table(
        "time_bound_keys",
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("iam_user", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("ends_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("warn_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("next_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("deactivated_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("delete_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_time_bound_keys_key_id", "time_bound_keys", ["key_id"])
    op.create_index("ix_time_bound_keys_next_at", "time_bound_keys", ["next_at"])
    op.create_index("ix_time_bound_keys_state", "time_bound_keys", ["state"])


def downgrade() -> None:
    op.drop_index("ix_time_bound_keys_state", table_name="time_bound_keys")
    op.drop_index("ix_time_bound_keys_next_at", table_name="time_bound_keys")
    op.drop_index("ix_time_bound_keys_key_id", table_name="time_bound_keys")
    op.drop_table("time_bound_keys")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("key_ends_at")
        batch_op.drop_column("valid_for_hours")
