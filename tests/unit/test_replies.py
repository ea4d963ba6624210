"""The replies people get to a click or command on a request or a rotation, written from what the service says
happened (bot/domain/outcomes.py) by the pure builders of bot/slack/messages: each outcome's words, checked here
without a service, a database or Slack."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.operations import Operation
from bot.domain.outcomes import (
    AlreadyCounted,
    AlreadyDecided,
    AlreadyRevealed,
    AlreadyRevealing,
    Cancelled,
    CannotRollBack,
    Counted,
    Denied,
    Discarded,
    Executed,
    ExpiredBeforeClick,
    Missing,
    MovedOn,
    NoRotation,
    NotApprover,
    NotOwnerOrApprover,
    NotRequester,
    NotShown,
    NotYours,
    Nudged,
    NudgedRecently,
    OldKeyGone,
    OwnRequest,
    RevealExpired,
    RollBackFailed,
    RollBackPending,
    RolledBack,
    Shown,
    StoredNotShown,
    WindowNotOpened,
    WrittenToLocations,
)
from bot.domain.requests import Request, Status
from bot.domain.rotation import Rotation, RotationState
from bot.slack.messages.request_replies import approve_reply, cancel_reply, deny_reply, nudge_reply, reveal_reply
from bot.slack.messages.rotations import rollback_reply
from tests.support.records import a_rotation

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REQUESTER, BOSS, CARL = "UREQUESTER", "UBOSS", "UCARL"
S = RotationState


def request(status: Status = Status.PENDING, **kw: object) -> Request:
    values: dict[str, object] = dict(
        id="R-ABC123",
        operation=Operation.DEACTIVATE,
        account="default",
        iam_user="ci",
        key_id="AKIAIOSFODNN7EXAMPLE",
        requester=REQUESTER,
        reason="rotating out",
        status=status,
        approvals_needed=1,
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(hours=24),
        decided_by=None,
        decided_at=None,
        deny_reason=None,
        channel=None,
        message_ts=None,
        dm_channel=None,
        dm_ts=None,
        claimed_at=None,
        reveal_expires_at=None,
        new_key_id=None,
        result=None,
        details="",
        owner_ok=True,
        notified_status=None,
    )
    values.update(kw)
    return Request(**values)  # type: ignore[arg-type]


def rotation(state: RotationState, **kw: object) -> Rotation:
    made = {
        "id": "R-ABC123",
        "owner": REQUESTER,
        "updated_at": T0 + timedelta(days=8),
        "grace_ends_at": T0 + timedelta(days=7),
        "stall_at": T0 + timedelta(days=30),
    }
    return a_rotation(T0, state, **(made | kw))


def slack_time(at: datetime) -> str:
    """The start of Slack's date formatting for `at` (the reader's own time zone), as `when` writes it."""
    return f"<!date^{int(at.timestamp())}^"


# Approve and Deny


def test_refusals_of_an_approve_or_a_deny_say_why_and_change_nothing() -> None:
    pending = request()
    assert approve_reply(Missing("R-GONE42")) == "Request R-GONE42 does not exist (any more)."
    assert "cannot approve your own request" in approve_reply(OwnRequest(pending))
    assert "Only approvers can approve" in approve_reply(NotApprover(pending))
    assert f"cannot decide your own request; `cancel {pending.id}` withdraws it" in deny_reply(OwnRequest(pending))
    assert "Only approvers can deny" in deny_reply(NotApprover(pending))
    expired = approve_reply(ExpiredBeforeClick(pending))
    assert f"{pending.id} expired at {slack_time(pending.expires_at)}" in expired and "before this click" in expired


def test_an_approval_that_counts_says_how_many_and_whose_no_longer_count() -> None:
    one_of_two = request(approvals_needed=2, approvers=(BOSS,))
    assert "1 of 2" in approve_reply(Counted(one_of_two))
    assert "already approved" in approve_reply(AlreadyCounted(one_of_two))
    told = approve_reply(Counted(one_of_two, dropped=("UGRACE",)))
    assert "<@UGRACE> is no longer an approver, so that approval no longer counts" in told and "stays pending" in told
    both = approve_reply(AlreadyCounted(one_of_two, dropped=("UGRACE", "UHAL")))
    assert "<@UGRACE>, <@UHAL> are no longer approvers, so those approvals no longer count" in both


def test_the_decision_itself_needs_no_reply_the_message_says_it() -> None:
    assert approve_reply(Executed(request(Status.SUCCEEDED))) is None
    assert deny_reply(Denied(request(Status.DENIED))) is None


def test_a_late_click_says_who_decided_and_when() -> None:
    decided = T0 + timedelta(hours=2)
    denied = request(Status.DENIED, decided_by=BOSS, decided_at=decided)
    assert approve_reply(AlreadyDecided(denied)).startswith(
        f"Already decided: {denied.id} was denied by <@{BOSS}> at {slack_time(decided)}"
    )
    done = approve_reply(AlreadyDecided(request(Status.SUCCEEDED, decided_by=BOSS, decided_at=decided)))
    assert f"R-ABC123 was already approved by <@{BOSS}> at {slack_time(decided)}" in done
    assert done.endswith("; it is done.")
    expired = request(Status.EXPIRED, updated_at=T0 + timedelta(hours=24))
    assert f"Already decided: {expired.id} expired at {slack_time(expired.updated_at)}" in deny_reply(
        AlreadyDecided(expired)
    )


# cancel


def test_cancel_of_a_request_already_ended_says_who_ended_it_and_when() -> None:
    ended = T0 + timedelta(hours=3)
    cancelled = request(Status.CANCELLED, updated_at=ended)
    assert cancel_reply(Cancelled(cancelled), REQUESTER) == f"Request {cancelled.id} is cancelled."
    again = cancel_reply(AlreadyDecided(cancelled), REQUESTER)
    assert again.startswith(f"{cancelled.id} was cancelled by you at {slack_time(ended)}")
    assert again.endswith(": it can no longer be cancelled.") and "is cancelled and" not in again
    assert f"{cancelled.id} was cancelled by its requester at {slack_time(ended)}" in approve_reply(
        AlreadyDecided(cancelled)
    )
    denied = cancel_reply(AlreadyDecided(request(Status.DENIED, decided_by=CARL, decided_at=ended)), REQUESTER)
    assert denied.startswith(f"R-ABC123 was denied by <@{CARL}> at {slack_time(ended)}")
    assert cancel_reply(NotYours("R-ABC123"), BOSS) == "You have no request R-ABC123. `requests` lists yours."


# Nudge


def test_nudge_says_whether_the_approvers_were_reminded_and_when_it_can_be_done_again() -> None:
    pending = request(nudged_at=T0)
    assert nudge_reply(Nudged(pending), REQUESTER) == f"Nudged: the approvers of {pending.id} were reminded."
    again = nudge_reply(NudgedRecently(pending, T0 + timedelta(hours=1)), REQUESTER)
    assert (
        "less than an hour ago" in again and f"You can nudge again after {slack_time(T0 + timedelta(hours=1))}" in again
    )
    assert nudge_reply(NudgedRecently(pending, None), REQUESTER).endswith("less than an hour ago.")
    denied = request(Status.DENIED, decided_by=BOSS, decided_at=T0)
    late = nudge_reply(AlreadyDecided(denied), REQUESTER)
    assert late.startswith(f"{denied.id} was denied by <@{BOSS}> at {slack_time(T0)}")
    assert late.endswith(": there is nobody left to nudge.")
    assert nudge_reply(NotYours("R-ABC123"), BOSS) == "You have no request R-ABC123. `requests` lists yours."


# Reveal


def test_reveal_says_why_nothing_was_shown() -> None:
    approved = request(Status.APPROVED, operation=Operation.CREATE, key_id=None, decided_by=BOSS, decided_at=T0)
    assert reveal_reply(Shown(approved.id), REQUESTER) is None
    assert reveal_reply(Missing("R-GONE42"), REQUESTER) == "Request R-GONE42 does not exist (any more)."
    assert reveal_reply(NotRequester(approved), BOSS) == "Only the requester can reveal this key."
    done = replace(approved, status=Status.SUCCEEDED)
    assert "already revealed" in reveal_reply(AlreadyRevealed(done), REQUESTER)
    assert f"The Reveal of {approved.id} has expired" in reveal_reply(RevealExpired(approved), REQUESTER)
    expired = replace(approved, status=Status.EXPIRED, updated_at=T0 + timedelta(days=1))
    gone = reveal_reply(AlreadyDecided(expired), REQUESTER)
    assert gone.startswith(f"{approved.id} expired at {slack_time(expired.updated_at)}")
    assert gone.endswith(": there is nothing to reveal.")
    assert reveal_reply(AlreadyRevealing(approved.id), REQUESTER) == f"{approved.id} is already being revealed."
    assert "no key was created. Click Reveal again" in reveal_reply(WindowNotOpened(approved.id), REQUESTER)


def test_reveal_elsewhere_names_where_the_key_goes() -> None:
    approved = request(Status.APPROVED, operation=Operation.CREATE, key_id=None)
    stored = reveal_reply(StoredNotShown(approved), REQUESTER)
    assert "Secrets Manager" in stored and "never shown in Slack" in stored and approved.id in stored
    placed = reveal_reply(WrittenToLocations(approved, ("SSM /ci/deployer", "GitHub acme/api")), REQUESTER)
    assert "written by Keywarden to SSM /ci/deployer, GitHub acme/api" in placed
    assert placed.endswith("shown to nobody: there is nothing to reveal.")


def test_a_secret_slack_could_not_show_says_whether_its_key_was_deleted() -> None:
    executing = request(Status.EXECUTING, operation=Operation.CREATE, key_id=None)
    deleted = reveal_reply(NotShown(executing, "AKIANEWNEWNEWNEWNEW1"), REQUESTER)
    assert deleted == "Slack could not show the secret, so the new key was deleted again. Click Reveal again."
    kept = reveal_reply(NotShown(executing, "AKIANEWNEWNEWNEWNEW1", reference="0badf00d"), REQUESTER)
    assert "`AKIANEWNEWNEWNEWNEW1` could not be deleted again" in kept and "reference `0badf00d`" in kept


# A rotation's Reactivate (or a delivered rotation's Roll back)


def test_a_rollback_says_what_became_of_each_key() -> None:
    deactivated = rotation(S.OLD_KEY_DEACTIVATED)
    old, new = deactivated.old_key_id, deactivated.new_key_id
    assert rollback_reply(NoRotation("R-GONE42")) == "There is no rotation R-GONE42."
    assert "Only the rotation's owner or an approver" in rollback_reply(NotOwnerOrApprover(deactivated))
    assert rollback_reply(RolledBack(deactivated)).startswith(f"Rotation {deactivated.id} is rolled back")
    assert f"`{old}` is active again; `{new}` stays" in rollback_reply(RolledBack(deactivated))
    assert f"`{old}` was already deleted in AWS" in rollback_reply(OldKeyGone(deactivated))
    failed = rollback_reply(RollBackFailed(deactivated, "AWS did not answer."))
    assert failed == "AWS did not answer. Nothing was changed; click Reactivate again."


def test_a_rollback_that_cannot_happen_says_where_the_rotation_is() -> None:
    rolled_back = rotation(S.ROLLED_BACK)
    assert f"was already rolled back ({slack_time(rolled_back.updated_at)}" in rollback_reply(
        CannotRollBack(rolled_back)
    )
    cancelled = rollback_reply(CannotRollBack(rotation(S.CANCELLED, note="the old key was deactivated by R-XYZ789")))
    assert "was cancelled (the old key was deactivated by R-XYZ789)" in cancelled and "it goes to approval" in cancelled
    assert "is being rolled back right now" in rollback_reply(CannotRollBack(rotation(S.ROLLING_BACK)))
    assert "it cannot be reactivated" in rollback_reply(CannotRollBack(rotation(S.OLD_KEY_DELETED)))
    assert "there is nothing to roll back" in rollback_reply(CannotRollBack(rotation(S.GRACE)))


def test_a_delivered_rotations_roll_back_says_which_key_went_and_who_still_holds_it() -> None:
    delivered = rotation(S.DELIVERED)
    old, new = delivered.old_key_id, delivered.new_key_id
    assert rollback_reply(Discarded(delivered)) == (
        f"Rotation {delivered.id} is rolled back: `{new}` is deleted and `{old}` stays active."
    )
    held = rollback_reply(Discarded(delivered, ("GitHub acme/api",)))
    assert held.endswith("GitHub acme/api hold the deleted key: put a working key there.")
    assert rollback_reply(RollBackFailed(delivered, "AWS refused.")).endswith("click Roll back again.")
    assert rollback_reply(RollBackPending(delivered, "AWS did not answer.")).endswith("once AWS answers.")
    assert "moved on meanwhile; nothing was changed" in rollback_reply(MovedOn(delivered))
