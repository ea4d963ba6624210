"""A request's Slack messages: the approval message, the requester's DM and replies in the approval thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain.delivery import SecretLocation
from bot.domain.requests import Request, Status, outcome_needs_new_dm
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message
from bot.slack.messages.requests import build_approval_message
from bot.slack.notifier import Notifier
from bot.store.requests import RequestStore

# The requester's DM about a request, saying how its key is delivered (`secret`: where it was stored): the
# builder itself, or secrets_manager.StoredSecretDm with SECRET_DELIVERY=secretsmanager (bot/bootstrap/factories.py).
RequesterDm = Callable[[Request, SecretLocation | None], Message]


@dataclass(kw_only=True, eq=False)
class RequestSync:
    approval_channel: str | None
    clock: Clock
    store: RequestStore
    notifier: Notifier
    requester_dm: RequesterDm
    on_change: Callable[..., None]  # (Slack user ids) whose App Home to refresh
    reveal: bool = True  # False: keys go to Secrets Manager, and no message speaks of a Reveal
    names: AccountNames = SEVERAL_ACCOUNTS  # users named `ci`, or `prod:ci` with several accounts

    def sync(self, request: Request, secret: SecretLocation | None = None) -> None:
        """Bring the approval message and the requester's DM up to date; remember success."""
        ok = True
        message = build_approval_message(request, reveal=self.reveal, names=self.names)
        if request.channel and request.message_ts:
            ok = self.notifier.update(request.channel, request.message_ts, message)
        elif self.approval_channel:
            posted = self.notifier.post(self.approval_channel, message)
            if posted:
                self.store.record_delivery(request.id, channel=posted[0], message_ts=posted[1])
            ok = posted is not None
        if request.notified_status != request.status.value and request.status is not Status.PENDING:
            ok = self.notify_requester(request, secret) and ok
        if ok:
            self.store.record_delivery(request.id, notified_status=request.status.value)
        self.on_change(request.requester, *request.approvers, *([request.decided_by] if request.decided_by else []))

    def notify_requester(self, request: Request, secret: SecretLocation | None = None) -> bool:
        """Update the request's DM in place; a new DM only for a first word, or an outcome after a long wait."""
        dm = self.requester_dm(request, secret)
        new = outcome_needs_new_dm(request.status, request.decided_at, request.claimed_at, self.clock())
        if request.dm_channel and request.dm_ts and not new:
            return self.notifier.update(request.dm_channel, request.dm_ts, dm)
        posted = self.notifier.dm(request.requester, dm)
        if posted:
            self.store.record_delivery(request.id, dm_channel=posted[0], dm_ts=posted[1])
        return posted is not None

    def reply_in_thread(self, request: Request, message: Message) -> None:
        """A reply under the request's approval message (a reminder, an escalation, a nudge)."""
        channel = request.channel or self.approval_channel
        if channel:
            self.notifier.post(channel, message, thread_ts=request.message_ts)
