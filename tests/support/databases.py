"""Test databases: SQLite files on tmpfs and PostgreSQL schemas, each made at the newest migration from a template.

Running the migrations costs 0.1-0.7 s per database (alembic, and an fsync per DDL statement on SQLite); the
suite makes hundreds. So each test process migrates one template of each kind, and every test's database
starts as a copy: a copied file for SQLite, the template's recorded statements replayed into a fresh schema for
PostgreSQL. Tests of the migrations themselves, and of start-up, take an empty database instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from bot.store.db import Database

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
# Commits need not wait for the server's disk in tests: the data dies with the schema anyway.
_PG_OPTIONS = "-csynchronous_commit=off"


def _scratch_dir() -> Path:
    """tmpfs when the machine has one: SQLite's fsyncs then cost nothing."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="keywarden-tests-", dir=shm if shm.is_dir() else None))


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema} {_PG_OPTIONS}')}"


class Databases:
    """One per test process: makes empty or migrated databases of either kind."""

    def __init__(self) -> None:
        self._dir = _scratch_dir()
        self._sqlite_template: Path | None = None
        self._pg_script: str | None = None
        self._pg_base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        self._admin: Engine | None = None

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._admin is not None:
            self._admin.dispose()

    # SQLite
    def sqlite_url(self, migrated: bool = True) -> str:
        path = self._dir / f"{uuid.uuid4().hex[:12]}.db"
        if migrated:
            shutil.copyfile(self._sqlite_template_path(), path)
        return f"sqlite:///{path}"

    def _sqlite_template_path(self) -> Path:
        if self._sqlite_template is None:
            path = self._dir / "template.db"
            db = Database(f"sqlite:///{path}")
            db.migrate()
            db.dispose()  # the last connection closes: the WAL is checkpointed into the file
            self._sqlite_template = path
        return self._sqlite_template

    # PostgreSQL
    @contextmanager
    def pg_schema(self, migrated: bool = True) -> Iterator[str]:
        """A schema of its own, dropped afterwards, as a database URL."""
        admin = self._admin_engine()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = pg_schema_url(self._pg_base, schema)
        try:
            if migrated:
                self._replay(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(self._pg_base, isolation_level="AUTOCOMMIT")
        return self._admin

    def _replay(self, url: str) -> None:
        """The template's statements, sent as one script: one round trip instead of one per statement."""
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.connection.dbapi_connection.execute(self._pg_template_script())
        finally:
            engine.dispose()

    def _pg_template_script(self) -> str:
        """What migrating an empty schema sends to the server, reads and locks left out."""
        if self._pg_script is None:
            recorded: list[str] = []
            with self.pg_schema(migrated=False) as url:
                db = Database(url)

                @event.listens_for(db.engine, "before_cursor_execute")
                def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
                    if statement.lstrip().upper().startswith("SELECT"):
                        return
                    # A script cannot carry parameters: the migrations send none (their versions are literals).
                    assert not parameters, f"a migration statement with parameters cannot be replayed: {statement}"
                    recorded.append(statement.replace("%%", "%"))  # escaped for parameters that never came

                db.migrate()
                db.dispose()
            self._pg_script = ";\n".join(recorded)
        return self._pg_script


_process_databases: Databases | None = None


def process_databases() -> Databases:
    """The test process's one `Databases` (its templates are made once)."""
    global _process_databases
    if _process_databases is None:
        _process_databases = Databases()
        atexit.register(_process_databases.close)
    return _process_databases


@contextmanager
def pg_schema(migrated: bool = False) -> Iterator[str]:
    """A PostgreSQL schema of its own (dropped afterwards), as a database URL; skips without TEST_DATABASE_URL."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    with process_databases().pg_schema(migrated) as url:
        yield url
