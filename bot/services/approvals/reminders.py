"""Approvers reminded of a request that waits: once after REMIND_APPROVERS_HOURS, escalated after
ESCALATE_AFTER_HOURS, and whenever the requester nudges (at most once an hour)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.access import Access
from bot.clock import Clock
from bot.domain.outcomes import AlreadyDecided, NotYours, Nudge, Nudged, NudgedRecently
from bot.domain.requests import Status
from bot.services.approvals.slack_sync import RequestSync
from bot.slack.messages.requests import build_pending_dm, build_reminder
from bot.slack.notifier import Notifier
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore


@dataclass(kw_only=True, eq=False)
class Reminders:
    remind_after: int  # hours: REMIND_APPROVERS_HOURS
    escalate_after: int  # hours: ESCALATE_AFTER_HOURS
    clock: Clock
    store: RequestStore
    access: Access
    notifier: Notifier
    sync: RequestSync

    def remind_due(self) -> int:
        """Remind a pending request's approvers once after REMIND_APPROVERS_HOURS, in the approval message's thread
        (and offer the requester a Nudge); after ESCALATE_AFTER_HOURS add the rule's escalate_to (or
        APPROVER_GROUP) and tell them. Each is stamped and audited in one transaction: never twice, never after a
        decision."""
        now = self.clock()
        remind = self.remind_after
        escalate = self.escalate_after
        count = 0
        for request in self.store.pending(now):
            waited = now - request.created_at
            if request.escalated_at is None and waited >= timedelta(hours=escalate):
                mentions = self.access.mentions_of(request, escalation=True)
                done = self.store.stamp_pending(
                    request.id, "escalated_at", actor=SYSTEM, action="escalated", detail=" ".join(mentions)
                )
                if done:
                    count += 1
                    self.sync.reply_in_thread(done, build_reminder(done, mentions, "escalated", escalate))
            elif request.reminded_at is None and request.escalated_at is None and waited >= timedelta(hours=remind):
                mentions = self.access.mentions_of(request)
                done = self.store.stamp_pending(
                    request.id, "reminded_at", actor=SYSTEM, action="reminded", detail=" ".join(mentions)
                )
                if done:
                    count += 1
                    self.sync.reply_in_thread(done, build_reminder(done, mentions, "reminded", remind))
                    posted = self.notifier.dm(done.requester, build_pending_dm(done, remind, self.sync.names))
                    if posted:
                        self.store.record_delivery(done.id, dm_channel=posted[0], dm_ts=posted[1])
        return count

    def nudge(self, request_id: str, user_id: str) -> Nudge:
        """The requester's Nudge: approvers reminded in the thread, at most once an hour, audited."""
        request = self.store.get(request_id)
        if request is None or request.requester != user_id:
            if request is not None:
                self.store.audit.refused_on(request, user_id, "nudge", "not the requester")
            return NotYours(request_id)
        if request.status is not Status.PENDING:
            return AlreadyDecided(request)
        hour_ago = self.clock() - timedelta(hours=1)
        mentions = self.access.mentions_of(request, escalation=False)
        if request.escalated_at is not None:
            mentions += [m for m in self.access.mentions_of(request, escalation=True) if m not in mentions]
        done = self.store.stamp_pending(
            request_id, "nudged_at", actor=user_id, action="nudged", not_since=hour_ago, requester=user_id
        )
        if done is None:
            current = self.store.get(request_id) or request
            if current.status is not Status.PENDING:
                return AlreadyDecided(current)
            last = current.nudged_at
            return NudgedRecently(current, last + timedelta(hours=1) if last else None)
        self.sync.reply_in_thread(done, build_reminder(done, mentions, "nudged", 0))
        return Nudged(done)
