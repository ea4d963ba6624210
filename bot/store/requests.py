"""Requests in the database. Every status change is one conditional UPDATE, audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.requests import FINAL, MAKES_KEY, OPEN, Operation, Request, Status, check_transition, new_request_id
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.models import Approval, KeyRequest

_COLUMNS = [f.name for f in fields(Request) if f.name != "approvers"]


class ApprovalOutcome(NamedTuple):
    """What one approval click did: "approved" | "partial" | "duplicate" | "late" | "expired" | "missing"."""

    outcome: str
    request: Request | None
    dropped: tuple[str, ...] = ()  # earlier approvers who no longer count (no longer approvers)


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

    @property
    def audit(self) -> AuditLog:
        return self._audit

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
        policy_rule: str | None = None,
        policy: str | None = None,
    ) -> Request:
        """Store a new request; DuplicateRequest when one is already open for the same target."""
        fields = {
            "operation": operation,
            "account": account,
            "iam_user": iam_user,
            "key_id": key_id,
            "requester": requester,
            "reason": reason,
            "approvals_needed": approvals_needed,
            "expires_at": expires_at,
            "details": details,
            "owner_ok": owner_ok,
            "status": status,
            "action": action,
            "policy_rule": policy_rule,
            "policy": policy,
        }
        request, _ = self._add(fields, supersede=False)
        return request

    def add_break_glass(self, **fields: Any) -> tuple[Request, list[Request]]:
        """Store a break-glass request (approved at once, `add`'s fields) and, in the same transaction, cancel
        every pending or approved request on its key: a suspected compromise does not wait behind them.
        Returns the new request and the superseded ones (their messages need updating)."""
        return self._add(fields, supersede=True)

    def _add(self, fields: dict[str, Any], *, supersede: bool) -> tuple[Request, list[Request]]:
        operation, account, iam_user, key_id = (fields[k] for k in ("operation", "account", "iam_user", "key_id"))
        requester, reason, status = fields["requester"], fields["reason"], fields["status"]
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
                approvals_needed=fields["approvals_needed"],
                created_at=now,
                updated_at=now,
                expires_at=fields["expires_at"],
                details=fields["details"],
                owner_ok=fields["owner_ok"],
                policy_rule=fields.get("policy_rule"),
                policy=fields.get("policy"),
            )
            try:
                with self._db.session() as session:
                    superseded = self._supersede(session, row, now) if supersede else []
                    if supersede and session.scalar(select(KeyRequest.id).where(KeyRequest.open_target == target)):
                        row.open_target = None  # a request on this key is running right now; this one acts anyway
                    session.add(row)
                    session.flush()
                    self._record(session, requester, fields["action"], row, detail=reason)
                return _snapshot(row, ()), superseded
            except IntegrityError:
                existing = self.find_open(target)
                if existing is not None and not supersede:
                    raise DuplicateRequest(existing.id) from None
        raise RuntimeError("could not allocate a request id")

    def _supersede(self, session: Session, new: KeyRequest, now: datetime) -> list[Request]:
        """Cancel the pending or approved requests on `new`'s key (not those already running)."""
        why = f"superseded by break-glass {new.id}"
        waiting = [Status.PENDING.value, Status.APPROVED.value]
        ids = session.scalars(
            select(KeyRequest.id).where(
                KeyRequest.account == new.account, KeyRequest.key_id == new.key_id, KeyRequest.status.in_(waiting)
            )
        ).all()
        superseded = []
        check_transition(Status.PENDING, Status.CANCELLED)
        check_transition(Status.APPROVED, Status.CANCELLED)
        for request_id in ids:
            won = session.execute(
                update(KeyRequest)
                .where(KeyRequest.id == request_id, KeyRequest.status.in_(waiting))
                .values(
                    status=Status.CANCELLED.value,
                    open_target=None,
                    updated_at=now,
                    decided_by=new.requester,
                    decided_at=now,
                    result=why,
                )
                .returning(KeyRequest.id)
            ).first()
            if won is None:
                continue
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            self._record(session, new.requester, "superseded", row, outcome="cancelled", detail=why)
            superseded.append(_snapshot(row, self._approvers(session, request_id)))
        return superseded

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

    def approve(
        self,
        request_id: str,
        approver: str,
        *,
        approvers: frozenset[str] | None = None,
        reveal_ttl: timedelta | None = None,
    ) -> ApprovalOutcome:
        """Count one approval, in one transaction.

        The first UPDATE locks the row while it is pending and not yet expired (PostgreSQL row lock, SQLite
        write lock), so concurrent approvals are counted one after another and exactly one of them makes the
        request approved. `approvers`, when given, is everyone who may approve right now (read live just
        before): earlier approvals by anyone else no longer count and are withdrawn. The approval that
        completes the count also writes the Reveal deadline (`reveal_ttl`) of a request that makes a key.
        """
        now = self._clock()
        with self._db.session() as session:
            locked = session.execute(
                update(KeyRequest)
                .where(
                    KeyRequest.id == request_id,
                    KeyRequest.status == Status.PENDING.value,
                    KeyRequest.expires_at > now,
                )
                .values(updated_at=now)
                .returning(KeyRequest.id)
            ).first()
            row = session.get(KeyRequest, request_id, populate_existing=True)
            if row is None:
                return ApprovalOutcome("missing", None)
            if locked is None:
                outcome = "expired" if row.status == Status.PENDING.value else "late"  # pending, yet past its expiry
                return ApprovalOutcome(outcome, _snapshot(row, self._approvers(session, request_id)))
            dropped = self._withdraw(session, row, approvers) if approvers is not None else ()
            if session.get(Approval, (request_id, approver)) is not None:
                return ApprovalOutcome("duplicate", _snapshot(row, self._approvers(session, request_id)), dropped)
            session.add(Approval(request_id=request_id, approver=approver, at=now))
            session.flush()
            count = session.scalar(select(func.count()).select_from(Approval).where(Approval.request_id == request_id))
            self._record(session, approver, "approval", row, detail=f"{count} of {row.approvals_needed}")
            if count >= row.approvals_needed:
                check_transition(Status.PENDING, Status.APPROVED)
                row.status, row.decided_by, row.decided_at = Status.APPROVED.value, approver, now
                if reveal_ttl is not None and Operation(row.operation) in MAKES_KEY:
                    row.reveal_expires_at = now + reveal_ttl
                self._record(session, approver, "approved", row)
                session.flush()
                return ApprovalOutcome("approved", _snapshot(row, self._approvers(session, request_id)), dropped)
            return ApprovalOutcome("partial", _snapshot(row, self._approvers(session, request_id)), dropped)

    def _withdraw(self, session: Session, row: KeyRequest, approvers: frozenset[str]) -> tuple[str, ...]:
        """Withdraw the approvals of people who are no longer approvers; they no longer count."""
        gone = tuple(a for a in self._approvers(session, row.id) if a not in approvers)
        for approver in gone:
            session.execute(delete(Approval).where(Approval.request_id == row.id, Approval.approver == approver))
            self._record(
                session,
                SYSTEM,
                "approval_withdrawn",
                row,
                outcome="withdrawn",
                detail=f"{approver} is no longer an approver; their approval no longer counts",
            )
        return gone

    def set(self, request_id: str, **values: Any) -> None:
        """Record delivery facts (message ts, notified status); never the status itself."""
        assert "status" not in values
        with self._db.session() as session:
            session.execute(update(KeyRequest).where(KeyRequest.id == request_id).values(**values))

    def pending(self, now: datetime) -> list[Request]:
        """Pending requests not yet expired, oldest first."""
        return self._select(
            select(KeyRequest)
            .where(KeyRequest.status == Status.PENDING.value, KeyRequest.expires_at > now)
            .order_by(KeyRequest.created_at)
        )

    def stamp_pending(
        self,
        request_id: str,
        column: str,
        *,
        actor: str,
        action: str,
        detail: str = "",
        not_since: datetime | None = None,
        requester: str | None = None,
    ) -> Request | None:
        """Set `column` (reminded_at, escalated_at, nudged_at) to now on a pending request, once: only when it is
        unset (or, with `not_since`, older than it), in one transaction with its audit event; None otherwise."""
        now = self._clock()
        stamp = getattr(KeyRequest, column)
        when = stamp.is_(None) if not_since is None else (stamp.is_(None) | (stamp <= not_since))
        query = update(KeyRequest).where(
            KeyRequest.id == request_id, KeyRequest.status == Status.PENDING.value, KeyRequest.expires_at > now, when
        )
        if requester is not None:
            query = query.where(KeyRequest.requester == requester)
        with self._db.session() as session:
            if session.execute(query.values({column: now}).returning(KeyRequest.id)).first() is None:
                return None
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            self._record(session, actor, action, row, detail=detail)
            return _snapshot(row, self._approvers(session, request_id))

    def open_for(self, requester: str) -> list[Request]:
        return self._select(
            select(KeyRequest)
            .where(KeyRequest.requester == requester, KeyRequest.status.in_([s.value for s in OPEN]))
            .order_by(KeyRequest.created_at)
        )

    def due_to_expire(self, now: datetime, reveal_ttl: timedelta | None = None) -> list[Request]:
        """Pending requests past their expiry, and approved keys not revealed by their deadline. A key approved
        without a deadline (written by an older version, or lost in a crash) gets `reveal_ttl` from its decision."""
        pending = (KeyRequest.status == Status.PENDING.value) & (KeyRequest.expires_at <= now)
        unrevealed = (KeyRequest.status == Status.APPROVED.value) & (KeyRequest.reveal_expires_at <= now)
        if reveal_ttl is not None:
            decided = func.coalesce(KeyRequest.decided_at, KeyRequest.updated_at)
            unrevealed |= (
                (KeyRequest.status == Status.APPROVED.value)
                & KeyRequest.operation.in_([o.value for o in MAKES_KEY])
                & KeyRequest.reveal_expires_at.is_(None)
                & (decided <= now - reveal_ttl)
            )
        return self._select(select(KeyRequest).where(pending | unrevealed))

    def stale_approved(self, before: datetime, key_making: bool = False) -> list[Request]:
        """Approved before `before` and never run (a crash): requests that run without a Reveal, and with
        `key_making` also those that make a key (delivered without a Reveal, to Secrets Manager)."""
        query = select(KeyRequest).where(KeyRequest.status == Status.APPROVED.value, KeyRequest.updated_at <= before)
        if not key_making:
            query = query.where(KeyRequest.operation.not_in([o.value for o in MAKES_KEY]))
        return self._select(query)

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
