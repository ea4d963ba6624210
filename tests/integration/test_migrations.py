"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store.db import Database
from bot.store.models import Base

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


def test_migrations_match_the_models(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    db.migrate()
    db.migrate()  # a second run finds nothing to do
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_processes_starting_together_on_a_fresh_sqlite_file_all_migrate(tmp_path) -> None:
    """Web and clock (or the bot and a `scan`) started at once on a new SQLite file: neither dies half-way."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = "import sys\nfrom bot.store.db import Database\nsys.stdin.readline()\nDatabase(sys.argv[1]).migrate()\n"
    starts = [
        subprocess.Popen([sys.executable, "-c", script, url], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for p in starts:  # every process is up and importing is done: they migrate at the same moment
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [(p.wait(timeout=60), p.stderr.read()) for p in starts]
    assert [code for code, _ in results] == [0, 0, 0, 0], [err.splitlines()[-1:] for _, err in results]
    db = Database(url)
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
