"""What GET /healthz (readiness) reports: the database, its schema, Slack and AWS (asked at most every 30 s),
and the scheduler: on a process with one, leadership, scans and the audit chain's head (with the newest head a
scan or the audit stream recorded outside the table); on a process without, whether any process holds the
scheduler's lease (`elsewhere`) or none does (`none`: nothing scans, expires or rotates).

With EVENTS_DLQ_URL, `events_dlq` is the dead-letter queue's depth (events never handled), or `unknown`.

The contract: `status` and `database` are always there; `status` is `ok` with HTTP 200, or `error` with 503
when the database is unreachable, its schema is older than this code (run the `release` step), or Slack or AWS
does not work (`slack` / `aws` then say what failed in a few words). GET /livez (liveness) checks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from bot.bootstrap import Services
from bot.entrypoints.probes import Dependencies
from bot.entrypoints.scheduler import LEASE_NAME, lock_key
from bot.store.db import MIGRATIONS
from bot.store.models import ScanRun, SchedulerLease
from bot.store.work_queue import WorkQueue

log = logging.getLogger(__name__)


@cache
def _head_revisions() -> frozenset[str]:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


@cache
def _known_revisions() -> frozenset[str]:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(r.revision for r in ScriptDirectory.from_config(config).walk_revisions())


def _migrations(services: Services) -> str:
    """`current`, `behind` (the code expects a newer schema) or `ahead` (a newer release migrated it)."""
    with services.db.engine.connect() as conn:
        current = frozenset(MigrationContext.configure(conn).get_current_heads())
    if current == _head_revisions():
        return "current"
    return "ahead" if current - _known_revisions() else "behind"


def health(
    services: Services, is_leader: Callable[[], bool] | None = None, dependencies: Dependencies | None = None
) -> tuple[str, dict[str, Any]]:
    """(HTTP status line, body)."""
    outside = dependencies.status() if dependencies is not None else {}
    try:
        services.db.ping()
        migrations = _migrations(services)
    except Exception as e:  # a health check reports, it does not raise
        log.warning("health check: database unreachable: %s", type(e).__name__)
        return "503 Service Unavailable", {"status": "error", "database": "unreachable", **outside}
    body: dict[str, Any] = {"status": "ok", "database": "ok", "migrations": migrations, **outside}
    if migrations != "behind":  # the work queue: items acknowledged and not done yet, and the oldest one's age
        body["work_queue"] = WorkQueue(services.db, services.clock).depth().as_health()
    if is_leader is None:
        body["scheduler"] = _lease_holder(services)
    else:
        body["scheduler"] = "leader" if is_leader() else "standby"
        body["last_scan_age_seconds"] = _last_scan_age(services)
        head = _audit_head(services)
        if head:
            body["audit_head"] = head
    if services.audit_stream is not None:
        try:
            body["audit_backlog"] = services.audit_stream.backlog().as_health()
        except Exception as e:  # a health check reports, it does not raise
            log.warning("health check: audit backlog unreadable: %s", type(e).__name__)
            body["audit_backlog"] = "unknown"
    if services.settings.events_dlq_url:  # events SQS gave up on: each one was never handled
        depth = services.events_dlq_depth()
        body["events_dlq"] = {"depth": depth} if depth is not None else "unknown"
    if migrations == "behind" or any(answer != "ok" for answer in outside.values()):
        body["status"] = "error"
        return "503 Service Unavailable", body
    return "200 OK", body


def _audit_head(services: Services) -> dict[str, Any] | None:
    """The chain's head now and the newest head recorded outside it (None while both are empty)."""
    head, anchored = services.audit.heads()
    if head is None and anchored is None:
        return None
    body: dict[str, Any] = {"seq": head[0] if head else 0, "hash": head[1] if head else None}
    if anchored is not None:
        at = anchored.recorded_at.isoformat(timespec="seconds")
        body["anchored"] = {"seq": anchored.seq, "hash": anchored.hash, "at": at, "by": anchored.source}
    return body


def _last_scan_age(services: Services) -> int | None:
    """Seconds since the last scan (of any process) finished, or None before the first."""
    with services.db.session() as session:
        finished = session.scalar(select(func.max(ScanRun.finished_at)))
    return None if finished is None else max(0, int((services.clock() - finished).total_seconds()))


def _lease_holder(services: Services) -> str:
    """For a process without a scheduler: `elsewhere` while some process holds the scheduler's lease, else `none`."""
    try:
        if services.db.is_postgres:
            with services.db.engine.connect() as conn:
                key = lock_key(conn.execute(text("SELECT current_schema()")).scalar_one())
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                        "AND classid = :high AND objid = :low AND objsubid = 1"
                    ),
                    {"high": key >> 32, "low": key & 0xFFFFFFFF},
                ).scalar_one()
        else:
            with services.db.session() as session:
                lease = session.get(SchedulerLease, LEASE_NAME)
                held = lease is not None and lease.expires_at > services.clock()
    except Exception as e:  # a health check reports, it does not raise
        log.warning("health check: scheduler lease unreadable: %s", type(e).__name__)
        return "unknown"
    return "elsewhere" if held else "none"
