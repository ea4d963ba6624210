"""What the scans found and told, between scans: one row per (account, subject, finding code).

A row opens when a scan first sees the finding, is refreshed by every scan that sees it again, records when
its owner was last told, and is resolved when a scan of its account no longer sees it; opening and resolving
are audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, select

from bot.domain.scan import NoticeState, ScanFinding
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.models import FindingNotice

NoticeKey = tuple[str, str, str]  # (account, subject, code)


@dataclass(frozen=True)
class OpenNotice:
    """A finding a scan still sees."""

    account: str
    subject: str  # the key id; `user:<name>` for user-level findings; `root`
    code: str
    iam_user: str
    first_seen: datetime


class Remembered(NamedTuple):
    """What the memory held before a scan was remembered, and what the scan changed in it."""

    states: dict[NoticeKey, NoticeState]  # as they were before this scan
    new: set[NoticeKey]  # never seen, or seen again after being resolved
    resolved: int


class FindingNotices:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def remember(self, findings: Iterable[ScanFinding], scanned: set[str], now: datetime) -> Remembered:
        """A scan of the `scanned` accounts saw `findings`: seen ones are refreshed or added, vanished ones resolved."""
        current = {_key(f): f for f in findings}
        states: dict[NoticeKey, NoticeState] = {}
        new: set[NoticeKey] = set()
        resolved = 0
        with self._db.session() as session:
            rows = {
                (r.account, r.subject, r.code): r
                for r in session.scalars(select(FindingNotice).where(FindingNotice.account.in_(scanned)))
            }
            for key, row in rows.items():
                states[key] = NoticeState(row.notified_at, row.notified_severity, row.resolved_at)
                if key not in current and row.resolved_at is None:
                    row.resolved_at = now
                    resolved += 1
                    self._audit.record(
                        session,
                        SYSTEM,
                        "finding_resolved",
                        account=row.account,
                        iam_user=row.iam_user,
                        key_id=row.subject if row.subject.startswith(("AKIA", "ASIA")) else None,
                        detail=row.code,
                    )
            for key, f in current.items():
                known = rows.get(key)
                if known is None or known.resolved_at is not None:
                    self._audit.record(
                        session,
                        SYSTEM,
                        "finding_opened",
                        account=f.account,
                        iam_user=f.user,
                        key_id=f.key_id,
                        detail=f"{f.code}: {f.finding.message}",
                    )
                if known is None:
                    new.add(key)
                    session.add(
                        FindingNotice(
                            account=f.account,
                            subject=f.subject,
                            code=f.code,
                            iam_user=f.user,
                            severity=int(f.finding.severity),
                            owner=f.owner,
                            first_seen=now,
                            last_seen=now,
                        )
                    )
                    continue
                if known.resolved_at is not None:
                    new.add(key)
                known.last_seen, known.severity, known.owner = now, int(f.finding.severity), f.owner
        return Remembered(states, new, resolved)

    def mark_notified(self, severities: Mapping[NoticeKey, int], now: datetime) -> None:
        """Slack accepted the messages that told these findings, at these severities."""
        if not severities:
            return
        with self._db.session() as session:
            for key, severity in severities.items():
                row = session.get(FindingNotice, key)
                if row is not None:
                    row.notified_at = now
                    row.notified_severity = severity
                    row.notify_count = (row.notify_count or 0) + 1
                    row.resolved_at = None

    def first_seen(self, subjects: Iterable[str | None]) -> dict[NoticeKey, datetime]:
        """When a scan first saw each finding of these subjects (resolved ones too)."""
        with self._db.session() as session:
            rows = session.scalars(select(FindingNotice).where(FindingNotice.subject.in_(set(subjects))))
            return {(r.account, r.subject, r.code): r.first_seen for r in rows}

    def open_codes(self, subjects: Iterable[str]) -> dict[str, list[str]]:
        """{subject: the codes of its open findings}, for the subjects that have one."""
        wanted = list(subjects)
        codes: dict[str, list[str]] = {}
        if not wanted:
            return codes
        with self._db.session() as session:
            for n in session.scalars(
                select(FindingNotice).where(FindingNotice.subject.in_(wanted), FindingNotice.resolved_at.is_(None))
            ):
                codes.setdefault(n.subject, []).append(n.code)
        return codes

    def open_at_least(self, severity: int, limit: int) -> list[OpenNotice]:
        """Open findings of at least this severity, the longest-standing first."""
        return self._open(
            select(FindingNotice)
            .where(FindingNotice.severity >= severity, FindingNotice.resolved_at.is_(None))
            .order_by(FindingNotice.first_seen)
            .limit(limit)
        )

    def open_with_code(self, code: str, subjects: Iterable[str]) -> list[OpenNotice]:
        return self._open(
            select(FindingNotice).where(
                FindingNotice.code == code,
                FindingNotice.subject.in_(list(subjects)),
                FindingNotice.resolved_at.is_(None),
            )
        )

    def _open(self, query: Select[FindingNotice]) -> list[OpenNotice]:
        with self._db.session() as session:
            return [OpenNotice(n.account, n.subject, n.code, n.iam_user, n.first_seen) for n in session.scalars(query)]


def _key(f: ScanFinding) -> NoticeKey:
    return (f.account, f.subject, f.code)
