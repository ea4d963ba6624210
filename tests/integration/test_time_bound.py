"""Time-bound keys end to end: `create --for` over signed Slack requests, moto and the fake Slack, the clock's periodic
work run in-process (`housekeeping`'s `run_once`), time moved by the test clock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.domain.requests import Status
from bot.entrypoints.housekeeping import run_once
from bot.slack import ids
from tests.support.aws_faults import aws_error
from tests.support.flows import (
    BOSS,
    REQUESTER,
    dms,
    filed_id,
    request,
    request_store,
    time_bound_key,
    wait_ephemeral,
    wait_status,
)
from tests.support.harness import BotServer
from tests.support.harness import TestClock as Clock


def statuses(iam, user: str = "ci") -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def steps(bot: BotServer, rid: str) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in bot.services.audit.all() if e.request_id == rid and "time_bound" in e.action]


def owner_told(bot: BotServer, text: str) -> list[str]:
    return [d for d in dms(bot, REQUESTER) if text in d]


def approval_text(bot: BotServer) -> str:
    """The text of every block of the latest version of the approval message."""
    calls = [c for c in bot.slack.calls if c.method in ("chat.postMessage", "chat.update")]
    last = [c for c in calls if c.params.get("channel") == "CAPPROVE"][-1]
    blocks = last.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return "\n".join(b["text"]["text"] for b in blocks if "text" in b)


def test_a_key_for_one_hour_is_warned_switched_off_and_deleted(bot: BotServer, iam, ci_user: str, clock: Clock) -> None:
    bot.command("create ci --for 1h one-off migration")
    rid = filed_id(bot)
    pending = approval_text(bot)
    ends = clock() + timedelta(hours=1)
    assert "*Time-bound key* (1 hour)" in pending and f"<!date^{int(ends.timestamp())}^" in pending
    assert request(bot, rid).valid_for_hours == 1 and request(bot, rid).reason == "one-off migration"

    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    clock.advance(minutes=10)  # revealed a little later: the hour counts from the key's creation
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id="T-reveal")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    key = done.new_key_id
    assert done.key_ends_at == clock() + timedelta(hours=1) and statuses(iam)[key] == "Active"
    bot.work.idle()  # the approval message is updated after the key is recorded
    assert f"switched off <!date^{int(done.key_ends_at.timestamp())}^" in approval_text(bot)
    assert steps(bot, rid) == [("time_bound_started", "ok")]

    run_once(bot.services)  # a key of an hour is told at once (an hour before its end)
    assert len(owner_told(bot, "Your time-bound key")) == 1 and key in owner_told(bot, "Your time-bound key")[0]
    assert f"`{key}` of *ci*" in owner_told(bot, "Your time-bound key")[0]  # one account: no `default:`
    bot.command("list ci")
    assert key in wait_ephemeral(bot, REQUESTER, "expires")
    run_once(bot.services)
    assert len(owner_told(bot, "Your time-bound key")) == 1  # told once
    assert statuses(iam)[key] == "Active"

    clock.advance(minutes=59)
    run_once(bot.services)
    assert statuses(iam)[key] == "Active"  # not a minute early
    clock.advance(minutes=1)
    run_once(bot.services)
    assert statuses(iam)[key] == "Inactive" and statuses(iam)[ci_user] == "Active"
    assert owner_told(bot, "was switched off: its time was up")

    clock.advance(hours=23, minutes=59)
    run_once(bot.services)
    assert key in statuses(iam)
    clock.advance(minutes=1)
    run_once(bot.services)
    assert key not in statuses(iam) and statuses(iam) == {ci_user: "Active"}
    assert owner_told(bot, "was deleted, a day after its time was up")
    assert steps(bot, rid) == [
        ("time_bound_started", "ok"),
        ("time_bound_warned", "ok"),
        ("time_bound_deactivating", "ok"),
        ("time_bound_deactivated", "ok"),
        ("time_bound_deleting", "ok"),
        ("time_bound_deleted", "ok"),
    ]
    run_once(bot.services)
    assert len(steps(bot, rid)) == 6  # nothing more to do


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("create ci --for 0h", "`0h` is no time at all: a time-bound key lasts at least `1h`."),
        ("create ci --for 8x", "`8x` is not a duration: give hours or days, such as `8h` or `30d`"),
        ("create ci --for 91d", "`91d` is too long: a time-bound key lasts at most 90 days"),
        ("create ci --for", "`--for` needs a duration after it"),
        ("rotate ci --for 8h", "`--for` works only with `create`"),
    ],
)
def test_a_bad_duration_gets_one_line_and_nothing_is_filed(bot: BotServer, iam, ci_user: str, text: str, why: str):
    answer = bot.command(text).json()
    assert answer["response_type"] == "ephemeral" and why in answer["text"] and "\n" not in answer["text"]
    assert "Usage: `" in answer["text"]
    bot.work.idle()
    assert bot.slack.calls_to("chat.postMessage") == [] and request_store(bot).open_for(REQUESTER) == []
    assert [e.action for e in bot.services.audit.all()] == []


def test_the_request_form_takes_a_duration(bot: BotServer, iam, ci_user: str) -> None:
    def values(op: str, target: str, valid_for: str) -> dict:
        return {
            ids.BLOCK_OPERATION: {ids.INPUT: {"selected_option": {"value": op}}},
            ids.BLOCK_TARGET: {ids.INPUT: {"value": target}},
            ids.BLOCK_VALID_FOR: {ids.INPUT: {"value": valid_for}},
            ids.BLOCK_REASON: {ids.INPUT: {"value": "from the form"}},
        }

    bot.command("", trigger_id="T-modal")
    assert ids.BLOCK_VALID_FOR in bot.slack.wait_calls("views.open")[0].raw
    for op, target, valid_for, why in (
        ("create", "ci", "8x", "is not a duration"),
        ("create", "ci", "120d", "at most 90 days"),
        ("deactivate", ci_user, "8h", "works only with `create`"),
    ):
        bad = bot.submit_view(ids.REQUEST_MODAL, values(op, target, valid_for), REQUESTER).json()
        assert bad["response_action"] == "errors" and why in bad["errors"][ids.BLOCK_VALID_FOR]
    assert bot.slack.calls_to("chat.postMessage") == []
    bot.submit_view(ids.REQUEST_MODAL, values("create", "ci", "2d"), REQUESTER)
    rid = filed_id(bot)
    filed = request(bot, rid)
    assert (filed.valid_for_hours, filed.reason) == (48, "from the form")


def test_a_key_switched_off_by_someone_else_is_left_alone_and_not_deleted(
    bot: BotServer, iam, ci_user: str, clock: Clock
) -> None:
    done = time_bound_key(bot)
    key = done.new_key_id
    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")  # by hand, before its end
    clock.advance(hours=1)
    run_once(bot.services)
    assert steps(bot, done.id)[-1] == ("time_bound_left_alone", "cancelled")
    assert owner_told(bot, "someone else switched it off, so Keywarden leaves it alone")
    clock.advance(days=2)
    run_once(bot.services)
    assert statuses(iam)[key] == "Inactive"  # not deleted: it was not Keywarden's deactivation


def test_a_key_switched_on_again_after_its_end_is_not_deleted(bot: BotServer, iam, ci_user: str, clock: Clock) -> None:
    done = time_bound_key(bot)
    key = done.new_key_id
    clock.advance(hours=1)
    run_once(bot.services)
    assert statuses(iam)[key] == "Inactive"
    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Active")  # someone decided it is still needed
    clock.advance(days=1)
    run_once(bot.services)
    assert statuses(iam)[key] == "Active"
    assert steps(bot, done.id)[-1] == ("time_bound_left_alone", "cancelled")
    assert owner_told(bot, "someone switched it on, so Keywarden leaves it alone")


def test_a_key_deleted_by_someone_else_ends_quietly(bot: BotServer, iam, ci_user: str, clock: Clock) -> None:
    done = time_bound_key(bot)
    iam.delete_access_key(UserName="ci", AccessKeyId=done.new_key_id)
    clock.advance(hours=1)
    run_once(bot.services)
    assert steps(bot, done.id)[-1] == ("time_bound_gone", "cancelled")
    assert not owner_told(bot, "was switched off")


def test_aws_unreadable_changes_nothing_and_the_next_run_acts(
    bot: BotServer, iam, ci_user: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    done = time_bound_key(bot)
    run_once(bot.services)
    clock.advance(hours=1)
    down = [True]

    def answer(**kwargs: object) -> object:
        return aws_error("AccessDenied", 403)(**kwargs) if down[0] else None

    bot.services.aws.account("default").client("iam").meta.events.register("before-call.iam.ListAccessKeys", answer)
    run_once(bot.services)
    assert statuses(iam)[done.new_key_id] == "Active" and steps(bot, done.id)[-1] == ("time_bound_warned", "ok")
    assert "AWS could not be read" in caplog.text and "nothing was changed" in caplog.text
    down[0] = False
    run_once(bot.services)
    assert statuses(iam)[done.new_key_id] == "Inactive"


def test_aws_refusing_the_deactivation_gives_the_claim_back_and_retries(
    bot: BotServer, iam, ci_user: str, clock: Clock
) -> None:
    done = time_bound_key(bot)
    run_once(bot.services)
    clock.advance(hours=1)
    refusals = [1]

    def answer(**kwargs: object) -> object:
        if not refusals[0]:
            return None
        refusals[0] -= 1
        return aws_error("AccessDenied", 403)(**kwargs)

    bot.services.aws.account("default").client("iam").meta.events.register("before-call.iam.UpdateAccessKey", answer)
    run_once(bot.services)
    assert statuses(iam)[done.new_key_id] == "Active"
    assert steps(bot, done.id)[-2:] == [("time_bound_deactivating", "ok"), ("time_bound_retry", "retry")]
    run_once(bot.services)
    assert statuses(iam)[done.new_key_id] == "Active"  # tried again in a few minutes, not in a loop
    clock.advance(minutes=5)
    run_once(bot.services)
    assert statuses(iam)[done.new_key_id] == "Inactive"


@pytest.mark.both_databases
def test_a_claim_left_by_a_crash_is_finished_from_what_aws_shows(
    bot: BotServer, iam, ci_user: str, clock: Clock
) -> None:
    done = time_bound_key(bot)
    clock.advance(hours=1)
    store = bot.services.time_bound.keys
    k = store.get(done.id)
    claimed = store.move(k, k.state, type(k.state).DEACTIVATING, next_at=clock() + timedelta(minutes=10))
    iam.update_access_key(UserName="ci", AccessKeyId=done.new_key_id, Status="Inactive")  # the call went through
    run_once(bot.services)
    assert store.get(done.id) == claimed  # a claim is someone's for its timeout
    clock.advance(minutes=10)
    run_once(bot.services)
    assert store.get(done.id).state.value == "deactivated"
    assert [a for a, _ in steps(bot, done.id)][-2:] == ["time_bound_reconciling", "time_bound_deactivated"]
