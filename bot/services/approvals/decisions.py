"""Deciding a request exactly once: approvals counted to the number needed, a denial, the requester's cancel,
and expiry of requests left undecided (or approved keys never collected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.access import Access
from bot.clock import Clock
from bot.domain.requests import OPEN, Request, Status
from bot.services.approvals.execution import Execution
from bot.services.approvals.slack_sync import RequestSync
from bot.slack.messages.common import when
from bot.slack.messages.request_states import STATUS_WORDS, where_it_stands
from bot.slack.messages.requests import who
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

    def approve(self, request_id: str, approver: str) -> str | None:
        """Record an approval; the click that completes the count executes the request. Returns a reply."""
        request = self.store.get(request_id)
        if request is None:
            return f"Request {request_id} does not exist (any more)."
        if approver == request.requester:
            self.store.audit.refused_on(request, approver, "approve", "own request")
            return "You cannot approve your own request: another approver must decide."
        # Read live once per click: it decides this click and re-checks everyone counted before.
        approvers = self.access.approvers_of(request, [approver, *request.approvers])
        if approver not in approvers:
            self.store.audit.refused_on(request, approver, "approve", "not an approver")
            return "Only approvers can approve requests. Nothing was changed."
        outcome, request, dropped = self.store.approve(
            request_id, approver, approvers=approvers, reveal_ttl=self.reveal_ttl
        )
        assert request is not None
        if outcome == "expired":
            return self._expire_late(request)
        if outcome == "late":
            return _late(request)
        withdrawn = ""
        if dropped:
            names = ", ".join(who(a) for a in dropped)
            one = len(dropped) == 1
            withdrawn = (
                f" {names} {'is no longer an approver' if one else 'are no longer approvers'}, so "
                f"{'that approval no longer counts' if one else 'those approvals no longer count'}."
            )
        if outcome == "duplicate":
            if dropped:
                self.sync.sync(request)
            return (
                f"You already approved {request_id}; it needs another approver ({len(request.approvers)} of "
                f"{request.approvals_needed}).{withdrawn}"
            )
        if outcome == "partial":
            self.sync.sync(request)
            more = " It stays pending until another approver approves." if dropped else ""
            return (
                f"Approval recorded: {len(request.approvers)} of {request.approvals_needed} for {request_id}."
                f"{withdrawn}{more}"
            )
        self.execution.run_approved(request)
        return None

    def deny_refusal(self, request_id: str, approver: str) -> str | None:
        """Why this user may not deny this request now, or None when they may."""
        request = self.store.get(request_id)
        if request is None:
            return f"Request {request_id} does not exist (any more)."
        if approver == request.requester:
            self.store.audit.refused_on(request, approver, "deny", "own request")
            return f"You cannot decide your own request; `cancel {request_id}` withdraws it."
        if approver not in self.access.approvers_of(request, [approver]):
            self.store.audit.refused_on(request, approver, "deny", "not an approver")
            return "Only approvers can deny requests. Nothing was changed."
        if request.status is not Status.PENDING:
            return _late(request)
        if request.expires_at <= self.clock():
            return self._expire_late(request)
        return None

    def deny(self, request_id: str, approver: str, reason: str) -> str | None:
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
            return _late(late) if late else f"Request {request_id} does not exist (any more)."
        self.sync.sync(denied)
        return None

    def cancel(self, request_id: str, user_id: str) -> str:
        request = self.store.get(request_id)
        if request is not None and request.requester != user_id:
            self.store.audit.refused_on(request, user_id, "cancel", "not the requester")
        if request is None or request.requester != user_id:
            return f"You have no request {request_id}. `requests` lists yours."
        cancelled = self.store.transition(
            request_id, Status.PENDING, Status.CANCELLED, actor=user_id, action="cancelled"
        )
        if cancelled is None:
            current = self.store.get(request_id) or request
            return f"{where_it_stands(current, user_id)}: it can no longer be cancelled."
        self.sync.sync(cancelled)
        return f"Request {request_id} is cancelled."

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

    def _expire_late(self, request: Request) -> str:
        """A click on a pending request past its expiry (the sweep had not run yet): it expires now."""
        expired = self.store.transition(request.id, Status.PENDING, Status.EXPIRED, actor=SYSTEM, action="expired")
        if expired is not None:
            self.sync.sync(expired)
        return (
            f"{request.id} expired at {when(request.expires_at)}, before this click; nothing was "
            "changed. The requester can file it again."
        )


def _late(request: Request) -> str:
    """A click on a request decided already: who decided it and when (in the reader's time zone), and where it is."""
    if request.status in OPEN - {Status.PENDING} or (
        request.status in (Status.SUCCEEDED, Status.FAILED) and request.decided_by
    ):
        by = f" by {who(request.decided_by)}" if request.decided_by else ""
        then = "" if request.status in OPEN else f"; it is {STATUS_WORDS[request.status]}"
        return f"{request.id} was already approved{by} at {when(request.decided_at)}{then}."
    return f"Already decided: {where_it_stands(request)}."
