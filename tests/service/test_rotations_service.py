"""Guided rotation called directly: filed, approved and revealed through the approval services, then taken step
by step by `RotationService.advance_due` as the test clock moves, with IAM and Slack in memory.

The same workflow through signed HTTP requests into a running bot: tests/integration/test_rotation.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.aws import AwsNotFound, AwsPermissionDenied, AwsUnavailable
from bot.domain.keys import ACTIVE, INACTIVE, InputError
from bot.domain.outcomes import (
    CannotRollBack,
    Counted,
    Executed,
    NotOwnerOrApprover,
    RollBackFailed,
    RolledBack,
    Shown,
)
from bot.domain.requests import Status
from bot.domain.rotation import RotationState
from bot.slack import ids
from bot.store.rotations import RotationStore
from tests.support.flows import BOSS, CARL, MALLORY, REQUESTER
from tests.support.service_world import APPROVAL_CHANNEL, ServiceWorld

S = RotationState
UPDATE, DELETE, CREATE = "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:CreateAccessKey"


@pytest.fixture
def old(world: ServiceWorld) -> str:
    """`ci`'s one key, active and 100 days old: the key to replace."""
    return world.iam.add_key("ci", age_days=100)


def rotate(world: ServiceWorld, target: str = "ci") -> str:
    """File, approve and reveal a rotation; returns its id (the rotation's grace period has begun)."""
    filed = world.file(f"rotate {target} quarterly rotation")
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert isinstance(world.services.secret_delivery.reveal(filed.id, REQUESTER), Shown)
    return filed.id


def owner_dms(world: ServiceWorld, text: str) -> list[str]:
    return [m.raw for m in world.slack.dms(REQUESTER) if text in m.raw]


def advance(world: ServiceWorld, **delta: float) -> int:
    """Move the clock, then run the rotation schedule once; returns the steps it took."""
    world.clock.advance(**delta)
    return world.services.rotations.advance_due()


def deactivated(world: ServiceWorld) -> str:
    """A rotation whose grace period ended with the old key unused: the old key is now inactive."""
    rid = rotate(world)
    assert advance(world, days=7) == 1
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED
    return rid


def test_the_rotation_starts_when_the_new_key_is_revealed(world: ServiceWorld, old: str) -> None:
    filed = world.file("rotate ci quarterly rotation")
    assert filed.key_id == old
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert world.services.rotations.get(filed.id) is None and world.iam.calls[CREATE] == 0

    assert isinstance(world.services.secret_delivery.reveal(filed.id, REQUESTER), Shown)
    new = world.request(filed.id).new_key_id
    r = world.rotation(filed.id)
    assert (r.state, r.old_key_id, r.new_key_id, r.owner) == (S.GRACE, old, new, REQUESTER)
    assert (r.created_at, r.grace_ends_at, r.stall_at) == (
        world.clock(),
        world.clock() + timedelta(days=7),
        world.clock() + timedelta(days=14),
    )
    assert world.iam.statuses("ci") == {old: ACTIVE, new: ACTIVE}
    assert owner_dms(world, f"the new key `{new}` is active")
    assert world.actions(filed.id)[-4:] == ["reveal_started", "revealed", "rotation_started", "rotation_grace"]


def test_an_inactive_second_key_is_deleted_right_before_the_new_key_is_made(world: ServiceWorld, old: str) -> None:
    spare = world.iam.add_key("ci", age_days=200, status=INACTIVE)
    filed = world.file("rotate ci")
    assert f"the inactive key `{spare}` is deleted right before the new key is created" in filed.details
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert spare in world.iam.statuses("ci")  # nothing happens before the Reveal
    assert isinstance(world.services.secret_delivery.reveal(filed.id, REQUESTER), Shown)
    new = world.request(filed.id).new_key_id
    assert world.iam.statuses("ci") == {old: ACTIVE, new: ACTIVE}
    assert world.iam.calls[DELETE] == 1 and world.iam.calls[CREATE] == 1
    revealed = next(e for e in world.services.audit.all() if e.request_id == filed.id and e.action == "revealed")
    assert f"inactive key `{spare}` deleted first" in revealed.detail


def test_the_grace_period_reminds_the_owner_and_leaves_the_old_key_alone(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    assert world.services.rotations.advance_due() == 0  # nothing is due yet
    assert advance(world, days=3, hours=12) == 1
    assert len(owner_dms(world, ":alarm_clock:")) == 1 and "never used" in owner_dms(world, ":alarm_clock:")[0]
    assert advance(world, days=1) == 0  # the daily look finds nothing to do
    assert advance(world, days=1, hours=12) == 1
    assert len(owner_dms(world, ":alarm_clock:")) == 2 and world.rotation(rid).reminders_sent == 2
    assert world.iam.calls[UPDATE] == 0 and world.iam.statuses("ci")[old] == ACTIVE


def test_an_unused_old_key_is_deactivated_when_the_grace_period_ends(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    new = world.rotation(rid).new_key_id
    assert advance(world, days=6, hours=23) == 1  # the second reminder, the day before
    assert world.iam.calls[UPDATE] == 0
    assert advance(world, hours=1) == 1

    r = world.rotation(rid)
    assert (r.state, r.deactivated_at, r.delete_after) == (
        S.OLD_KEY_DEACTIVATED,
        world.clock(),
        world.clock() + timedelta(days=7),
    )
    assert world.iam.statuses("ci") == {old: INACTIVE, new: ACTIVE} and world.iam.calls[UPDATE] == 1
    [notice] = [m for m in world.slack.dms(REQUESTER) if "now *deactivated*" in m.raw]
    assert notice.buttons == [(ids.ROLLBACK, rid)]
    assert advance(world, days=1) == 0 and world.iam.calls[UPDATE] == 1
    assert world.actions(rid)[-2:] == ["rotation_deactivating", "rotation_deactivated"]
    with pytest.raises(InputError, match=f"is already being rotated \\({rid}"):  # it would delete the old key first
        world.file("rotate ci again", requester=BOSS)


def test_an_old_key_still_in_use_is_not_deactivated(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    created = world.clock()
    world.iam.use_key(old, created + timedelta(days=5), "s3", "eu-west-1")  # something still signs with it

    assert advance(world, days=7) == 1
    r = world.rotation(rid)
    assert (r.state, r.old_last_used, r.old_last_used_where) == (S.GRACE, created + timedelta(days=5), "s3, eu-west-1")
    [in_use] = owner_dms(world, "is still in use, so it stays active")
    assert "by *s3* in *eu-west-1*" in in_use
    assert advance(world, days=1) == 1  # checked again daily
    assert len(owner_dms(world, "is still in use, so it stays active")) == 2

    assert advance(world, days=6) == 1  # 14 days after the new key was created
    assert world.rotation(rid).state is S.STALLED
    [stalled] = [m.raw for m in world.slack.in_channel(APPROVAL_CHANNEL) if "is stalled" in m.raw]
    assert old in stalled and REQUESTER in stalled
    assert owner_dms(world, "the approvers have been told")
    assert world.iam.calls[UPDATE] == 0 and world.iam.statuses("ci")[old] == ACTIVE


def test_the_old_key_is_deleted_after_the_deletion_delay(world: ServiceWorld, old: str) -> None:
    rid = deactivated(world)
    new = world.rotation(rid).new_key_id
    assert advance(world, days=6, hours=23) == 0 and world.iam.calls[DELETE] == 0
    assert advance(world, hours=1) == 1

    assert world.rotation(rid).state is S.OLD_KEY_DELETED
    assert world.iam.statuses("ci") == {new: ACTIVE} and world.iam.calls[DELETE] == 1
    assert owner_dms(world, "is complete") and world.services.rotations.open_for(REQUESTER) == []
    assert advance(world, days=30) == 0 and world.iam.calls[DELETE] == 1
    assert world.actions(rid)[-2:] == ["rotation_deleting", "rotation_deleted"]


@pytest.mark.parametrize("who", [REQUESTER, BOSS])
def test_reactivate_rolls_the_rotation_back(world: ServiceWorld, old: str, who: str) -> None:
    rid = deactivated(world)
    new = world.rotation(rid).new_key_id
    rotations = world.services.rotations

    assert isinstance(rotations.rollback(rid, MALLORY), NotOwnerOrApprover)
    assert world.iam.statuses("ci")[old] == INACTIVE
    assert isinstance(rotations.rollback(rid, who), RolledBack)
    assert world.rotation(rid).state is S.ROLLED_BACK
    assert world.iam.statuses("ci") == {old: ACTIVE, new: ACTIVE} and world.iam.calls[UPDATE] == 2
    assert bool(owner_dms(world, f"was rolled back by <@{who}>")) is (who != REQUESTER)

    assert advance(world, days=8) == 0 and world.iam.calls[DELETE] == 0
    again = rotations.rollback(rid, who)
    assert isinstance(again, CannotRollBack) and again.rotation.state is RotationState.ROLLED_BACK
    assert world.iam.calls[UPDATE] == 2
    refused = [e for e in world.services.audit.all() if e.action == "refused"]
    assert [(e.actor, e.request_id) for e in refused] == [(MALLORY, rid)]


def test_a_refused_roll_back_can_be_clicked_again(world: ServiceWorld, old: str) -> None:
    rid = deactivated(world)
    world.iam.fail(UPDATE, AwsPermissionDenied)
    assert isinstance(world.services.rotations.rollback(rid, REQUESTER), RollBackFailed)
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED and world.iam.statuses("ci")[old] == INACTIVE
    assert isinstance(world.services.rotations.rollback(rid, REQUESTER), RolledBack)
    assert world.iam.statuses("ci")[old] == ACTIVE


def test_break_glass_on_the_old_key_ends_the_rotation(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    new = world.rotation(rid).new_key_id
    world.clock.advance(days=2)  # in the grace period
    glass = world.file(f"deactivate {old} --now seen in a public repo", requester=BOSS)

    r = world.rotation(rid)
    assert r.state is S.CANCELLED and f"by request {glass.id}" in (r.note or "")
    assert owner_dms(world, f"file `reactivate {old}`")
    assert world.iam.statuses("ci") == {old: INACTIVE, new: ACTIVE}
    assert advance(world, days=6) == 0  # the grace period ends: nothing more happens to the key
    cancelled = world.services.rotations.rollback(rid, REQUESTER)
    assert isinstance(cancelled, CannotRollBack) and cancelled.rotation.state is RotationState.CANCELLED
    assert world.iam.statuses("ci")[old] == INACTIVE and world.rotation(rid).state is S.CANCELLED
    assert world.iam.calls[UPDATE] == 1 and world.iam.calls[DELETE] == 0

    back = world.file(f"reactivate {old} false alarm")  # the way back: a request for approval
    assert back.status is Status.PENDING


def test_an_approved_deactivation_of_the_old_key_ends_the_rotation(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    filed = world.file(f"deactivate {old} not needed", requester=MALLORY)  # not the owner: two approvals
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Counted)
    assert world.rotation(rid).state is S.GRACE
    assert isinstance(world.services.decisions.approve(filed.id, CARL), Executed)
    r = world.rotation(rid)
    assert r.state is S.CANCELLED and f"by request {filed.id}" in (r.note or "")
    cancelled = world.services.rotations.rollback(rid, REQUESTER)
    assert isinstance(cancelled, CannotRollBack) and cancelled.rotation.state is RotationState.CANCELLED


def test_an_old_key_deactivated_by_hand_ends_the_rotation(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    world.iam.set_status_by_hand("ci", old, INACTIVE)
    assert advance(world, days=7) == 1
    r = world.rotation(rid)
    assert r.state is S.CANCELLED and "deactivated outside this rotation" in (r.note or "")
    assert world.iam.calls[UPDATE] == 0 and advance(world, days=10) == 0 and world.iam.calls[DELETE] == 0


def test_a_new_key_deleted_outside_cancels_the_rotation(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    world.iam.delete_by_hand("ci", world.rotation(rid).new_key_id)
    assert advance(world, days=1) == 1
    assert world.rotation(rid).state is S.CANCELLED
    assert owner_dms(world, "was deleted or deactivated outside Keywarden")
    assert advance(world, days=7) == 0 and world.iam.statuses("ci") == {old: ACTIVE}


def test_an_old_key_deleted_by_hand_is_recorded(world: ServiceWorld, old: str) -> None:
    rid = deactivated(world)
    world.iam.delete_by_hand("ci", old)
    assert advance(world, days=1) == 1
    assert world.rotation(rid).state is S.OLD_KEY_DELETED and owner_dms(world, "was already deleted outside")
    assert world.iam.calls[DELETE] == 0


def test_aws_refusing_a_step_is_retried_an_hour_later(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    world.iam.fail(UPDATE, AwsPermissionDenied)
    assert advance(world, days=7) == 0
    r = world.rotation(rid)
    assert r.state is S.GRACE and r.next_check_at == world.clock() + timedelta(hours=1)
    retry = [e for e in world.services.audit.all() if e.request_id == rid][-1]
    assert retry.action == "rotation_retry" and "iam:UpdateAccessKey" in retry.detail
    assert world.services.rotations.advance_due() == 0 and world.iam.calls[UPDATE] == 1
    assert advance(world, hours=1) == 1
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED and world.iam.statuses("ci")[old] == INACTIVE


def test_a_lost_answer_on_the_deactivation_is_settled_from_aws(world: ServiceWorld, old: str) -> None:
    """Not read as a refusal: the claim stays, and recovery finds the key inactive (it was not done by hand)."""
    rid = rotate(world)
    world.iam.fail(UPDATE, AwsUnavailable, applied=True)  # AWS deactivated it; the answer never came back
    advance(world, days=7)
    assert world.rotation(rid).state is S.DEACTIVATING
    advance(world, hours=1)
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED
    assert world.iam.calls[UPDATE] == 1
    assert owner_dms(world, "now *deactivated*")


def test_a_lost_answer_on_the_deletion_is_settled_from_aws(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    advance(world, days=7)
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED
    world.iam.fail(DELETE, AwsUnavailable, applied=True)  # AWS deleted it; the answer never came back
    advance(world, days=7)
    assert world.rotation(rid).state is S.DELETING
    advance(world, hours=1)
    assert world.rotation(rid).state is S.OLD_KEY_DELETED
    assert world.iam.calls[DELETE] == 1


def test_two_schedulers_deactivate_once(make_world, world: ServiceWorld, old: str) -> None:
    other = make_world(aws=world.aws)  # a second process: the same database, the same AWS
    rid = rotate(world)
    world.clock.advance(days=7)
    assert other.services.rotations.advance_due() == 1
    assert world.services.rotations.advance_due() == 0
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED and world.iam.calls[UPDATE] == 1
    assert world.actions(rid).count("rotation_deactivated") == 1


def test_a_claim_left_by_a_crash_is_finished_without_repeating_the_call(world: ServiceWorld, old: str) -> None:
    rid = rotate(world)
    world.clock.advance(days=7)
    rotations = RotationStore(world.services.db, world.clock, world.services.audit)
    assert rotations.move(world.rotation(rid), S.GRACE, S.DEACTIVATING, action="rotation_deactivating")
    world.iam.set_status_by_hand("ci", old, INACTIVE)  # the call did reach AWS; then the process died

    assert world.services.rotations.advance_due() == 0  # too recent: it may still be running
    assert advance(world, minutes=11) == 1
    assert world.rotation(rid).state is S.OLD_KEY_DEACTIVATED and world.iam.calls[UPDATE] == 0
    assert world.actions(rid)[-2:] == ["rotation_reconciling", "rotation_deactivated"]
    assert owner_dms(world, "now *deactivated*")


def test_a_rotation_revealed_just_before_a_crash_is_adopted(world: ServiceWorld, old: str) -> None:
    filed = world.file("rotate ci")
    store = world.store
    assert store.approve(filed.id, BOSS).outcome == "approved"
    assert store.transition(filed.id, Status.APPROVED, Status.EXECUTING, actor=REQUESTER, action="reveal_started")
    new = world.iam.add_key("ci")  # created and revealed, then the process died
    assert store.transition(
        filed.id, Status.EXECUTING, Status.SUCCEEDED, actor=REQUESTER, action="revealed", new_key_id=new
    )
    assert world.services.rotations.get(filed.id) is None

    world.services.rotations.advance_due()
    r = world.rotation(filed.id)
    assert (r.state, r.old_key_id, r.new_key_id) == (S.GRACE, old, new)
    world.services.rotations.advance_due()
    assert world.actions(filed.id).count("rotation_started") == 1


def test_a_deletion_answered_not_found_is_the_rotations_own(world: ServiceWorld, old: str) -> None:
    """boto3 retried the delete after a lost answer and AWS said the key is gone: not "deleted outside Keywarden"."""
    rid = rotate(world)
    advance(world, days=7)
    world.iam.fail(DELETE, AwsNotFound, applied=True)  # the first answer was lost; the retry finds it gone
    advance(world, days=7)
    assert world.rotation(rid).state is S.OLD_KEY_DELETED
    assert owner_dms(world, f"`{old}` is deleted") and not owner_dms(world, "outside Keywarden")
