"""The scans that ran: when, by what trigger, and a summary of what each found and delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.db import Database
from bot.store.models import ScanRun


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
