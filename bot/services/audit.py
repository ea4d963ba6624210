"""The append-only audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import AuditEvent, Database


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    action: str
    outcome: str
    request_id: str | None
    account: str | None
    iam_user: str | None
    key_id: str | None
    detail: str


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        session: Session,
        actor: str,
        action: str,
        *,
        outcome: str = "ok",
        request_id: str | None = None,
        account: str | None = None,
        iam_user: str | None = None,
        key_id: str | None = None,
        detail: str = "",
    ) -> None:
        """Add an event inside the caller's transaction, so it commits with the change it describes."""
        session.add(
            AuditEvent(
                at=self._clock(),
                actor=actor,
                action=action,
                outcome=outcome,
                request_id=request_id,
                account=account,
                iam_user=iam_user,
                key_id=key_id,
                detail=detail[:2000],
            )
        )

    def write(self, actor: str, action: str, **fields: str | None) -> None:
        """Record an event in its own transaction."""
        with self._db.session() as session:
            self.record(session, actor, action, **fields)  # type: ignore[arg-type]

    def refused(
        self,
        actor: str,
        attempted: str,
        why: str = "",
        *,
        request_id: str | None = None,
        account: str | None = None,
        iam_user: str | None = None,
        key_id: str | None = None,
    ) -> None:
        """A refused attempt by someone not allowed, in its own transaction (the refusal changes nothing else)."""
        self.write(
            actor,
            "refused",
            outcome="refused",
            request_id=request_id,
            account=account,
            iam_user=iam_user,
            key_id=key_id,
            detail=f"{attempted}: {why}" if why else attempted,
        )

    def recent(self, subject: str | None = None, limit: int = 20) -> list[Event]:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if subject:
            query = query.where(
                or_(AuditEvent.iam_user == subject, AuditEvent.key_id == subject, AuditEvent.request_id == subject)
            )
        with self._db.session() as session:
            return [_event(row) for row in session.scalars(query)]

    def all(self) -> list[Event]:
        with self._db.session() as session:
            return [_event(row) for row in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def _event(row: AuditEvent) -> Event:
    return Event(
        row.at, row.actor, row.action, row.outcome, row.request_id, row.account, row.iam_user, row.key_id, row.detail
    )
