"""Posture snapshots: one summary per full scan, read back for the report; and what the summaries count from other
tables (findings fixed, rotations done, the way down to fewer keys)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.domain.operations import Operation
from bot.domain.posture import CREATED, REPLACED_BY_ROLE, RETIRED, KeyChange, Snapshot
from bot.domain.requests import Status
from bot.domain.retirement import Stage
from bot.store.db import Database
from bot.store.models import FindingNotice, KeyRequest, RotationRow
from bot.store.reporting_models import PostureSnapshot
from bot.store.workload_models import RetirementRow


class PostureStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, taken_at: datetime, trigger: str, summary: dict[str, Any]) -> int:
        with self._db.session() as session:
            row = PostureSnapshot(taken_at=taken_at, trigger=trigger[:16], summary=summary)
            session.add(row)
            session.flush()
            return row.id

    def between(self, since: datetime, until: datetime) -> list[Snapshot]:
        """The snapshots taken in [since, until], oldest first."""
        with self._db.session() as session:
            rows = session.execute(
                select(PostureSnapshot.taken_at, PostureSnapshot.summary)
                .where(PostureSnapshot.taken_at >= since, PostureSnapshot.taken_at <= until)
                .order_by(PostureSnapshot.taken_at, PostureSnapshot.id)
            )
            return [Snapshot(taken_at, summary or {}) for taken_at, summary in rows]

    def last_taken(self) -> datetime | None:
        with self._db.session() as session:
            return session.scalar(select(func.max(PostureSnapshot.taken_at)))

    def last_chart_posted(self) -> datetime | None:
        with self._db.session() as session:
            return session.scalar(select(func.max(PostureSnapshot.chart_posted_at)))

    def chart_posted(self, snapshot_id: int, at: datetime) -> None:
        with self._db.session() as session:
            session.execute(update(PostureSnapshot).where(PostureSnapshot.id == snapshot_id).values(chart_posted_at=at))

    def fixed_between(self, since: datetime | None, until: datetime) -> list[timedelta]:
        """How long each finding resolved in (since, until] had been open."""
        query = select(FindingNotice.first_seen, FindingNotice.resolved_at).where(FindingNotice.resolved_at <= until)
        if since is not None:
            query = query.where(FindingNotice.resolved_at > since)
        with self._db.session() as session:
            return [resolved - first for first, resolved in session.execute(query) if resolved is not None]

    def rotations_done_between(self, since: datetime | None, until: datetime) -> int:
        """Rotations whose old key was switched off in (since, until]: the rotation did its job."""
        query = select(func.count()).select_from(RotationRow).where(RotationRow.deactivated_at <= until)
        if since is not None:
            query = query.where(RotationRow.deactivated_at > since)
        with self._db.session() as session:
            return int(session.scalar(query) or 0)

    def key_changes_between(self, since: datetime, until: datetime) -> list[KeyChange]:
        """The way down in [since, until]: `create` requests that succeeded (a request's last change is its success),
        keys a retirement switched off (unless the key changed outside it afterwards: switched on again or deleted by
        someone else), and retirements that deleted their key (a retirement's last change)."""
        created = select(KeyRequest.updated_at).where(
            KeyRequest.operation == Operation.CREATE.value,
            KeyRequest.status == Status.SUCCEEDED.value,
            KeyRequest.new_key_id.is_not(None),
            KeyRequest.updated_at >= since,
            KeyRequest.updated_at <= until,
        )
        switched_off = select(RetirementRow.switched_off_at).where(
            RetirementRow.switched_off_at >= since,
            RetirementRow.switched_off_at <= until,
            RetirementRow.state != Stage.ENDED.value,
        )
        deleted = select(RetirementRow.updated_at).where(
            RetirementRow.state == Stage.DELETED.value,
            RetirementRow.updated_at >= since,
            RetirementRow.updated_at <= until,
        )
        changes: list[KeyChange] = []
        with self._db.session() as session:
            for change, query in ((CREATED, created), (REPLACED_BY_ROLE, switched_off), (RETIRED, deleted)):
                changes += [KeyChange(change, at) for at in session.scalars(query) if at is not None]
        return sorted(changes, key=lambda c: c.at)
