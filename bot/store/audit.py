"""The append-only audit log, chained by hashes so that any change to it shows.

Events are inserted inside the callers' transactions, from several processes at once. To keep one
chain, a writer holds the chain's lock from reading the last hash until its transaction ends: on
PostgreSQL a transaction-level advisory lock, on SQLite the database's write lock (taken with a write
that changes nothing, so the read that follows sees every committed event). The unique index on
`prev_hash` turns a fork the locks missed into an error instead of a broken chain. Record events last
in a transaction: every other audit writer waits for it to end.

With the audit stream on, each event's body (docs/audit-events.md) goes into the outbox in the same
transaction; `events()` prints the same bodies for `python -m bot audit --json`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.audit_chain import FIELDS, GENESIS, Anchor, ChainCheck, ChainedEvent, chain_hash, check_chain
from bot.domain.audit_events import AuditRow, event_json, event_type
from bot.domain.requests import Request
from bot.store import audit_anchors
from bot.store.db import Database
from bot.store.models import AuditEvent, AuditOutbox, KeyRequest

SYSTEM = "keywarden"  # the actor of what the bot does on its own
CHAIN_LOCK = 0x6B770A0D  # an arbitrary constant, apart from the migration and scheduler locks


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
        event = AuditEvent(
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
        _lock_chain(session)
        event.prev_hash = session.scalar(select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
        event.row_hash = chain_hash(event.prev_hash, {name: getattr(event, name) for name in FIELDS})
        session.add(event)
        session.flush()  # a second event in this transaction chains onto this one
        if self._stream:
            self._to_outbox(session, event)

    @staticmethod
    def _to_outbox(session: Session, row: AuditEvent) -> None:
        """The event's body, in the same transaction: it is delivered exactly when the change is committed."""
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

    def refused_on(self, request: Request, actor: str, attempted: str, why: str) -> None:
        """A refused attempt on a request, naming the request and its key."""
        self.refused(
            actor,
            attempted,
            why,
            request_id=request.id,
            account=request.account,
            iam_user=request.iam_user,
            key_id=request.key_id,
        )

    def recent(self, subject: str | None = None, limit: int = 20) -> list[AuditRow]:
        query = _with_operation().order_by(AuditEvent.id.desc()).limit(limit)
        if subject:
            query = query.where(
                or_(AuditEvent.iam_user == subject, AuditEvent.key_id == subject, AuditEvent.request_id == subject)
            )
        with self._db.session() as session:
            return [_audit_row(row, operation) for row, operation in session.execute(query)]

    def on_key_since_approval(self, request: Request) -> list[AuditRow]:
        """The audit rows on `request`'s key recorded after the request was approved, oldest first: ordered by
        the chain (commit order), so clocks of other processes do not matter."""
        if request.key_id is None:
            return []
        approved_at = request.decided_at or request.created_at  # approved when filed: break-glass, a policy
        query = _with_operation().where(AuditEvent.account == request.account, AuditEvent.key_id == request.key_id)
        with self._db.session() as session:
            anchor = session.scalar(
                select(func.min(AuditEvent.id)).where(AuditEvent.request_id == request.id, AuditEvent.at >= approved_at)
            )
            query = query.where(AuditEvent.id > anchor if anchor is not None else AuditEvent.at >= approved_at)
            return [_audit_row(row, op) for row, op in session.execute(query.order_by(AuditEvent.id))]

    def all(self) -> list[AuditRow]:
        with self._db.session() as session:
            return [_audit_row(row, op) for row, op in session.execute(_with_operation().order_by(AuditEvent.id))]

    def events(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[str]:
        """Every event from `since` (inclusive) to `until` (exclusive) as a JSON line, the stream's schema."""
        query = _with_operation()
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        with self._db.session() as session:
            for row, operation in session.execute(query.order_by(AuditEvent.id).execution_options(yield_per=500)):
                yield event_json(_audit_row(row, operation))

    def verify(self) -> ChainCheck:
        """Check the whole chain, oldest first; names the first event that is not as it was written, or
        the newest head recorded outside the table (bot/store/audit_anchors.py) that the chain lost."""
        with self._db.session() as session:
            return check_chain(_chained(session), audit_anchors.newest(session))

    def anchor_head(self, source: str = audit_anchors.SCAN, at: datetime | None = None) -> Anchor | None:
        """Record the chain's current head outside the audit table (None while the log is empty)."""
        with self._db.session() as session:
            return audit_anchors.record_head(session, at or self._clock(), source)

    def heads(self) -> tuple[tuple[int, str] | None, Anchor | None]:
        """(the chain's head now, the newest head recorded outside it), for /metrics and /healthz."""
        with self._db.session() as session:
            return audit_anchors.head(session), audit_anchors.newest(session)


def _chained(session: Session, page: int = 1000) -> Iterator[ChainedEvent]:
    """Every event in id order, a page at a time (no cursor stays open across pages)."""
    columns = [getattr(AuditEvent, name) for name in FIELDS]
    last = None
    while True:
        query = select(AuditEvent.id, AuditEvent.prev_hash, AuditEvent.row_hash, *columns).order_by(AuditEvent.id)
        if last is not None:
            query = query.where(AuditEvent.id > last)
        rows = session.execute(query.limit(page)).all()
        for row in rows:
            yield ChainedEvent(row[0], row[1], row[2], dict(zip(FIELDS, row[3:], strict=True)))
        if len(rows) < page:
            return
        last = rows[-1][0]


def _lock_chain(session: Session) -> None:
    """Hold the chain until this transaction ends, so that no other writer reads the same last hash."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK)))
    elif dialect == "sqlite":
        # Any write takes SQLite's one write lock for the rest of the transaction; this one changes nothing.
        session.execute(text("UPDATE audit_events SET id = id WHERE 0"))


def _with_operation() -> Select[AuditEvent, str | None]:
    """Audit rows, each with the operation of its request (when it has one)."""
    return select(AuditEvent, KeyRequest.operation).outerjoin(KeyRequest, KeyRequest.id == AuditEvent.request_id)


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
        row.row_hash,
        row.prev_hash,
    )
