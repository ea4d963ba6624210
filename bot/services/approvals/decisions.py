"""Deciding a request exactly once: approvals counted to the number needed, a denial, the requester's cancel,
and expiry of requests left undecided (or approved keys never collected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.access import Access
from bot.clock import Clock
from bot.domain.outcomes import (
    AlreadyCounted,
    AlreadyDecided,
    Approval,
    Cancel,
    Cancelled,
    Counted,
    Denial,
    Denied,
    DenyRefusal,
    Executed,
    ExpiredBeforeClick,
    Missing,
    NotApprover,
    NotYours,
    OwnRequest,
)
from bot.domain.requests import Request, Status
from bot.services.approvals.execution import Execution
from bot.services.approvals.slack_sync import RequestSync
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore


@dataclass(kw_only=True, eq=False)
class Decisions:
    reveal_ttl: timedelta
    clock: Clock
    store: RequestStore
    access: Access
    sync: RequestSync
    execution: Execution

    def approve(self, request_id: str, approver: str) -> Approval:
        """Record an approval; the click that completes the count executes the request."""
        request = self.store.get(request_id)
        if request is None:
            return Missing(request_id)
        if approver == request.requester:
            self.store.audit.refused_on(request, approver, "approve", "own request")
            return OwnRequest(request)
        # Read live once per click: it decides this click and re-checks everyone counted before.
        approvers = self.access.approvers_of(request, [approver, *request.approvers])
        if approver not in approvers:
            self.store.audit.refused_on(request, approver, "approve", "not an approver")
            return NotApprover(request)
        outcome, request, dropped = self.store.approve(
            request_id, approver, approvers=approvers, reveal_ttl=self.reveal_ttl
        )
        assert request is not None
        if outcome == "expired":
            return self._expire_late(request)
        if outcome == "late":
            return AlreadyDecided(request)
        if outcome == "duplicate":
            if dropped:
                self.sync.sync(request)
            return AlreadyCounted(request, tuple(dropped))
        if outcome == "partial":
            self.sync.sync(request)
            return Counted(request, tuple(dropped))
        self.execution.run_approved(request)
        return Executed(request)

    def deny_refusal(self, request_id: str, approver: str) -> DenyRefusal | None:
        """Why this user may not deny this request now, or None when they may."""
        request = self.store.get(request_id)
        if request is None:
            return Missing(request_id)
        if approver == request.requester:
            self.store.audit.refused_on(request, approver, "deny", "own request")
            return OwnRequest(request)
        if approver not in self.access.approvers_of(request, [approver]):
            self.store.audit.refused_on(request, approver, "deny", "not an approver")
            return NotApprover(request)
        if request.status is not Status.PENDING:
            return AlreadyDecided(request)
        if request.expires_at <= self.clock():
            return self._expire_late(request)
        return None

    def deny(self, request_id: str, approver: str, reason: str) -> Denial:
        refusal = self.deny_refusal(request_id, approver)
        if refusal:
            return refusal
        denied = self.store.transition(
            request_id,
            Status.PENDING,
            Status.DENIED,
            actor=approver,
            action="denied",
            detail=reason,
            decided_by=approver,
            decided_at=self.clock(),
            deny_reason=reason,
        )
        if denied is None:
            late = self.store.get(request_id)
            return AlreadyDecided(late) if late else Missing(request_id)
        self.sync.sync(denied)
        return Denied(denied)

    def cancel(self, request_id: str, user_id: str) -> Cancel:
        """The requester's cancel of a pending request; anyone else's is refused (audited) as if it did not exist."""
        request = self.store.get(request_id)
        if request is not None and request.requester != user_id:
            self.store.audit.refused_on(request, user_id, "cancel", "not the requester")
        if request is None or request.requester != user_id:
            return NotYours(request_id)
        cancelled = self.store.transition(
            request_id, Status.PENDING, Status.CANCELLED, actor=user_id, action="cancelled"
        )
        if cancelled is None:
            return AlreadyDecided(self.store.get(request_id) or request)
        self.sync.sync(cancelled)
        return Cancelled(cancelled)

    def expire_due(self) -> int:
        """Expire pending requests past their time and approved keys never revealed."""
        count = 0
        for request in self.store.due_to_expire(self.clock(), self.reveal_ttl):
            expired = self.store.transition(
                request.id, {Status.PENDING, Status.APPROVED}, Status.EXPIRED, actor=SYSTEM, action="expired"
            )
            if expired is not None:
                count += 1
                self.sync.sync(expired)
        return count

    def _expire_late(self, request: Request) -> ExpiredBeforeClick:
        """A click on a pending request past its expiry (the sweep had not run yet): it expires now."""
        expired = self.store.transition(request.id, Status.PENDING, Status.EXPIRED, actor=SYSTEM, action="expired")
        if expired is not None:
            self.sync.sync(expired)
        return ExpiredBeforeClick(request)
