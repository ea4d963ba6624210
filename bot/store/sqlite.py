"""SQLite: the settings of every connection, and the work queue's file of its own.

SQLite lets one connection write to a file at a time; a connection that finds the write lock taken waits in
SQLite's busy handler, which sleeps and tries again (1, 2, 5, 10, ... then 100 ms at a time) rather than queueing.
The ack path records its work item with an INSERT (bot/store/work_queue.py). In the bot's file that INSERT waited
for the work threads' own writes, each holding the lock through its commit's fsync, and at 8 concurrent clients
the acks' p99 tripled (docs/benchmarks.md, "Ack latency with durable work"). So the queue is kept in a file of its
own beside the database (`<database>-work`), where only the queue's single statements write: each takes the lock
and commits within one call into SQLite, and its commit is not waited for on the disk (synchronous=NORMAL: in the
operating system's hands when the call returns, so it survives the process being killed; `checkpoint()` puts it
on the disk, every second from the take-over thread).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import CreateIndex, CreateTable

BUSY_TIMEOUT_SECONDS = 30
QUEUE_FILE_SUFFIX = "-work"


def engines(url: str, queue_tables: Sequence[Table]) -> tuple[Engine, Engine]:
    """The engine of the bot's transactions, and the one of single statements that commit on their own, on the
    queue's file (with `queue_tables` made there when missing). In memory, both share one database."""
    args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS}
    engine = create_engine(url, connect_args=args)
    event.listen(engine, "connect", _pragmas)
    if engine.url.database in (None, "", ":memory:"):
        return engine, engine.execution_options(isolation_level="AUTOCOMMIT")
    queue_url = engine.url.set(database=f"{engine.url.database}{QUEUE_FILE_SUFFIX}")
    statements = create_engine(
        queue_url, connect_args=args, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True
    )
    ddl = [str(CreateTable(t, if_not_exists=True).compile(dialect=statements.dialect)) for t in queue_tables]
    ddl += [
        str(CreateIndex(i, if_not_exists=True).compile(dialect=statements.dialect))
        for t in queue_tables
        for i in t.indexes
    ]

    def queue_file(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        _pragmas(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        for statement in ddl:  # the queue's file is made by whichever process opens it first
            cur.execute(statement)
        cur.close()

    event.listen(statements, "connect", queue_file)
    return engine, statements


def checkpoint(statements: Engine) -> None:
    """Put what the queue's statements committed on the disk (the WAL's fsync, then its pages into the file),
    without waiting for anyone."""
    if statements.dialect.name == "sqlite" and statements.url.database not in (None, "", ":memory:"):
        with statements.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))


def _pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
