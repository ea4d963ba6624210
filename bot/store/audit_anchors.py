"""Heads of the audit chain kept outside the audit table (`audit_anchors`, insert-only).

Each scan records the chain's head, and the audit stream the newest event its endpoint acknowledged.
Rows are only ever inserted: on PostgreSQL a trigger refuses the rest, and with the role split of
docs/operations.md the bot's login role holds only SELECT and INSERT on the table. Whoever cuts events
off the end of the log cannot also take back the head recorded before, and `audit verify` compares.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.audit_chain import Anchor
from bot.store.models import AuditAnchor, AuditEvent

SCAN = "scan"
STREAM = "stream"


def head(session: Session) -> tuple[int, str] | None:
    """The newest event's id and hash, as committed now (None while the log is empty)."""
    row = session.execute(select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return None if row is None else (row[0], row[1])


def record(session: Session, seq: int, hash_: str, at: datetime, source: str) -> Anchor:
    session.add(AuditAnchor(recorded_at=at, source=source, seq=seq, hash=hash_))
    return Anchor(seq, hash_, at, source)


def record_head(session: Session, at: datetime, source: str = SCAN) -> Anchor | None:
    """Record the chain's current head (None while the log is empty)."""
    current = head(session)
    return None if current is None else record(session, *current, at, source)


def newest(session: Session) -> Anchor | None:
    """The anchor with the highest event id (the latest recorded of those): the one the chain must still hold."""
    row = session.scalar(select(AuditAnchor).order_by(AuditAnchor.seq.desc(), AuditAnchor.id.desc()).limit(1))
    return None if row is None else Anchor(row.seq, row.hash, row.recorded_at, row.source)
