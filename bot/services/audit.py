"""The append-only audit log, and its events for the audit stream and `python -m bot audit --json`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import AuditEvent, AuditOutbox, Database, KeyRequest
from bot.domain.audit_events import AuditRow, event_json, event_type


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
    def __init__(self, db: Database, clock: Clock, *, stream: bool = False) -> None:
        self._db = db
        self._clock = clock
        self._stream = stream  # AUDIT_WEBHOOK_URL is set: each event also goes to the outbox

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
        row = AuditEvent(
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
        session.add(row)
        if self._stream:
            self._to_outbox(session, row)

    @staticmethod
    def _to_outbox(session: Session, row: AuditEvent) -> None:
        """The event's body, in the same transaction: it is delivered exactly when the change is committed."""
        session.flush([row])  # the row's id is the event's id
        request = session.get(KeyRequest, row.request_id) if row.request_id else None
        audit_row = _audit_row(row, request.operation if request else None)
        session.add(
            AuditOutbox(
                audit_id=row.id,
                created_at=row.at,
                event_type=event_type(row.action, audit_row.operation),
                body=event_json(audit_row),
                attempts=0,
            )
        )

    def write(self, actor: str, action: str, **fields: str | None) -> None:
        """Record an event in its own transaction."""
        with self._db.session() as session:
            self.record(session, actor, action, **fields)  # type: ignore[arg-type]

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

    def events(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[str]:
        """Every event from `since` (inclusive) to `until` (exclusive) as a JSON line, the stream's schema."""
        query = select(AuditEvent, KeyRequest.operation).outerjoin(KeyRequest, KeyRequest.id == AuditEvent.request_id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        with self._db.session() as session:
            for row, operation in session.execute(query.order_by(AuditEvent.id).execution_options(yield_per=500)):
                yield event_json(_audit_row(row, operation))


def _audit_row(row: AuditEvent, operation: str | None) -> AuditRow:
    return AuditRow(
        row.id,
        row.at,
        row.actor,
        row.action,
        row.outcome,
        row.request_id,
        row.account,
        row.iam_user,
        row.key_id,
        row.detail,
        operation,
    )


def _event(row: AuditEvent) -> Event:
    return Event(
        row.at, row.actor, row.action, row.outcome, row.request_id, row.account, row.iam_user, row.key_id, row.detail
    )
