"""Secret delivery: how the new key of an approved request reaches its requester.

One interface, `SecretDelivery`, with two implementations: reveal.py (the requester's Reveal shows the
secret once, in Slack) and secrets_manager.py (stored in AWS Secrets Manager, never shown in Slack).
bot/bootstrap/factories.py picks one from SECRET_DELIVERY (and the requester's DM with it); nothing else asks
which. Below the interface, the steps both take: making the key, handing a rotation's new key to its
schedule, and after an interruption deleting the keys whose secret cannot have reached anyone.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from typing import Protocol

from bot.aws import AccountClient, AwsError, AwsNotFound, NewKey
from bot.clock import Clock
from bot.domain.keys import AccessKey, KeyFacts
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.outcomes import Missing, NotRequester, Reveal, RevealRefusal
from bot.domain.requests import Request, Status
from bot.domain.rotation import PlanChanged, confirm_pre_step
from bot.services.rotations import RotationService
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore


class PlanNoLongerHolds(AwsError):
    """A rotation's plan that AWS's keys no longer fit: nothing was asked of AWS; the message is for people."""

    code = "PlanChanged"
    written_for_people = True


class SecretDelivery(Protocol):
    """How an approved request whose operation makes a key delivers that key."""

    # True: keys are made and delivered without the requester, so housekeeping delivers those a crash left
    # approved. False: each waits for its requester, and expires when never collected.
    unattended: bool

    def hand_over(self, request: Request) -> None:
        """`request` is approved: deliver its key now, or tell the requester how to collect it."""
        ...

    def settle_interrupted(self, request: Request) -> None:
        """A delivery left executing (a crash, a lost answer): delete the key made for it, whose secret cannot
        have reached anyone safely, and offer the request again."""
        ...

    def reveal_refusal(self, request_id: str, user_id: str) -> RevealRefusal | None:
        """Why this user may not reveal this request's key now, or None when they may."""
        ...

    def reveal(self, request_id: str, user_id: str, trigger_id: str = "", view_id: str | None = None) -> Reveal:
        """The requester's Reveal: what came of it (Shown when the window showed the secret or what went wrong)."""
        ...


def requester_of(store: RequestStore, request_id: str, user_id: str) -> Request | Missing | NotRequester:
    """The request whose key `user_id` asks to reveal, when they filed it; else why not (audited when it is
    someone else's)."""
    request = store.get(request_id)
    if request is None:
        return Missing(request_id)
    if request.requester != user_id:
        store.audit.refused_on(request, user_id, "reveal", "not the requester")
        return NotRequester(request)
    return request


def create_key(client: AccountClient, request: Request) -> tuple[NewKey, str]:
    """Create the request's new key; a rotation first deletes the inactive key its plan named.

    Returns the key and a note of what was done first ("" when nothing).
    """
    if not REQUEST_OPERATIONS[request.operation].starts_rotation:
        return client.create_access_key(request.iam_user), ""
    assert request.key_id is not None
    keys = [
        KeyFacts(request.account, k.user, k.key_id, k.status, k.created)
        for k in client.list_access_keys(request.iam_user)
    ]
    try:
        pre_step = confirm_pre_step(keys, request.key_id, request.created_at)
    except PlanChanged as e:
        raise PlanNoLongerHolds(
            f"The rotation plan no longer holds: {e}. Nothing was changed; file a new request."
        ) from e
    first = ""
    if pre_step:
        with suppress(AwsNotFound):  # already gone: the plan's first step is done either way
            client.delete_access_key(request.iam_user, pre_step)
        first = f"inactive key `{pre_step}` deleted first; "
    try:
        return client.create_access_key(request.iam_user), first
    except AwsError as e:  # the same kind of error, so callers still tell "unavailable" from "refused"
        again = type(e)(f"{first}{e.message}", permission=e.permission)
        again.account, again.done_first = e.account, first
        raise again from None


def start_rotation(rotations: RotationService, request: Request, new_key_id: str) -> None:
    """Hand a delivered rotation to its schedule (the scheduler adopts it if this process dies first)."""
    if REQUEST_OPERATIONS[request.operation].starts_rotation and request.key_id:
        rotations.start(request, new_key_id, request.key_id)


def hand_back_interrupted(store: RequestStore, clock: Clock, client: AccountClient, request: Request) -> Request | None:
    """Delete the keys made for an interrupted delivery and hand the request back (executing -> approved).

    None when it was no longer executing."""
    orphans = _unrevealed_keys(clock, client, request)
    for key in orphans:
        with suppress(AwsNotFound):  # a delete resent after a lost answer
            client.delete_access_key(request.iam_user, key.key_id)
    why = f"interrupted; deleted unrevealed key {', '.join(k.key_id for k in orphans)}" if orphans else "interrupted"
    return store.transition(
        request.id, Status.EXECUTING, Status.APPROVED, actor=SYSTEM, action="reconciled", detail=why
    )


def _unrevealed_keys(clock: Clock, client: AccountClient, request: Request) -> list[AccessKey]:
    """The user's keys created since the request was claimed: made for it, and never shown to anyone.

    The claim is stamped by our clock, a key's CreateDate by AWS's. Their difference, measured now
    (the listing's Date header against our clock), is applied so that a skewed clock still finds the key.
    """
    keys, aws_now = client.access_keys_and_time(request.iam_user)
    since = request.claimed_at or request.updated_at
    if aws_now is not None:
        since += aws_now - clock()
    return [k for k in keys if k.created >= since - timedelta(seconds=2) and k.key_id != request.key_id]
