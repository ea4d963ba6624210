"""Requests for key operations: their states, the allowed transitions, and their ids."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.operations import REQUEST_OPERATIONS, Operation
from bot.domain.transitions import check_move


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# The only transitions a request may make. `executing -> approved` hands a Reveal back when the
# secret could not be shown; `approved -> expired` ends an approved key that was never revealed;
# `approved -> cancelled` is a break-glass superseding a request that was decided but not yet run.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.APPROVED, Status.DENIED, Status.EXPIRED, Status.CANCELLED}),
    Status.APPROVED: frozenset({Status.EXECUTING, Status.EXPIRED, Status.CANCELLED}),
    Status.EXECUTING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.APPROVED}),
}
OPEN = frozenset({Status.PENDING, Status.APPROVED, Status.EXECUTING})
FINAL = frozenset(Status) - OPEN

# Operations whose execution hands a new secret to the requester.
MAKES_KEY = frozenset(op for op, spec in REQUEST_OPERATIONS.items() if spec.makes_key)

_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


def check_transition(current: Status, new: Status) -> None:
    check_move(TRANSITIONS, current, new, f"a {current} request")


def new_request_id() -> str:
    return "R-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def approvals_needed(operation: Operation, configured: dict[str, int], requester_owns: bool = True) -> int:
    """Approvals a request needs: as configured (delete: 2), one more when the requester does not own the user."""
    base = configured.get(operation.value, REQUEST_OPERATIONS[operation].default_approvals)
    return base if requester_owns else base + 1


# An IAM user's ARN (any partition, any path); an assumed role's ARN is `arn:...:sts::...:assumed-role/...`.
# Emulators of STS may write a user's ARN with `sts`: it still names that user.
_IAM_USER_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:user/(?:[^/]+/)*([^/]+)$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


def iam_user_of(arn: str) -> str | None:
    """The IAM user name an identity's ARN names, or None when it is not a user (a role, a federated user)."""
    match = _IAM_USER_ARN.match(arn)
    return match.group(1) if match else None


def account_id_of_arn(arn: str) -> str | None:
    """The AWS account id an IAM or STS ARN names (a user's, a role's, an assumed role's)."""
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else None


# A request has one DM to its requester, updated in place as the request moves on. A final outcome that
# comes this long after the requester last heard of the request (the decision) or acted on it (Reveal)
# gets a new DM instead, so that Slack notifies them.
LONG_WAIT = timedelta(minutes=10)


def is_break_glass(request: Request) -> bool:
    """A break-glass (`deactivate --now`): decided by its own requester when it was filed, as no other request
    can be (nobody approves or denies their own). A cancelled one is the requester withdrawing it instead."""
    return request.decided_by == request.requester and request.status not in (Status.CANCELLED, Status.PENDING)


def outcome_needs_new_dm(
    status: Status, decided_at: datetime | None, claimed_at: datetime | None, now: datetime
) -> bool:
    """Whether a request that already has a DM gets a new one for `status` (else its DM is updated)."""
    last = max((t for t in (decided_at, claimed_at) if t is not None), default=None)
    return status in FINAL and last is not None and now - last > LONG_WAIT


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
    policy_rule: str | None = None
    policy: str | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    nudged_at: datetime | None = None
    valid_for_hours: int | None = None  # a time-bound key (`create --for`): how long it lasts
    key_ends_at: datetime | None = None  # and, once it exists, when it is switched off
    retire_role: str | None = None  # `retire --role`: the role to watch (None: the one `replace` suggests)
    approvers: tuple[str, ...] = ()
