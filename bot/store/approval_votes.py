"""Approvals of a pending request: each click counted once, in one transaction, and the one that completes
the count approves it. Approvals of people who are no longer approvers are withdrawn."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.domain.operations import Operation
from bot.domain.requests import MAKES_KEY, Request, Status, check_transition
from bot.store.audit import SYSTEM
from bot.store.models import Approval, KeyRequest
from bot.store.request_rows import RequestRows, snapshot


class ApprovalOutcome(NamedTuple):
    """What one approval click did: "approved" | "partial" | "duplicate" | "late" | "expired" | "missing"."""

    outcome: str
    request: Request | None
    dropped: tuple[str, ...] = ()  # earlier approvers who no longer count (no longer approvers)


class ApprovalVotes(RequestRows):
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
                return ApprovalOutcome(outcome, snapshot(row, self._approvers(session, request_id)))
            dropped = self._withdraw(session, row, approvers) if approvers is not None else ()
            if session.get(Approval, (request_id, approver)) is not None:
                return ApprovalOutcome("duplicate", snapshot(row, self._approvers(session, request_id)), dropped)
            session.add(Approval(request_id=request_id, approver=approver, at=now))
            session.flush()
            count = session.execute(
                select(func.count()).select_from(Approval).where(Approval.request_id == request_id)
            ).scalar_one()
            self._record(session, approver, "approval", row, detail=f"{count} of {row.approvals_needed}")
            if count >= row.approvals_needed:
                check_transition(Status.PENDING, Status.APPROVED)
                row.status, row.decided_by, row.decided_at = Status.APPROVED.value, approver, now
                if reveal_ttl is not None and Operation(row.operation) in MAKES_KEY:
                    row.reveal_expires_at = now + reveal_ttl
                self._record(session, approver, "approved", row)
                session.flush()
                return ApprovalOutcome("approved", snapshot(row, self._approvers(session, request_id)), dropped)
            return ApprovalOutcome("partial", snapshot(row, self._approvers(session, request_id)), dropped)

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
