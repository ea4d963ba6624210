"""The scans that ran: when, by what trigger, and a summary of what each found and delivered.

A run that posts a digest claims it first (`claim_digest`): the same digest (channel, day, fingerprint) is posted
once, also when two runs deliver at once (a scan resumed twice, two `scan --post`). Claims are made one at a time:
on PostgreSQL under a transaction-level advisory lock, on SQLite under the database's write lock, taken by the
run's own INSERT before it reads the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.store.db import Database
from bot.store.models import ScanRun

DIGEST_LOCK = 0x6B77_6467  # "kwdg": the transaction-level advisory lock of digest claims (PostgreSQL)
# A claim whose run neither posted nor failed within this long is taken to be a run that died on the way.
CLAIM_LASTS = timedelta(minutes=10)


@dataclass(frozen=True)
class DigestClaim:
    """A run's claim on the digest of one channel, day and content."""

    channel: str
    day: str  # YYYY-MM-DD in the scan's time zone
    fingerprint: str  # bot/domain/alert_plan.py digest_fingerprint


@dataclass(frozen=True)
class Claimed:
    run_id: int
    posted_at: datetime | None  # None: this run posts; else when the same digest was posted (or claimed)


@dataclass(frozen=True)
class FinishedScan:
    finished_at: datetime
    summary: dict[str, Any]


class ScanRuns:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, started_at: datetime, finished_at: datetime, trigger: str, summary: dict[str, Any]) -> None:
        with self._db.session() as session:
            session.add(ScanRun(started_at=started_at, finished_at=finished_at, trigger=trigger, summary=summary))

    def last_finished(self) -> FinishedScan | None:
        with self._db.session() as session:
            run = session.scalar(
                select(ScanRun).where(ScanRun.finished_at.is_not(None)).order_by(ScanRun.finished_at.desc()).limit(1)
            )
            if run is None or run.finished_at is None:
                return None
            return FinishedScan(run.finished_at, run.summary or {})

    def claim_digest(
        self, started_at: datetime, finished_at: datetime, trigger: str, claim: DigestClaim, now: datetime
    ) -> Claimed:
        """Record this run (to be completed by `finish`) and claim its digest: whether the same digest was already
        posted, or is being posted, that day."""
        mine = {"channel": claim.channel, "day": claim.day, "fingerprint": claim.fingerprint}
        with self._db.session() as session:
            if self._db.is_postgres:
                session.execute(select(func.pg_advisory_xact_lock(DIGEST_LOCK)))
            run = ScanRun(
                started_at=started_at,
                finished_at=finished_at,
                trigger=trigger,
                summary={"digest": mine | {"state": "claimed", "at": now.isoformat()}},
            )
            session.add(run)
            session.flush()  # the INSERT: on SQLite it takes the write lock before the read below
            earlier = session.scalars(
                select(ScanRun.summary).where(ScanRun.id != run.id, ScanRun.started_at >= now - timedelta(days=2))
            ).all()
            for summary in earlier:
                digest = (summary or {}).get("digest") or {}
                if {k: digest.get(k) for k in mine} != mine or digest.get("state") not in ("claimed", "posted"):
                    continue
                at = datetime.fromisoformat(digest["at"])
                if digest["state"] == "posted" or now - at < CLAIM_LASTS:
                    run.summary = {"digest": mine | {"state": "repeat", "at": now.isoformat()}}
                    return Claimed(run.id, at)
            return Claimed(run.id, None)

    def finish(self, run_id: int, summary: dict[str, Any]) -> None:
        """Complete a run that `claim_digest` recorded: its summary, keeping what its digest claim became."""
        with self._db.session() as session:
            run = session.get(ScanRun, run_id)
            if run is None:
                return
            run.summary = {"digest": (run.summary or {}).get("digest")} | summary

    def digest_done(self, run_id: int, *, posted: bool, now: datetime) -> None:
        """The claimed digest was posted (the claim holds for the day) or was not (the next run may post it)."""
        with self._db.session() as session:
            run = session.get(ScanRun, run_id)
            if run is None:
                return
            digest = dict((run.summary or {}).get("digest") or {})
            digest.update(state="posted" if posted else "failed", at=now.isoformat())
            run.summary = {**(run.summary or {}), "digest": digest}
