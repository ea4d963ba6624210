"""Delivered rotation as a secret delivery: a `rotate` of a machine user of LOCATIONS_FILE (filed by a person, or
due by `rotate_every_days`) creates the new key once and writes it to every location itself; no Reveal, nobody sees
the secret. Every other request goes to the configured delivery (Reveal, or Secrets Manager).

The request's approved -> executing claim lets one caller make the key; the rotation is stored (claimed,
`delivering`) with the new key's id before anything is written, and the request succeeds after the first pass over
the locations. A crash before the rotation is stored leaves a key nothing holds: it is deleted and the request
handed over again. A crash after it is finished from the rotation (bot/services/delivered_rotations.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.aws import AwsError, AwsGateway, AwsUnavailable
from bot.clock import Clock
from bot.domain.delivery import SecretLocation
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.outcomes import Reveal, RevealRefusal, WrittenToLocations
from bot.domain.requests import Request, Status
from bot.domain.rotation import Rotation, RotationState
from bot.services.approvals.delivery import SecretDelivery, create_key, hand_back_interrupted, requester_of
from bot.services.approvals.execution import aws_failure, fail
from bot.services.approvals.slack_sync import RequesterDm, RequestSync
from bot.services.delivered_rotations import DeliveredRotations
from bot.slack.messages.common import AccountNames, Message
from bot.slack.messages.delivered import build_delivered_request_dm
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)
S = RotationState


@dataclass(kw_only=True, eq=False)
class LocationDelivery:
    """A SecretDelivery: machine users' rotations delivered to their locations, everything else to `inner`."""

    inner: SecretDelivery
    delivered: DeliveredRotations
    store: RequestStore
    aws: AwsGateway
    clock: Clock
    sync: RequestSync
    owner_of: Callable[[str, str], str | None]  # (account, IAM user) -> the Slack user its owner tag names

    unattended: bool = field(init=False)  # as the configured delivery: approved keys left by a crash

    def __post_init__(self) -> None:
        self.unattended = self.inner.unattended

    def delivers(self, request: Request) -> bool:
        """A rotation of a user whose key Keywarden delivers itself."""
        return REQUEST_OPERATIONS[request.operation].starts_rotation and self.delivered.delivers(
            request.account, request.iam_user
        )

    # SecretDelivery
    def hand_over(self, request: Request) -> None:
        if not self.delivers(request):
            self.inner.hand_over(request)
            return
        self.deliver(request)

    def settle_interrupted(self, request: Request) -> None:
        if not self.delivers(request):
            self.inner.settle_interrupted(request)
            return
        rotation = self.delivered.get(request.id)
        if rotation is None:  # the key (if any) was made but never stored: nothing holds it
            released = hand_back_interrupted(self.store, self.clock, self.aws.account(request.account), request)
            if released:
                self.deliver(released)
            return
        if rotation.state is S.DELIVERING and rotation.updated_at <= self.clock() - self.delivered.claim_timeout:
            self.delivered.resend(rotation)
        self._finish(request)

    def reveal_refusal(self, request_id: str, user_id: str) -> RevealRefusal | None:
        request = self.store.get(request_id)
        if request is None or not self.delivers(request):
            return self.inner.reveal_refusal(request_id, user_id)
        mine = requester_of(self.store, request_id, user_id)
        if not isinstance(mine, Request):
            return mine
        return WrittenToLocations(request, tuple(self.delivered.where(request.account, request.iam_user)))

    def reveal(self, request_id: str, user_id: str, trigger_id: str = "", view_id: str | None = None) -> Reveal:
        request = self.store.get(request_id)
        if request is not None and self.delivers(request):
            refusal = self.reveal_refusal(request_id, user_id)
            assert refusal is not None  # a delivered rotation's key is never revealed
            return refusal
        return self.inner.reveal(request_id, user_id, trigger_id, view_id)

    # Delivering
    def deliver(self, request: Request) -> Rotation | None:
        """Claim the approved request, create the key, store the rotation, write every location; the rotation as it
        is after the first pass (None when the request was no longer approved or AWS left the outcome unknown)."""
        claimed = self.store.transition(
            request.id, Status.APPROVED, Status.EXECUTING, actor=SYSTEM, action="executing", claimed_at=self.clock()
        )
        if claimed is None:
            return None
        client = self.aws.account(claimed.account)
        try:
            key, first = create_key(client, claimed)
        except AwsUnavailable as e:  # whether the key exists is unknown: recovery settles it from AWS
            log.warning("%s: left for reconciliation after %s", request.id, e.message)
            return None
        except AwsError as e:
            self._tell(fail(self.store, claimed, *aws_failure(claimed, e, self.sync.names)))
            return None
        owner = claimed.requester
        if owner == SYSTEM:
            owner = self.owner_of(claimed.account, claimed.iam_user) or SYSTEM
        rotation = self.delivered.begin(claimed, key, owner, first)
        after = self.delivered.first_pass(rotation, key, summarised=claimed.requester == SYSTEM)
        self._finish(claimed)
        return after

    def _finish(self, request: Request) -> Request | None:
        """The request succeeds once its rotation is past the first pass (delivered, or waiting to be retried)."""
        rotation = self.delivered.get(request.id)
        if rotation is None or rotation.state is S.DELIVERING:
            return None
        holding = self.delivered.holding(rotation)
        result = f"new key `{rotation.new_key_id}` created and delivered to {', '.join(holding) or 'no place yet'}"
        if rotation.state is S.DELIVERY_FAILED:
            result += f"; not yet delivered to every place ({rotation.note}): tried again, the old key stays active"
        final = self.store.transition(
            request.id,
            Status.EXECUTING,
            Status.SUCCEEDED,
            actor=SYSTEM,
            action="executed",
            new_key_id=rotation.new_key_id,
            result=result[:1000],
            detail=f"delivered to {', '.join(holding)}"[:2000],
        )
        self._tell(final)
        return final

    def _tell(self, request: Request | None) -> None:
        """The requester's DM and the approval message; a rotation Keywarden filed itself has neither (its run posts
        one summary), so its Slack state is recorded as up to date."""
        if request is None:
            return
        if request.requester == SYSTEM:
            self.store.record_delivery(request.id, notified_status=request.status.value)
            return
        self.sync.sync(request)


@dataclass(kw_only=True, eq=False)
class DeliveredDm:
    """The requester's DM: for a delivered rotation, where the key goes and that nobody sees it; else `inner`'s."""

    inner: RequesterDm
    delivered: DeliveredRotations
    quiet_hours: int
    grace_days: int
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts

    def __call__(self, request: Request, secret: SecretLocation | None) -> Message:
        delivered = REQUEST_OPERATIONS[request.operation].starts_rotation and self.delivered.delivers(
            request.account, request.iam_user
        )
        if not delivered:
            return self.inner(request, secret)
        places = self.delivered.where(request.account, request.iam_user)
        return build_delivered_request_dm(request, places, self.quiet_hours, self.grace_days, self.names)
