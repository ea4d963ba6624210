"""What GET /healthz reports: the database, its schema and, on a process with a scheduler, leadership, scans
and the audit chain's head (with the newest head a scan or the audit stream recorded outside the table).

The contract: `status` and `database` are always there; `status` is `ok` with HTTP 200, or `error` with 503
when the database is unreachable or its schema is older than this code (run the `release` step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from bot.bootstrap import Services
from bot.store.db import MIGRATIONS
from bot.store.models import ScanRun
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


def health(services: Services, is_leader: Callable[[], bool] | None = None) -> tuple[str, dict[str, Any]]:
    """(HTTP status line, body)."""
    try:
        services.db.ping()
        migrations = _migrations(services)
    except Exception as e:  # a health check reports, it does not raise
        log.warning("health check: database unreachable: %s", type(e).__name__)
        return "503 Service Unavailable", {"status": "error", "database": "unreachable"}
    body: dict[str, Any] = {"status": "ok", "database": "ok", "migrations": migrations}
    if migrations != "behind":  # the work queue: items acknowledged and not done yet, and the oldest one's age
        body["work_queue"] = WorkQueue(services.db, services.clock).depth().as_health()
    if is_leader is not None:
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
    if migrations == "behind":
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
