"""The audit stream's outbox: each audit event's body waits here, in id order, until the endpoint took it."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update

from bot.domain.audit_chain import Anchor
from bot.store import audit_anchors
from bot.store.db import Database
from bot.store.models import AuditOutbox


class Waiting(NamedTuple):
    id: int
    event_type: str
    body: str


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def oldest(self, limit: int) -> list[Waiting]:
        """Up to `limit` waiting events, oldest first."""
        with self._db.session() as session:
            rows = session.execute(
                select(AuditOutbox.id, AuditOutbox.event_type, AuditOutbox.body).order_by(AuditOutbox.id).limit(limit)
            ).all()
            return [Waiting(row_id, kind, body) for row_id, kind, body in rows]

    def delivered(self, row_id: int) -> None:
        with self._db.session() as session:
            session.execute(delete(AuditOutbox).where(AuditOutbox.id == row_id))

    def failed(self, row_id: int, error: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(AuditOutbox)
                .where(AuditOutbox.id == row_id)
                .values(attempts=AuditOutbox.attempts + 1, last_error=error)
            )

    def backlog(self) -> tuple[int, datetime | None]:
        """(how many events wait, when the oldest was written)."""
        with self._db.session() as session:
            count, oldest = session.execute(select(func.count(AuditOutbox.id), func.min(AuditOutbox.created_at))).one()
        return count, oldest

    def anchor(self, seq: int, hash_: str, at: datetime) -> Anchor:
        """The newest event the endpoint acknowledged, kept as an anchor of the audit chain."""
        with self._db.session() as session:
            return audit_anchors.record(session, seq, hash_, at, audit_anchors.STREAM)
