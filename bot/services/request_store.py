"""Requests in the database. Every status change is one conditional UPDATE, audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Approval, Database, KeyRequest
from bot.domain.requests import FINAL, MAKES_KEY, OPEN, Operation, Status, check_transition, new_request_id
from bot.services.audit import AuditLog


@dataclass(frozen=True)
class Request:
    """A plain snapshot of a request row."""

    id: str
    operation: Operation
    account: str
    iam_user: str
    key_id: str | None
    requester: str
    reason: str
    status: Status
    approvals_needed: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    deny_reason: str | None
    channel: str | None
    message_ts: str | None
    dm_channel: str | None
    dm_ts: str | None
    claimed_at: datetime | None
    reveal_expires_at: datetime | None
    new_key_id: str | None
    result: str | None
    details: str
    owner_ok: bool
    notified_status: str | None
    approvers: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return f"{self.account}:{self.iam_user}" + (f" {self.key_id}" if self.key_id else "")


_COLUMNS = [f.name for f in fields(Request) if f.name != "approvers"]


class DuplicateRequest(Exception):
    def __init__(self, existing: str) -> None:
        super().__init__(existing)
        self.existing = existing


def open_target(operation: Operation, account: str, user: str, key_id: str | None) -> str:
    """What may have only one open request: a key, or a user for requests that make a key."""
    if key_id and operation not in MAKES_KEY:
        return f"key:{account}:{key_id}"
    return f"user:{account}:{user}"


class RequestStore:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def add(
        self,
        *,
        operation: Operation,
        account: str,
        iam_user: str,
        key_id: str | None,
        requester: str,
        reason: str,
        approvals_needed: int,
        expires_at: datetime,
        details: str,
        owner_ok: bool,
        status: Status = Status.PENDING,
        action: str = "requested",
    ) -> Request:
        """Store a new request; DuplicateRequest when one is already open for the same target."""
        now = self._clock()
        target = open_target(operation, account, iam_user, key_id)
        for _ in range(5):  # a fresh id on the (rare) id collision
            row = KeyRequest(
                id=new_request_id(),
                operation=operation.value,
                account=account,
                iam_user=iam_user,
                key_id=key_id,
                requester=requester,
                reason=reason,
                status=status.value,
                open_target=target,
                approvals_needed=approvals_needed,
                created_at=now,
                updated_at=now,
                expires_at=expires_at,
                details=details,
                owner_ok=owner_ok,
            )
            try:
                with self._db.session() as session:
                    session.add(row)
                    session.flush()
                    self._record(session, requester, action, row, detail=reason)
                return _snapshot(row, ())
            except IntegrityError:
                existing = self.find_open(target)
                if existing is not None:
                    raise DuplicateRequest(existing.id) from None
        raise RuntimeError("could not allocate a request id")

    def get(self, request_id: str) -> Request | None:
        with self._db.session() as session:
            row = session.get(KeyRequest, request_id)
            return _snapshot(row, self._approvers(session, request_id)) if row else None

    def find_open(self, target: str) -> Request | None:
        with self._db.session() as session:
            row = session.scalar(select(KeyRequest).where(KeyRequest.open_target == target))
            return _snapshot(row, ()) if row else None

    def transition(
        self,
        request_id: str,
        expected: Status | Iterable[Status],
        new: Status,
        *,
        actor: str,
        action: str,
        outcome: str = "ok",
        detail: str = "",
        **values: Any,
    ) -> Request | None:
        """Move a request from one of `expected` to `new` atomically; None when it was not in `expected`."""
        expected = {expected} if isinstance(expected, Status) else set(expected)
        for status in expected:
            check_transition(status, new)
        values |= {"status": new.value, "updated_at": self._clock()}
        if new in FINAL:
            values["open_target"] = None
        with self._db.session() as session:
            won = session.execute(
                update(KeyRequest)
                .where(KeyRequest.id == request_id, KeyRequest.status.in_([s.value for s in expected]))
                .values(**values)
                .returning(KeyRequest.id)
            ).first()
            if won is None:
                return None
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            self._record(session, actor, action, row, outcome=outcome, detail=detail)
            return _snapshot(row, self._approvers(session, request_id))

    def approve(self, request_id: str, approver: str) -> tuple[str, Request | None]:
        """Count one approval. Returns ("approved" | "partial" | "duplicate" | "late" | "missing", request).

        The first UPDATE locks the pending row (PostgreSQL row lock, SQLite write lock), so concurrent
        approvals are counted one after another and exactly one of them makes the request approved.
        """
        now = self._clock()
        with self._db.session() as session:
            locked = session.execute(
                update(KeyRequest)
                .where(KeyRequest.id == request_id, KeyRequest.status == Status.PENDING.value)
                .values(updated_at=now)
                .returning(KeyRequest.id)
            ).first()
            row = session.get(KeyRequest, request_id, populate_existing=True)
            if row is None:
                return "missing", None
            if locked is None:
                return "late", _snapshot(row, self._approvers(session, request_id))
            if session.get(Approval, (request_id, approver)) is not None:
                return "duplicate", _snapshot(row, self._approvers(session, request_id))
            session.add(Approval(request_id=request_id, approver=approver, at=now))
            session.flush()
            count = session.scalar(select(func.count()).select_from(Approval).where(Approval.request_id == request_id))
            self._record(session, approver, "approval", row, detail=f"{count} of {row.approvals_needed}")
            if count >= row.approvals_needed:
                check_transition(Status.PENDING, Status.APPROVED)
                row.status, row.decided_by, row.decided_at = Status.APPROVED.value, approver, now
                self._record(session, approver, "approved", row)
                session.flush()
                return "approved", _snapshot(row, self._approvers(session, request_id))
            return "partial", _snapshot(row, self._approvers(session, request_id))

    def set(self, request_id: str, **values: Any) -> None:
        """Record delivery facts (message ts, notified status); never the status itself."""
        assert "status" not in values
        with self._db.session() as session:
            session.execute(update(KeyRequest).where(KeyRequest.id == request_id).values(**values))

    def open_for(self, requester: str) -> list[Request]:
        return self._select(
            select(KeyRequest)
            .where(KeyRequest.requester == requester, KeyRequest.status.in_([s.value for s in OPEN]))
            .order_by(KeyRequest.created_at)
        )

    def due_to_expire(self, now: datetime) -> list[Request]:
        pending = (KeyRequest.status == Status.PENDING.value) & (KeyRequest.expires_at <= now)
        unrevealed = (KeyRequest.status == Status.APPROVED.value) & (KeyRequest.reveal_expires_at <= now)
        return self._select(select(KeyRequest).where(pending | unrevealed))

    def stuck(self, before: datetime) -> list[Request]:
        return self._select(
            select(KeyRequest).where(KeyRequest.status == Status.EXECUTING.value, KeyRequest.updated_at <= before)
        )

    def unsynced(self, before: datetime) -> list[Request]:
        """Requests whose Slack messages do not yet show their status."""
        return self._select(
            select(KeyRequest).where(
                (KeyRequest.notified_status.is_(None)) | (KeyRequest.notified_status != KeyRequest.status),
                KeyRequest.status != Status.EXECUTING.value,
                KeyRequest.updated_at <= before,
            )
        )

    def _select(self, query: Any) -> list[Request]:
        with self._db.session() as session:
            return [_snapshot(r, self._approvers(session, r.id)) for r in session.scalars(query)]

    @staticmethod
    def _approvers(session: Session, request_id: str) -> tuple[str, ...]:
        return tuple(
            session.scalars(select(Approval.approver).where(Approval.request_id == request_id).order_by(Approval.at))
        )

    def note(self, request_id: str, actor: str, action: str, outcome: str = "ok", detail: str = "") -> None:
        """Audit something about a request that changes nothing in it (a refusal, a policy's approval)."""
        with self._db.session() as session:
            row = session.get(KeyRequest, request_id)
            if row is not None:
                self._record(session, actor, action, row, outcome=outcome, detail=detail)

    def _record(self, session: Session, actor: str, action: str, row: KeyRequest, **kw: str) -> None:
        self._audit.record(
            session,
            actor,
            action,
            request_id=row.id,
            account=row.account,
            iam_user=row.iam_user,
            key_id=row.key_id or row.new_key_id,
            **kw,
        )


def _snapshot(row: KeyRequest, approvers: tuple[str, ...]) -> Request:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["operation"] = Operation(values["operation"])
    values["status"] = Status(values["status"])
    return Request(**values, approvers=approvers)
