"""The gauges of GET /metrics read from the database at each scrape: pending requests, rotations by stage,
the last successful scan per account, the audit chain's head and the newest head recorded outside it; and, with
EVENTS_DLQ_URL, the depth of the events dead-letter queue (read from SQS by the caller's function)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.clock import system_clock
from bot.domain.operations import Operation
from bot.domain.requests import Status
from bot.domain.rotation import RotationState
from bot.store import audit_anchors
from bot.store.db import Database
from bot.store.models import KeyRequest, RotationRow, ScanRun
from bot.store.work_queue import WorkQueue


class Exporter(Collector):
    """What one serving process exports: the process-wide metrics plus state read from the database."""

    def __init__(
        self,
        db: Database,
        *,
        is_leader: Callable[[], bool] | None = None,
        dlq_depth: Callable[[], int | None] | None = None,
    ) -> None:
        self._db = db
        self._is_leader = is_leader  # a callable on processes that run a scheduler
        self._dlq_depth = dlq_depth  # the events dead-letter queue's depth; None when not configured or unreadable
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def exposition(self) -> bytes:
        return generate_latest(REGISTRY) + generate_latest(self._registry)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._is_leader is not None:
            leader = GaugeMetricFamily(
                "keywarden_scheduler_leader", "1 while this process runs the scheduler, 0 while it stands by"
            )
            leader.add_metric([], 1 if self._is_leader() else 0)
            yield leader
        depth = self._dlq_depth() if self._dlq_depth is not None else None
        if depth is not None:
            dlq = GaugeMetricFamily(
                "keywarden_events_dlq_depth", "Events waiting in the events queue's dead-letter queue, never handled"
            )
            dlq.add_metric([], depth)
            yield dlq
        pending = GaugeMetricFamily(
            "keywarden_pending_requests", "Requests waiting for approval, by operation", labels=["operation"]
        )
        rotations = GaugeMetricFamily("keywarden_rotations", "Guided rotations by stage", labels=["stage"])
        last_scan = GaugeMetricFamily(
            "keywarden_last_successful_scan_timestamp_seconds",
            "When the last scan that reached an account finished (Unix time), by account",
            labels=["account"],
        )
        try:
            with self._db.session() as session:
                by_operation = session.execute(
                    select(KeyRequest.operation, func.count())
                    .where(KeyRequest.status == Status.PENDING.value)
                    .group_by(KeyRequest.operation)
                ).all()
                by_stage = session.execute(select(RotationRow.state, func.count()).group_by(RotationRow.state)).all()
                runs = session.execute(
                    select(ScanRun.finished_at, ScanRun.summary).order_by(ScanRun.id.desc()).limit(200)
                ).all()
                chain_head, anchored = audit_anchors.head(session), audit_anchors.newest(session)
            work = WorkQueue(self._db, system_clock).depth()
        except Exception:  # a scrape reports what it can; /healthz tells that the database is down
            return
        # Every operation and stage, zeros included, so that a series never vanishes.
        for operation, count in ({o.value: 0 for o in Operation} | dict(by_operation)).items():
            pending.add_metric([operation], count)
        for stage, count in ({s.value: 0 for s in RotationState} | dict(by_stage)).items():
            rotations.add_metric([stage], count)
        for account, finished in _last_success(runs).items():
            last_scan.add_metric([account], finished.timestamp())
        yield pending
        yield rotations
        yield last_scan
        # Scraped into Prometheus, the head is kept outside the database too: it never goes down on its own.
        head = GaugeMetricFamily("keywarden_audit_head_seq", "The id of the newest audit event (0: empty log)")
        head.add_metric([], chain_head[0] if chain_head else 0)
        yield head
        anchor = GaugeMetricFamily(
            "keywarden_audit_anchor_seq",
            "The newest audit event id recorded outside the audit table (by a scan or the audit stream)",
        )
        anchor.add_metric([], anchored.seq if anchored else 0)
        yield anchor
        queued = GaugeMetricFamily("keywarden_work_queue_depth", "Work acknowledged to Slack and not done yet (items)")
        queued.add_metric([], work.items)
        yield queued
        oldest = GaugeMetricFamily(
            "keywarden_work_queue_oldest_seconds", "How long ago the oldest item of work not done yet was acknowledged"
        )
        oldest.add_metric([], work.oldest_seconds or 0.0)
        yield oldest


def _last_success(runs: Iterable[Sequence[Any]]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for finished, summary in runs:
        if finished is None or not isinstance(summary, dict):
            continue
        failed = summary.get("failed") or {}
        for account in summary.get("accounts") or []:
            if account not in failed and (account not in latest or finished > latest[account]):
                latest[account] = finished
    return latest
