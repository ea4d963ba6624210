"""Reveal delivery: the requester's Reveal creates the key and shows its secret once, in a Slack window."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.aws import AccountClient, AwsError, AwsGateway, AwsUnavailable
from bot.clock import Clock
from bot.domain.outcomes import (
    AlreadyDecided,
    AlreadyRevealed,
    AlreadyRevealing,
    NotShown,
    Reveal,
    RevealExpired,
    RevealRefusal,
    Shown,
    WindowNotOpened,
)
from bot.domain.requests import MAKES_KEY, Request, Status
from bot.services.approvals.delivery import create_key, hand_back_interrupted, requester_of, start_rotation
from bot.services.approvals.execution import aws_failure, fail
from bot.services.approvals.slack_sync import RequestSync
from bot.services.rotations import RotationService
from bot.services.trouble import logged
from bot.slack.messages.request_replies import secret_not_shown
from bot.slack.messages.requests import (
    build_error_modal,
    build_requester_dm,
    build_secret_loading_modal,
    build_secret_modal,
    who,
)
from bot.slack.messages.trouble import reveal_unsettled
from bot.slack.notifier import Notifier
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class RevealDelivery:
    """SECRET_DELIVERY=reveal: an approved key waits for its requester's Reveal until REVEAL_TTL_HOURS."""

    unattended = False

    reveal_ttl: timedelta
    clock: Clock
    store: RequestStore
    aws: AwsGateway
    notifier: Notifier
    sync: RequestSync
    rotations: RotationService  # a revealed rotation hands its new key over to it

    def hand_over(self, request: Request) -> None:
        """The requester's DM offers the Reveal."""
        self.sync.sync(request)

    def settle_interrupted(self, request: Request) -> None:
        released = hand_back_interrupted(self.store, self.clock, self.aws.account(request.account), request)
        if released:
            self.notifier.dm(request.requester, build_requester_dm(released, names=self.sync.names))

    def reveal_refusal(self, request_id: str, user_id: str) -> RevealRefusal | None:
        request = requester_of(self.store, request_id, user_id)
        if not isinstance(request, Request):
            return request
        if request.status is not Status.APPROVED or request.operation not in MAKES_KEY:
            if request.status is Status.SUCCEEDED:
                return AlreadyRevealed(request)
            return AlreadyDecided(request)
        if self.clock() >= self._reveal_deadline(request):
            return RevealExpired(request)
        return None

    def reveal(self, request_id: str, user_id: str, trigger_id: str = "", view_id: str | None = None) -> Reveal:
        """Create the key and show its secret in a modal, once: in `view_id` when the caller has opened the
        window already (within Slack's 3 s of the click), else in one opened here. Shown when the window showed
        the secret (or what went wrong); otherwise why nothing was shown."""
        refusal = self.reveal_refusal(request_id, user_id)
        if refusal:
            return refusal
        claimed = self.store.transition(
            request_id,
            Status.APPROVED,
            Status.EXECUTING,
            actor=user_id,
            action="reveal_started",
            claimed_at=self.clock(),
        )
        if claimed is None:
            return AlreadyRevealing(request_id)
        view_id = view_id or self.notifier.open_view(trigger_id, build_secret_loading_modal())
        if view_id is None:
            self._release(claimed, user_id, "the window could not be opened; no key was created")
            return WindowNotOpened(request_id)
        client = self.aws.account(claimed.account)
        try:
            key, first = create_key(client, claimed)
        except AwsUnavailable as e:
            # The key may exist though nobody saw its secret: settle it from what AWS shows.
            reference = logged(e, f"{request_id}: making the key", log)
            self.notifier.update_view(
                view_id, build_error_modal(reveal_unsettled(self.sync.names.account(e.account), reference))
            )
            try:
                self.settle_interrupted(claimed)
            except AwsError:
                log.warning("%s: left for reconciliation after %s", request_id, e.message)
            return Shown(request_id)
        except AwsError as e:
            words, detail = aws_failure(claimed, e, self.sync.names)
            failed = fail(self.store, claimed, words, detail)
            self.notifier.update_view(view_id, build_error_modal(words))
            if failed:
                self.sync.sync(failed)
            return Shown(request_id)
        if not self.notifier.update_view(
            view_id, build_secret_modal(claimed.account, claimed.iam_user, key.key_id, key.secret, self.sync.names)
        ):
            return self._discard(client, claimed, key.key_id, user_id)
        done = self.store.transition(
            request_id,
            Status.EXECUTING,
            Status.SUCCEEDED,
            actor=user_id,
            action="revealed",
            detail=first,
            new_key_id=key.key_id,
            result=f"{first}new key `{key.key_id}` created and revealed to {who(user_id)}",
        )
        if done:
            self.sync.sync(done)
            start_rotation(self.rotations, done, key.key_id)
        return Shown(request_id)

    def _reveal_deadline(self, request: Request) -> datetime:
        """Written with the approval; a request approved without one counts from its decision."""
        return request.reveal_expires_at or (request.decided_at or request.updated_at) + self.reveal_ttl

    def _discard(self, client: AccountClient, request: Request, key_id: str, user_id: str) -> NotShown:
        """The key whose secret Slack could not show is deleted again, and the Reveal offered again; says so."""
        try:
            client.delete_access_key(request.iam_user, key_id)
        except AwsError as e:
            reference = logged(e, f"{request.id}: could not delete unrevealed key {key_id} of {request.iam_user}", log)
            failed = fail(
                self.store,
                request,
                secret_not_shown(key_id, reference),
                f"the secret could not be shown and key {key_id} could not be deleted: {e.message} (ref {reference})",
            )
            if failed:
                self.sync.sync(failed)
            return NotShown(request, key_id, reference)
        self._release(request, user_id, f"the secret could not be shown; new key {key_id} was deleted")
        return NotShown(request, key_id)

    def _release(self, request: Request, actor: str, why: str) -> None:
        self.store.transition(
            request.id,
            Status.EXECUTING,
            Status.APPROVED,
            actor=actor,
            action="reveal_failed",
            outcome="retry",
            detail=why,
        )
