"""Database: the engine, the unit of work (a session), and migrations applied at start (bot/store/migrations)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.store import sqlite
from bot.store.models import WorkItem

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x6B657977  # an arbitrary constant: "keyw"


class Database:
    """The engine and a session factory; `session()` is the unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine, self._statements = _make_engines(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def statements(self) -> Iterator[Connection]:
        """The work queue's connection (bot/store/work_queue.py): each statement commits on its own, with no
        BEGIN and COMMIT around it; on SQLite, in the queue's own file."""
        with self._statements.connect() as conn:
            yield conn

    def sync_statements(self) -> None:
        """On SQLite, put the queue's commits on the disk now (they survive the process at once, a power cut
        once synced); elsewhere nothing to do."""
        sqlite.checkpoint(self._statements)

    def migrate(self) -> None:
        """Bring the schema to the newest migration, one process at a time.

        PostgreSQL serialises with an advisory lock; SQLite with a lock on a file beside the database (two
        processes creating the tables of a new file at once would otherwise both try, and one would die).
        """
        with self._sqlite_file_lock(), self.engine.connect() as conn:
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                cfg = AlembicConfig()
                cfg.set_main_option("script_location", str(MIGRATIONS))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.is_postgres:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                    conn.commit()

    def _sqlite_file_lock(self) -> contextlib.AbstractContextManager[object]:
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return nullcontext()
        return _exclusive_lock(Path(f"{path}.migrate-lock"))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self._statements.dispose()
        self.engine.dispose()


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[object]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        yield handle


def _make_engines(url: str) -> tuple[Engine, Engine]:
    """The engine of transactions, and the one of single statements that commit on their own (the work queue's)."""
    if url.startswith("sqlite"):  # the work queue in a file of its own (bot/store/sqlite.py says why)
        return sqlite.engines(url, [WorkItem.__table__])  # type: ignore[list-item]  # a declarative Table
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    # The queue's connections: each statement one round trip (autocommit, no ping before it: a connection found
    # dead is replaced and the statement tried again, bot/store/work_queue.py). Its commits are waited for on the
    # server's disk like every other: a PostgreSQL process killed (the server resets every backend and its WAL
    # buffers) must not take an acknowledged item with it.
    statements = create_engine(
        url, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True, pool_size=5, max_overflow=5
    )
    return engine, statements
