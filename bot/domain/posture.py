"""Key hygiene over time: one summary per scan (JSON-ready), and the trend a report draws from them. Pure.

A summary holds the active keys by age bucket, the findings by code and by severity, the active keys whose user has
no owner, the rotations done and the findings fixed since the summary before, and the oldest active keys with their
owners. The trend also counts the way down to fewer keys, per calendar month: keys made by `create`, keys switched
off because the role that replaces them took over (`retire`), and retired keys deleted.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.catalogue import CATALOGUE, Severity
from bot.domain.scan import ScanFinding, ScannedKey, ScanReport

VERSION = 1
# (label, first day, last day); None: no upper bound.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30 days", 0, 30),
    ("31-60 days", 31, 60),
    ("61-90 days", 61, 90),
    ("91-180 days", 91, 180),
    ("181-365 days", 181, 365),
    ("over a year", 366, None),
)
SEVERITIES = tuple(s.name.lower() for s in sorted(Severity, reverse=True))  # critical first
OLDEST_KEPT = 10
# The way down to fewer keys, in the order shown: a `create` request that succeeded; a key a `retire` switched off
# because its role was in use and the key quiet; a retired key deleted after the grace period.
CREATED, REPLACED_BY_ROLE, RETIRED = "created", "replaced_by_role", "retired"
WAY_DOWN = (CREATED, REPLACED_BY_ROLE, RETIRED)


@dataclass(frozen=True)
class Snapshot:
    """One stored summary."""

    taken_at: datetime
    summary: dict[str, Any]


def age_bucket(days: int) -> str:
    for label, low, high in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    return AGE_BUCKETS[0][0]  # a key from the future (clock skew) is new


def summarize(report: ScanReport, now: datetime, *, rotations_done: int, fixed: Sequence[timedelta]) -> dict[str, Any]:
    """The scan's posture. `fixed`: how long each finding resolved since the last summary had been open."""
    scanned = [a for a in report.accounts if not a.error]
    keys = [k for a in scanned for k in a.inventory]
    findings = [f for a in scanned for f in a.findings]
    return {
        "version": VERSION,
        "accounts": len(report.accounts),
        "failed_accounts": sorted(a.account for a in report.accounts if a.error),
        "users": sum(a.users for a in scanned),
        **key_counts(keys, now),
        **finding_counts(findings),
        **keys_at_risk(keys),
        "rotations_done": rotations_done,
        **time_to_fix(fixed),
        "oldest": oldest_keys(keys, findings, now),
    }


def active_keys(keys: Sequence[ScannedKey]) -> list[ScannedKey]:
    return [k for k in keys if k.facts.active]


def key_counts(keys: Sequence[ScannedKey], now: datetime) -> dict[str, Any]:
    """The keys: how many, how many active, and the active ones by age bucket (every bucket, youngest first)."""
    active = active_keys(keys)
    ages = Counter(age_bucket(k.facts.age_days(now)) for k in active)
    return {
        "keys": len(keys),
        "active_keys": len(active),
        "key_ages": {label: ages.get(label, 0) for label, _, _ in AGE_BUCKETS},
    }


def finding_counts(findings: Sequence[ScanFinding]) -> dict[str, Any]:
    """The findings: how many, by code (sorted) and by severity (every severity, critical first)."""
    by_severity = Counter(f.finding.severity.name.lower() for f in findings)
    return {
        "findings": len(findings),
        "findings_by_code": dict(sorted(Counter(f.code for f in findings).items())),
        "findings_by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
    }


def keys_at_risk(keys: Sequence[ScannedKey]) -> dict[str, int]:
    """Active keys whose user has no owner (the root user aside), and the root user's keys."""
    return {
        "unowned_keys": sum(1 for k in active_keys(keys) if not k.owner and not k.facts.is_root),
        "root_keys": sum(1 for k in keys if k.facts.is_root),
    }


def time_to_fix(fixed: Sequence[timedelta]) -> dict[str, Any]:
    """How many findings were fixed, and the median days they had been open (None without any)."""
    days = [d.total_seconds() / 86400 for d in fixed]
    return {"fixed": len(days), "median_days_to_fix": round(statistics.median(days), 1) if days else None}


def oldest_keys(keys: Sequence[ScannedKey], findings: Sequence[ScanFinding], now: datetime) -> list[dict[str, Any]]:
    """The OLDEST_KEPT oldest active keys, oldest first, with their owners; a key's id where a finding named it (the
    credential report does not)."""
    ids = {(f.account, f.user, f.facts.created): f.facts.key_id for f in findings if f.facts and f.facts.key_id}
    return [
        {
            "account": k.facts.account,
            "user": "root" if k.facts.is_root else k.facts.user,
            "key_id": ids.get((k.facts.account, k.facts.user, k.facts.created)),
            "age_days": k.facts.age_days(now),
            "owner": k.owner,
        }
        for k in sorted(active_keys(keys), key=lambda k: k.facts.created)[:OLDEST_KEPT]
    ]


@dataclass(frozen=True)
class KeyChange:
    """One step on the way down: `change` (one of WAY_DOWN) at `at`."""

    change: str
    at: datetime


def month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def months(since: datetime, until: datetime) -> list[datetime]:
    """The first day of every calendar month from `since`'s to `until`'s, oldest first."""
    found, month = [], month_start(since)
    while month <= until:
        found.append(month)
        month = month_start(month + timedelta(days=32))
    return found


@dataclass(frozen=True)
class Trend:
    """What a report draws: the snapshots of a window, oldest first, and the newest one's details."""

    since: datetime
    until: datetime
    snapshots: list[Snapshot]
    fix_days: list[float] = field(default_factory=list)  # how long each finding fixed in the window had been open
    key_changes: list[KeyChange] = field(default_factory=list)  # from the first day of `since`'s month to `until`

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.snapshots[-1].summary if self.snapshots else None

    @property
    def first(self) -> dict[str, Any] | None:
        return self.snapshots[0].summary if self.snapshots else None

    def severity_series(self) -> dict[str, list[int]]:
        """Per severity (critical first), the findings at each snapshot."""
        return {
            s: [snap.summary.get("findings_by_severity", {}).get(s, 0) for snap in self.snapshots] for s in SEVERITIES
        }

    def times(self) -> list[datetime]:
        return [snap.taken_at for snap in self.snapshots]

    def rotations_by_week(self) -> list[tuple[datetime, int]]:
        """(start of the week, rotations done) for every week of the window, Mondays, oldest first."""
        start = (self.since - timedelta(days=self.since.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        weeks: dict[datetime, int] = {}
        week = start
        while week <= self.until:
            weeks[week] = 0
            week += timedelta(days=7)
        for snap in self.snapshots:
            monday = (snap.taken_at - timedelta(days=snap.taken_at.weekday())).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            weeks[monday] = weeks.get(monday, 0) + int(snap.summary.get("rotations_done", 0))
        return sorted(weeks.items())

    def rotations_done(self) -> int:
        return sum(int(s.summary.get("rotations_done", 0)) for s in self.snapshots)

    def way_down_by_month(self) -> list[tuple[datetime, dict[str, int]]]:
        """(first day of the month, {change: keys}) for every calendar month the window touches, whole, oldest
        first."""
        counts = {month: dict.fromkeys(WAY_DOWN, 0) for month in months(self.since, self.until)}
        for c in self.key_changes:
            month = counts.get(month_start(c.at))
            if month is not None and c.change in month and c.at <= self.until:
                month[c.change] += 1
        return sorted(counts.items())

    def way_down(self) -> dict[str, int]:
        """{change: keys} within the window itself."""
        totals = dict.fromkeys(WAY_DOWN, 0)
        for c in self.key_changes:
            if c.change in totals and self.since <= c.at <= self.until:
                totals[c.change] += 1
        return totals

    def fixed(self) -> tuple[int, float | None]:
        """(findings fixed in the window, the median days they had been open)."""
        return len(self.fix_days), (round(statistics.median(self.fix_days), 1) if self.fix_days else None)


def title_of(code: str) -> str:
    entry = CATALOGUE.get(code)
    return entry.title if entry else code
