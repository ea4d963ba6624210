"""finding codes in kebab-case: the scan memory's rows that still hold the old snake_case codes are rewritten

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Written out, not imported: a migration keeps the codes of its day whatever the catalogue says later.
RENAMED = {
    "root_key": "root-key",
    "key_too_old": "key-too-old",
    "key_age_warning": "key-age-warning",
    "key_unused": "key-unused",
    "two_active_keys": "two-active-keys",
    "inactive_key": "inactive-key",
}


def _rename(pairs: dict[str, str]) -> None:
    """A row under the new code for the same key wins (a newer process wrote it already); the old row is dropped.
    The codes are written into the statements as literals (they are the constants above): no parameters."""
    for old, new in pairs.items():
        op.execute(
            f"UPDATE finding_notices SET code = '{new}' WHERE code = '{old}' AND NOT EXISTS "
            "(SELECT 1 FROM finding_notices AS later WHERE later.account = finding_notices.account "
            f"AND later.subject = finding_notices.subject AND later.code = '{new}')"
        )
        op.execute(f"DELETE FROM finding_notices WHERE code = '{old}'")


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
