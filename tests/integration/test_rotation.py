"""Guided rotation end to end: signed Slack requests in, moto and the fake Slack out, time from the test clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
import time_machine

from bot.bootstrap import Services
from bot.domain.requests import Status
from bot.domain.rotation import RotationState
from bot.entrypoints.scheduler import jobs
from bot.slack import ids
from tests.support.flows import (
    BOSS,
    CARL,
    MALLORY,
    REQUESTER,
    ephemerals,
    filed_id,
    key_made,
    owner_dms,
    request,
    request_store,
    rotate,
    rotation,
    rotation_store,
    wait_ephemeral,
    wait_owner_dm,
    wait_rotation,
    wait_status,
)
from tests.support.harness import BotServer
from tests.support.harness import TestClock as Clock
from tests.support.slack_text import fallback_text

S = RotationState


def use_key(key_id: str, secret: str, when: datetime) -> None:
    """Sign one call with the key at `when`: AWS (moto) records it as the key's last use."""
    with time_machine.travel(when, tick=False):
        sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret)
        sts.get_caller_identity()


def key_statuses(iam, user: str = "ci") -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def update_calls(services: Services) -> list[str]:
    seen: list[str] = []
    client = services.aws.account("default").client("iam")
    client.meta.events.register("before-call.iam.UpdateAccessKey", lambda **kw: seen.append("UpdateAccessKey"))
    return seen


def audit_trail(bot: BotServer, rid: str) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.detail) for e in bot.services.audit.all() if e.request_id == rid]


def test_full_rotation(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    assert "rotations" in jobs(bot.services)
    bot.command("rotate ci quarterly rotation")
    rid = filed_id(bot)
    post = bot.slack.calls_to("chat.postMessage")[0].raw
    plan_dates = [f"{clock() + timedelta(days=d):%Y-%m-%d}" for d in (3.5, 6, 7, 14)]
    assert "Rotation plan" in post and old_id in post and all(d in post for d in plan_dates)
    assert request(bot, rid).key_id == old_id

    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id="T-reveal")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    new_id = done.new_key_id
    assert new_id and bot.slack.wait_calls("views.update") and new_id in bot.slack.calls_to("views.update")[0].raw
    r = wait_rotation(bot, rid, S.GRACE)
    assert (r.old_key_id, r.new_key_id, r.owner, r.created_at) == (old_id, new_id, REQUESTER, clock())
    assert (r.grace_ends_at, r.stall_at) == (clock() + timedelta(days=7), clock() + timedelta(days=14))
    assert wait_owner_dm(bot, f"the new key `{new_id}` is active")
    updates = update_calls(bot.services)

    bot.command("requests")
    assert wait_ephemeral(bot, REQUESTER, "Your rotations in progress")
    bot.command("list ci")
    listed = fallback_text(wait_ephemeral(bot, REQUESTER, "being replaced by"))
    assert f"grace until {clock() + timedelta(days=7):%Y-%m-%d}" in listed and f"new key of rotation {rid}" in listed

    assert bot.services.rotations.advance_due() == 0  # nothing is due yet
    clock.advance(days=3, hours=12)
    assert bot.services.rotations.advance_due() == 1
    assert len(owner_dms(bot, "Reminder")) == 1 and "never used" in owner_dms(bot, "Reminder")[0]
    clock.advance(days=1)
    assert bot.services.rotations.advance_due() == 0  # the daily look finds nothing to do
    clock.advance(days=1, hours=12)
    assert bot.services.rotations.advance_due() == 1
    assert len(owner_dms(bot, "Reminder")) == 2 and rotation(bot, rid).reminders_sent == 2
    assert updates == [] and key_statuses(iam)[old_id] == "Active"

    clock.advance(days=1)  # the grace period ends; the old key was never used after the new one was created
    assert bot.services.rotations.advance_due() == 1
    r = rotation(bot, rid)
    assert r.state is S.OLD_KEY_DEACTIVATED and updates == ["UpdateAccessKey"]
    assert key_statuses(iam) == {old_id: "Inactive", new_id: "Active"}
    notice = owner_dms(bot, "now *deactivated*")
    assert len(notice) == 1 and ids.ROLLBACK in notice[0] and f'"value": "{rid}"' in notice[0]
    assert r.delete_after == clock() + timedelta(days=7)
    bot.command("list ci")
    assert bot.slack.wait_for(
        lambda _: [
            e
            for e in ephemerals(bot, REQUESTER)
            if f"deleted from {r.delete_after:%Y-%m-%d} unless rolled back" in fallback_text(e)
        ]
    )

    clock.advance(days=6, hours=23)
    assert bot.services.rotations.advance_due() == 0 and old_id in key_statuses(iam)
    clock.advance(hours=1)
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.OLD_KEY_DELETED
    assert key_statuses(iam) == {new_id: "Active"}
    assert owner_dms(bot, "is complete")
    assert bot.services.rotations.open_for(REQUESTER) == []
    clock.advance(days=30)
    assert bot.services.rotations.advance_due() == 0

    trail = audit_trail(bot, rid)
    print(f"\nAudit trail of rotation {rid} ({old_id} -> {new_id}):")
    for actor, action, detail in trail:
        print(f"  {actor:<10} {action:<22} {detail}")
    assert [action for _, action, _ in trail] == [
        "requested",
        "approval",
        "approved",
        "reveal_started",
        "revealed",
        "rotation_started",
        "rotation_grace",
        "rotation_reminder",
        "rotation_reminder",
        "rotation_deactivating",
        "rotation_deactivated",
        "rotation_deleting",
        "rotation_deleted",
    ]


def test_an_old_key_still_in_use_is_not_deactivated(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, old_secret = old
    rid = rotate(bot)
    created = clock()
    use_key(old_id, old_secret, created + timedelta(days=5))  # something still signs with the old key
    updates = update_calls(bot.services)

    clock.advance(days=7)
    assert bot.services.rotations.advance_due() == 1
    r = rotation(bot, rid)
    assert r.state is S.GRACE and r.old_last_used == created + timedelta(days=5)
    in_use = owner_dms(bot, "is still in use, so it stays active")
    assert len(in_use) == 1
    assert f"{created + timedelta(days=5):%Y-%m-%d %H:%M} UTC* by *sts* in *us-east-1*" in fallback_text(in_use[0])
    assert key_statuses(iam)[old_id] == "Active"

    clock.advance(days=1)  # checked again daily
    assert bot.services.rotations.advance_due() == 1
    assert len(owner_dms(bot, "is still in use, so it stays active")) == 2

    clock.advance(days=6)  # 14 days after the new key was created
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.STALLED
    stalled = [c.raw for c in bot.slack.calls_to("chat.postMessage") if c.params.get("channel") == "CAPPROVE"]
    assert "is stalled" in stalled[-1] and old_id in stalled[-1] and REQUESTER in stalled[-1]
    assert owner_dms(bot, "the approvers have been told")
    clock.advance(days=1)
    assert bot.services.rotations.advance_due() == 1  # still checked, still in use
    assert rotation(bot, rid).state is S.STALLED
    assert updates == [] and key_statuses(iam)[old_id] == "Active"


@pytest.mark.parametrize("who", [REQUESTER, BOSS])
def test_reactivate_rolls_back(bot: BotServer, iam, old: tuple[str, str], clock: Clock, who: str) -> None:
    old_id, _ = old
    rid = rotate(bot)
    new_id = rotation(bot, rid).new_key_id
    clock.advance(days=7)
    bot.services.rotations.advance_due()
    assert key_statuses(iam)[old_id] == "Inactive"

    bot.click(ids.ROLLBACK, rid, MALLORY, channel="DALICE")
    assert wait_ephemeral(bot, MALLORY, "Only the rotation's owner or an approver")
    assert key_statuses(iam)[old_id] == "Inactive"
    refused = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert [(e.actor, e.request_id, e.detail.split(":")[0]) for e in refused] == [(MALLORY, rid, "roll back")]
    bot.click(ids.ROLLBACK, rid, who, channel="DALICE")
    assert wait_ephemeral(bot, who, f"Rotation {rid} is rolled back")
    assert wait_rotation(bot, rid, S.ROLLED_BACK)
    assert key_statuses(iam) == {old_id: "Active", new_id: "Active"}
    if who != REQUESTER:
        assert wait_owner_dm(bot, f"was rolled back by <@{who}>")

    clock.advance(days=8)
    assert bot.services.rotations.advance_due() == 0
    assert key_statuses(iam) == {old_id: "Active", new_id: "Active"}
    bot.click(ids.ROLLBACK, rid, who, channel="DALICE")
    assert wait_ephemeral(bot, who, "was already rolled back")
    actions = [action for _, action, _ in audit_trail(bot, rid)]
    assert actions[-2:] == ["rotation_rolling_back", "rotation_rolled_back"]


def test_an_inactive_second_key_is_deleted_first(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    spare = key_made(iam, "ci", 200, clock())
    iam.update_access_key(UserName="ci", AccessKeyId=spare, Status="Inactive")
    bot.command("rotate ci")
    rid = filed_id(bot)
    post = bot.slack.calls_to("chat.postMessage")[0].raw
    assert f"the inactive key `{spare}` is deleted right before the new key is created" in post
    assert request(bot, rid).key_id == old_id

    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    assert spare in key_statuses(iam)  # nothing happens before the reveal
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert key_statuses(iam) == {old_id: "Active", done.new_key_id: "Active"}
    revealed = next(e for e in bot.services.audit.all() if e.request_id == rid and e.action == "revealed")
    assert f"inactive key `{spare}` deleted first" in revealed.detail
    assert wait_rotation(bot, rid, S.GRACE).old_key_id == old_id


def test_two_active_keys_are_refused_before_any_request(
    bot: BotServer, iam, old: tuple[str, str], clock: Clock
) -> None:
    old_id, _ = old
    second = key_made(iam, "ci", 10, clock())
    bot.command("rotate ci")
    assert wait_ephemeral(bot, REQUESTER, "has two active keys")
    bot.command(f"rotate {old_id}")
    bot.slack.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) >= 2)
    assert all(
        "has two active keys" in e and "`deactivate`" in e for e in [c.raw for c in bot.slack.calls_to("response_url")]
    )
    assert bot.slack.calls_to("chat.postMessage") == []
    assert bot.services.filing.open_requests(REQUESTER) == []
    assert key_statuses(iam) == {old_id: "Active", second: "Active"}


def test_a_user_in_rotation_is_not_rotated_again(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    rid = rotate(bot)
    clock.advance(days=7)
    bot.services.rotations.advance_due()  # old key inactive: a second rotation would delete it as its first step
    bot.command("rotate ci")
    refused = wait_ephemeral(bot, REQUESTER, f"is already being rotated ({rid}")
    assert ", old key deactivated)" in refused and "old_key_deactivated" not in refused  # the stage, not its code
    assert len([c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("channel") == "CAPPROVE"]) == 1


def _advance_together(*instances: Services) -> list[BaseException]:
    """advance_due() in one thread per instance, released at the same moment; returns their errors."""
    barrier = threading.Barrier(len(instances))
    errors: list[BaseException] = []

    def run(services: Services) -> None:
        barrier.wait()
        try:
            services.rotations.advance_due()
        except BaseException as e:  # reported to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(s,)) for s in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.both_databases
def test_concurrent_advance_deactivates_once(make_bot, make_services, aws, iam, clock: Clock) -> None:
    bot = make_bot()
    other = make_services()  # a second process on the same database
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    old_id = key_made(iam, "ci", 100, clock())
    rid = rotate(bot)
    calls = [update_calls(bot.services), update_calls(other)]
    clock.advance(days=7)

    for _ in range(2):  # and once more after the first pair: nothing left to do
        assert _advance_together(bot.services, other) == []

    assert sum(len(c) for c in calls) == 1
    assert rotation(bot, rid).state is S.OLD_KEY_DEACTIVATED and key_statuses(iam)[old_id] == "Inactive"
    actions = [action for _, action, _ in audit_trail(bot, rid)]
    assert actions.count("rotation_deactivating") == 1 and actions.count("rotation_deactivated") == 1
    assert len(owner_dms(bot, "now *deactivated*")) == 1


def _claim_deactivation(bot: BotServer, rid: str) -> None:
    """Leave the rotation as a process killed around the AWS call would: claimed, never finished."""
    r = rotation(bot, rid)
    assert rotation_store(bot).move(r, S.GRACE, S.DEACTIVATING, action="rotation_deactivating")


def test_crash_after_the_aws_call_is_reconciled_without_repeating_it(
    bot: BotServer, iam, old: tuple[str, str], clock
) -> None:
    old_id, _ = old
    rid = rotate(bot)
    clock.advance(days=7)
    _claim_deactivation(bot, rid)
    iam.update_access_key(UserName="ci", AccessKeyId=old_id, Status="Inactive")  # the call that did happen
    updates = update_calls(bot.services)
    assert bot.services.rotations.advance_due() == 0  # too recent: it may still be running
    assert rotation(bot, rid).state is S.DEACTIVATING
    clock.advance(minutes=11)
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.OLD_KEY_DEACTIVATED and updates == []
    assert owner_dms(bot, "now *deactivated*")
    trail = audit_trail(bot, rid)
    assert [a for _, a, _ in trail][-3:] == ["rotation_deactivating", "rotation_reconciling", "rotation_deactivated"]
    assert "confirmed in AWS" in trail[-1][2]


def test_crash_before_the_aws_call_runs_it_once(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    rid = rotate(bot)
    clock.advance(days=7)
    _claim_deactivation(bot, rid)
    updates = update_calls(bot.services)
    clock.advance(minutes=11)
    bot.services.rotations.advance_due()
    bot.services.rotations.advance_due()
    assert rotation(bot, rid).state is S.OLD_KEY_DEACTIVATED and updates == ["UpdateAccessKey"]
    assert key_statuses(iam)[old_id] == "Inactive"


def test_crash_between_reveal_and_rotation_start(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    bot.command("rotate ci")
    rid = filed_id(bot)
    store = request_store(bot)
    assert store.approve(rid, BOSS)[0] == "approved"
    assert store.transition(rid, Status.APPROVED, Status.EXECUTING, actor=REQUESTER, action="reveal_started")
    new_id = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]  # revealed, then the process died
    assert store.transition(
        rid, Status.EXECUTING, Status.SUCCEEDED, actor=REQUESTER, action="revealed", new_key_id=new_id
    )
    assert bot.services.rotations.get(rid) is None
    bot.services.rotations.advance_due()
    r = rotation(bot, rid)
    assert (r.state, r.old_key_id, r.new_key_id) == (S.GRACE, old_id, new_id)
    assert owner_dms(bot, f"the new key `{new_id}` is active")
    bot.services.rotations.advance_due()
    assert [a for _, a, _ in audit_trail(bot, rid)].count("rotation_started") == 1


def test_new_key_deleted_outside_cancels(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    rid = rotate(bot)
    iam.delete_access_key(UserName="ci", AccessKeyId=rotation(bot, rid).new_key_id)
    clock.advance(days=1)
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.CANCELLED
    assert owner_dms(bot, "was deleted or deactivated outside Keywarden")
    clock.advance(days=7)
    assert bot.services.rotations.advance_due() == 0
    assert key_statuses(iam) == {old_id: "Active"}


def test_old_key_deactivated_by_hand_ends_the_rotation(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    rid = rotate(bot)
    iam.update_access_key(UserName="ci", AccessKeyId=old_id, Status="Inactive")  # done by hand, outside Keywarden
    updates = update_calls(bot.services)
    clock.advance(days=7)
    assert bot.services.rotations.advance_due() == 1
    r = rotation(bot, rid)
    assert r.state is S.CANCELLED and updates == [] and "deactivated outside this rotation" in (r.note or "")
    assert audit_trail(bot, rid)[-1][1] == "rotation_cancelled"
    assert wait_owner_dm(bot, f"file `reactivate {old_id}`")
    bot.click(ids.ROLLBACK, rid, REQUESTER, channel="DALICE")  # a Reactivate button from before cannot undo it
    assert wait_ephemeral(bot, REQUESTER, f"was cancelled (`{old_id}` was found inactive")
    assert key_statuses(iam)[old_id] == "Inactive"
    clock.advance(days=10)
    assert bot.services.rotations.advance_due() == 0
    assert old_id in key_statuses(iam)  # the rotation no longer deletes it either


def test_old_key_deleted_by_hand_is_recorded(bot: BotServer, iam, old: tuple[str, str], clock: Clock) -> None:
    old_id, _ = old
    rid = rotate(bot)
    clock.advance(days=7)
    assert bot.services.rotations.advance_due() == 1  # the rotation's own deactivation
    iam.delete_access_key(UserName="ci", AccessKeyId=old_id)  # then deleted by hand
    clock.advance(days=1)
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.OLD_KEY_DELETED
    assert "already gone" in audit_trail(bot, rid)[-1][2]
    clock.advance(days=10)
    assert bot.services.rotations.advance_due() == 0


def test_break_glass_on_the_old_key_ends_the_rotation_and_reactivate_cannot_undo_it(
    bot: BotServer, iam, old: tuple[str, str], clock: Clock
) -> None:
    """Item 4: the rotation's Reactivate button must not reverse a break-glass: only its own deactivation."""
    old_id, _ = old
    rid = rotate(bot)
    new_id = rotation(bot, rid).new_key_id
    clock.advance(days=2)  # in the grace period
    bot.command(f"deactivate {old_id} --now seen in a public repo", user_id=BOSS)
    assert wait_ephemeral(bot, BOSS, "Break-glass")
    glass = next(e.request_id for e in bot.services.audit.all() if e.action == "break_glass")
    r = wait_rotation(bot, rid, S.CANCELLED)
    assert f"by request {glass}" in (r.note or "")
    assert wait_owner_dm(bot, f"file `reactivate {old_id}`")
    assert key_statuses(iam) == {old_id: "Inactive", new_id: "Active"}

    clock.advance(days=6)  # the grace period ends: the schedule has nothing to do with this key any more
    assert bot.services.rotations.advance_due() == 0
    bot.click(ids.ROLLBACK, rid, REQUESTER, channel="DALICE")  # the requester tries the roll-back anyway
    assert wait_ephemeral(bot, REQUESTER, f"file `reactivate {old_id}`: it goes to approval")
    assert key_statuses(iam) == {old_id: "Inactive", new_id: "Active"}
    assert rotation(bot, rid).state is S.CANCELLED

    bot.command(f"reactivate {old_id} false alarm")  # the normal way back: a request for approval
    back = filed_id(bot, 3)
    assert request(bot, back).status is Status.PENDING and key_statuses(iam)[old_id] == "Inactive"


def test_an_approved_deactivation_of_the_old_key_ends_the_rotation(
    bot: BotServer, iam, old: tuple[str, str], clock: Clock
) -> None:
    old_id, _ = old
    rid = rotate(bot)
    bot.command(f"deactivate {old_id} not needed", user_id=MALLORY)  # not the owner: two approvals
    deactivate = filed_id(bot, 2)
    bot.click(ids.APPROVE, deactivate, BOSS)
    assert wait_ephemeral(bot, BOSS, "1 of 2")
    bot.click(ids.APPROVE, deactivate, CARL)
    wait_status(bot, deactivate, Status.SUCCEEDED)
    r = wait_rotation(bot, rid, S.CANCELLED)
    assert f"by request {deactivate}" in (r.note or "")
    bot.click(ids.ROLLBACK, rid, REQUESTER, channel="DALICE")
    assert wait_ephemeral(bot, REQUESTER, "was cancelled")
    assert key_statuses(iam)[old_id] == "Inactive"


def refuse_once(services: Services, operation: str) -> None:
    """AWS answers the next call of `operation` with AccessDenied (later calls go through)."""
    left = [1]

    def answer(**kw: object) -> tuple[object, dict] | None:
        if not left[0]:
            return None
        left[0] -= 1
        error = {"Error": {"Code": "AccessDenied", "Message": "denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return SimpleNamespace(status_code=403, headers={}), error

    services.aws.account("default").client("iam").meta.events.register(f"before-call.iam.{operation}", answer)


def test_aws_refusing_a_step_is_retried_later_not_in_a_loop(
    bot: BotServer, iam, old: tuple[str, str], clock: Clock
) -> None:
    old_id, _ = old
    rid = rotate(bot)
    refuse_once(bot.services, "UpdateAccessKey")
    clock.advance(days=7)
    assert bot.services.rotations.advance_due() == 0
    r = rotation(bot, rid)
    assert r.state is S.GRACE and r.next_check_at == clock() + timedelta(hours=1)
    retry = audit_trail(bot, rid)[-1]
    assert retry[1] == "rotation_retry" and "iam:UpdateAccessKey" in retry[2]
    assert bot.services.rotations.advance_due() == 0 and key_statuses(iam)[old_id] == "Active"
    clock.advance(hours=1)
    assert bot.services.rotations.advance_due() == 1
    assert rotation(bot, rid).state is S.OLD_KEY_DEACTIVATED and key_statuses(iam)[old_id] == "Inactive"
