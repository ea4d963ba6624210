"""What a person's click or command on a request or a rotation came to. The services say what happened;
bot/slack/messages words it (`approve_reply`, `cancel_reply`, `rollback_reply`, ...), so the same outcome can be
told in Slack, the CLI or the App Home without the service knowing how.

An outcome carries the request (or rotation) as it stood when the service decided, so the words can say who
ended it and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.requests import Request
from bot.domain.rotation import Rotation

# Refusals: nothing was changed.


@dataclass(frozen=True)
class Missing:
    """No request with this id (or no longer)."""

    request_id: str


@dataclass(frozen=True)
class NotYours:
    """`cancel` or Nudge of a request this person did not file (or that does not exist): audited when it exists."""

    request_id: str


@dataclass(frozen=True)
class OwnRequest:
    """The requester's own Approve or Deny: audited."""

    request: Request


@dataclass(frozen=True)
class NotApprover:
    """Approve or Deny by someone who may not approve this request right now: audited."""

    request: Request


@dataclass(frozen=True)
class NotRequester:
    """Reveal by someone other than the requester: audited."""

    request: Request


@dataclass(frozen=True)
class AlreadyDecided:
    """The request is past what was asked of it (decided, cancelled, expired, done): it says who and when."""

    request: Request


@dataclass(frozen=True)
class ExpiredBeforeClick:
    """A click on a pending request past its expiry, before the sweep: it is expired now."""

    request: Request


# Approve and Deny.


@dataclass(frozen=True)
class Counted:
    """The approval counts; more are needed. `dropped`: approvers whose earlier approvals no longer count."""

    request: Request
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlreadyCounted:
    """This approver's approval was counted before; more are needed."""

    request: Request
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Executed:
    """The approval that completed the count: the request was carried out (or handed to the secret delivery)."""

    request: Request


@dataclass(frozen=True)
class Denied:
    request: Request


# The requester's cancel and Nudge.


@dataclass(frozen=True)
class Cancelled:
    request: Request


@dataclass(frozen=True)
class Nudged:
    request: Request


@dataclass(frozen=True)
class NudgedRecently:
    """A Nudge within the hour after the last one; `again_at`: when the next is allowed."""

    request: Request
    again_at: datetime | None


# Reveal.


@dataclass(frozen=True)
class AlreadyRevealed:
    request: Request


@dataclass(frozen=True)
class RevealExpired:
    request: Request


@dataclass(frozen=True)
class StoredNotShown:
    """SECRET_DELIVERY=secretsmanager: keys are never shown in Slack."""

    request: Request


@dataclass(frozen=True)
class WrittenToLocations:
    """A machine user's rotation: Keywarden writes the new key to its places (LOCATIONS_FILE), shown to nobody."""

    request: Request
    places: tuple[str, ...]


@dataclass(frozen=True)
class AlreadyRevealing:
    """Another Reveal of the same request claimed it first."""

    request_id: str


@dataclass(frozen=True)
class WindowNotOpened:
    """Slack did not open the window: no key was made."""

    request_id: str


@dataclass(frozen=True)
class NotShown:
    """Slack did not show the secret: the new key was deleted again and Reveal is offered again; or, with a
    `reference` (the log line an administrator looks up), it could not be deleted and the request failed."""

    request: Request
    key_id: str
    reference: str | None = None


@dataclass(frozen=True)
class Shown:
    """The secret was shown in the window, or what went wrong was told there."""

    request_id: str


# A rotation's Reactivate (roll back).


@dataclass(frozen=True)
class NoRotation:
    rotation_id: str


@dataclass(frozen=True)
class NotOwnerOrApprover:
    """Neither the rotation's owner nor an approver for its user: audited."""

    rotation: Rotation


@dataclass(frozen=True)
class CannotRollBack:
    """The rotation is not at the stage that rolls back (its state says why)."""

    rotation: Rotation


@dataclass(frozen=True)
class OldKeyGone:
    """The old key was deleted in AWS meanwhile: nothing to reactivate."""

    rotation: Rotation


@dataclass(frozen=True)
class RollBackFailed:
    """AWS refused: the rotation is as it was, and the click can be repeated. `error`: AWS's refusal, as the AWS
    adapter words it."""

    rotation: Rotation
    error: str


@dataclass(frozen=True)
class RollBackPending:
    """A delivered rotation's roll-back AWS did not answer: Keywarden finishes it once AWS answers."""

    rotation: Rotation
    error: str


@dataclass(frozen=True)
class MovedOn:
    """A delivered rotation moved on between the click and its claim: nothing was changed."""

    rotation: Rotation


@dataclass(frozen=True)
class RolledBack:
    """The old key is active again; the new key stays."""

    rotation: Rotation


@dataclass(frozen=True)
class Discarded:
    """A delivered rotation rolled back: its new key deleted, the old one kept. `holding`: the places that still
    hold the deleted key."""

    rotation: Rotation
    holding: tuple[str, ...] = ()


Approval = (
    Missing | OwnRequest | NotApprover | AlreadyDecided | ExpiredBeforeClick | Counted | AlreadyCounted | Executed
)
DenyRefusal = Missing | OwnRequest | NotApprover | AlreadyDecided | ExpiredBeforeClick
Denial = DenyRefusal | Denied
Cancel = NotYours | AlreadyDecided | Cancelled
Nudge = NotYours | AlreadyDecided | NudgedRecently | Nudged
RevealRefusal = (
    Missing | NotRequester | AlreadyRevealed | AlreadyDecided | RevealExpired | StoredNotShown | WrittenToLocations
)
Reveal = RevealRefusal | AlreadyRevealing | WindowNotOpened | NotShown | Shown
DeliveredRollBack = MovedOn | RollBackPending | RollBackFailed | Discarded
RollBack = (
    NoRotation | NotOwnerOrApprover | CannotRollBack | OldKeyGone | RollBackFailed | RolledBack | DeliveredRollBack
)
