"""Words a person would write, after the change: a change AWS refused is told in people's words with a log reference
(the permission and policy file go to the log), a break-glass shows the key as it left it and tells its requester
what they did, a time-bound key says when it ends, and states are words with who and when, never codes. Over signed
Slack requests, the fake Slack and moto."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.aws_faults import aws_error
from tests.support.flows import BOSS, REQUESTER, filed_id, wait_status
from tests.support.harness import BotServer
from tests.support.slack_text import message_text

REFERENCE = re.compile(r"reference `([0-9a-f]{8})`")


text_of = message_text


def latest_to(bot: BotServer, channel: str) -> str:
    """The text of the latest message posted or updated in `channel` (a user id: the bot's DM with them)."""
    calls = [
        c for c in bot.slack.calls if c.method in ("chat.postMessage", "chat.update") and c.params["channel"] == channel
    ]
    assert calls, f"nothing in {channel}"
    return text_of(calls[-1].params)


def answer(bot: BotServer, user: str, words: str) -> str:
    """The first ephemeral answer to `user` that shows `words`, once it arrived."""

    def found(_: object) -> str | None:
        for call in bot.slack.calls_to("response_url"):
            if call.path.endswith(user) and words in (shown := text_of(json.loads(call.raw))):
                return shown
        return None

    return bot.slack.wait_for(found)


def deny_in_aws(bot: BotServer, call: str) -> None:
    """AWS refuses Keywarden's own credentials this IAM call (AccessDenied), on every client the bot has."""
    for once in (False, True):
        client = bot.services.aws.account("default").client("iam", once=once)
        client.meta.events.register_first(f"before-call.iam.{call}", aws_error("AccessDenied", 403), unique_id=call)


def detail_logged(caplog, reference: str) -> str:
    logged = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert len(logged) == 1, logged
    return logged[0]


# Operator text stays in the log: a change AWS refused, and the Reveal window.


def test_a_change_aws_refuses_is_told_in_peoples_words(bot: BotServer, iam, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    bot.command(f"deactivate {ci_user} tidy up", user_id=REQUESTER)
    rid = filed_id(bot)
    deny_in_aws(bot, "UpdateAccessKey")
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.FAILED)
    bot.work.idle()

    approval, dm = latest_to(bot, "CAPPROVE"), latest_to(bot, REQUESTER)
    for shown in (approval, dm):
        assert "AWS does not allow Keywarden to do this. Nothing was changed." in shown  # one account: not named
        assert (
            "Whoever runs Keywarden can see why in its log" in shown and "file a new request once it is fixed" in shown
        )
        assert "iam:UpdateAccessKey" not in shown and "member-policy" not in shown and "AWS denied" not in shown
    reference = REFERENCE.search(dm).group(1)
    assert f"reference `{reference}`" in approval  # one failure, one reference
    logged = detail_logged(caplog, reference)
    assert rid in logged and "iam:UpdateAccessKey" in logged and "member-policy.json" in logged
    [failed] = [e for e in bot.services.audit.all() if e.request_id == rid and e.action == "failed"]
    assert "iam:UpdateAccessKey" in failed.detail and reference in failed.detail  # the audit keeps the detail
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"


def test_the_reveal_window_tells_a_refusal_in_peoples_words(bot: BotServer, iam, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    bot.command("create ci new pipeline", user_id=REQUESTER)
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    deny_in_aws(bot, "CreateAccessKey")
    bot.click(ids.REVEAL, rid, REQUESTER, channel=f"D{REQUESTER}", trigger_id="T-reveal")

    window = text_of(bot.slack.wait_calls("views.update")[0].params)
    assert "AWS does not allow Keywarden to do this. Nothing was changed." in window
    assert "iam:CreateAccessKey" not in window and "member-policy" not in window
    logged = detail_logged(caplog, REFERENCE.search(window).group(1))
    assert "iam:CreateAccessKey" in logged and "member-policy.json" in logged
    wait_status(bot, rid, Status.FAILED)
    bot.work.idle()
    assert "AWS does not allow Keywarden to do this" in latest_to(bot, REQUESTER)
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]] == [ci_user]


# Break-glass: the key as the action left it; the requester is told what they did.


def test_break_glass_shows_the_key_switched_off_and_tells_its_requester_what_they_did(
    bot: BotServer, ci_user: str
) -> None:
    bot.command(f"deactivate {ci_user} --now moving the pipeline to a role", user_id=REQUESTER)
    answer(bot, REQUESTER, "Break-glass")
    bot.work.idle()
    approval = latest_to(bot, "CAPPROVE")
    rid = re.search(r"R-[A-Z0-9]{6}", approval).group(0)
    assert wait_status(bot, rid, Status.SUCCEEDED)
    assert f"`{ci_user}` *Inactive* (was Active)," in approval and f"`{ci_user}` *Active*" not in approval

    dm = latest_to(bot, REQUESTER)
    assert dm.startswith(f"You deactivated `{ci_user}` of *ci* at once (break-glass) ({rid})")
    assert "Your request" not in dm and ": succeeded" not in dm


# Time-bound keys: when they end, where people look.


def test_a_time_bound_key_says_when_it_ends(bot: BotServer, ci_user: str, clock) -> None:
    bot.command("create ci --for 8h one-off migration", user_id=REQUESTER)
    filed = answer(bot, REQUESTER, "filed")
    earliest = clock() + timedelta(hours=8)
    assert "*Time-bound key* (8 hours)" in filed and f"at <!date^{int(earliest.timestamp())}^" in filed
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    clock.advance(minutes=30)
    bot.click(ids.REVEAL, rid, REQUESTER, channel=f"D{REQUESTER}", trigger_id="T-reveal")
    done = wait_status(bot, rid, Status.SUCCEEDED)

    bot.command(f"check {done.new_key_id}", user_id=REQUESTER)
    shown = answer(bot, REQUESTER, f"`{done.new_key_id}` belongs to")
    ends = int(done.key_ends_at.timestamp())
    assert f"*Time-bound key* (request {rid}): switched off <!date^{ends}^{{date_short_pretty}} {{time}}|" in shown
    assert "deleted a day later" in shown
    bot.command(f"check {ci_user}", user_id=REQUESTER)  # a key without an end says none
    assert "Time-bound" not in answer(bot, REQUESTER, f"`{ci_user}` belongs to")


# States are words, with who and when in the reader's zone.


def test_request_states_are_words_with_who_and_when(bot: BotServer, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user} tidy up", user_id=REQUESTER)
    rid = filed_id(bot)
    bot.command("requests", user_id=REQUESTER)
    listed = answer(bot, REQUESTER, "Your open requests")
    assert f"*{rid}*" in listed and ": waiting for approval, filed <!date^" in listed and "pending" not in listed

    bot.command(f"cancel {rid}", user_id=REQUESTER)
    answer(bot, REQUESTER, f"Request {rid} is cancelled.")
    bot.command(f"cancel {rid}", user_id=REQUESTER)
    again = answer(bot, REQUESTER, "can no longer be cancelled")
    assert f"{rid} was cancelled by you at <!date^" in again and "is cancelled and" not in again

    bot.click(ids.APPROVE, rid, BOSS)
    late = answer(bot, BOSS, "Already decided")
    assert f"{rid} was cancelled by its requester at <!date^" in late and " UTC" not in late.split("|")[0]
