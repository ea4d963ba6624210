"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store.db import Database
from bot.store.models import Base


def test_migrations_match_the_models(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    db.migrate()
    db.migrate()  # a second run finds nothing to do
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
