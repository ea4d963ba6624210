"""Words a person would write, over the real surface: slash-command replies, the exposure response and break-glass
say only what happened, offer the next step as a button, show titles rather than codes, read key ids as people
paste them, and list the commands a person may run."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from bot.slack import ids
from tests.support.aws_faults import aws_error
from tests.support.fake_aws_usage import FakeUsageAws, usage_endpoints
from tests.support.flows import BOSS, MALLORY, REQUESTER, filed_id, key_made, rotate
from tests.support.harness import BotServer
from tests.support.slack_text import texts_in

POSTER = "UDAVE"
SECRET = "q8Vw+3rKpZ/5nYtL0xHbE2aUcJ7mFs9dGi4oR1eN"


def paste(key_id: str) -> str:
    return f"use this:\naws_access_key_id = {key_id}\naws_secret_access_key = {SECRET}"


def replies(bot: BotServer, user: str) -> list[dict[str, Any]]:
    """The ephemeral answers sent to `user` through a response_url, parsed."""
    return [json.loads(c.raw) for c in bot.slack.calls_to("response_url") if c.path.endswith(user)]


def text_of(message: dict[str, Any]) -> str:
    """Every text a message asks Slack to show: its fallback and its blocks' (sections, contexts, buttons)."""
    blocks = message.get("blocks") or []
    return "\n".join([message.get("text") or "", *texts_in(json.loads(blocks) if isinstance(blocks, str) else blocks)])


def reply_with(bot: BotServer, user: str, words: str) -> dict[str, Any]:
    """The first answer to `user` that shows `words`, once it arrived."""
    return bot.slack.wait_for(lambda _: next((r for r in replies(bot, user) if words in text_of(r)), None))


def buttons(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    blocks = message.get("blocks") or []
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return [
        (e["text"]["text"], e["action_id"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]
    ]


def deny_in_aws(bot: BotServer, call: str) -> None:
    """AWS refuses Keywarden's own credentials this IAM call (AccessDenied), on every client the bot has."""
    for once in (False, True):
        client = bot.services.aws.account("default").client("iam", once=once)
        client.meta.events.register_first(f"before-call.iam.{call}", aws_error("AccessDenied", 403), unique_id=call)


# Rule: read input as people paste it.


@pytest.mark.parametrize("pasted", ["`{}`", "\u201c{}\u201d", "'{}',"])
def test_a_key_id_pasted_in_quotes_or_code_marks_is_answered_about_the_key(
    bot: BotServer, ci_user: str, pasted: str
) -> None:
    bot.command(f"check {pasted.format(ci_user)}", user_id=REQUESTER)
    answer = text_of(reply_with(bot, REQUESTER, "Next step"))
    assert f"`{ci_user}` belongs to IAM user *ci*" in answer
    assert "Problems with how" not in answer and "characters long" not in answer

    bot.command(f"deactivate {pasted.format(ci_user)} no longer used", user_id=REQUESTER)
    rid = filed_id(bot)
    assert ci_user in bot.slack.posts_to("CAPPROVE")[0].raw and rid


# Rule: say only what happened (AWS refusing Keywarden; operator detail to the log).


def test_check_without_access_to_aws_says_it_could_not_look(bot: BotServer, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    deny_in_aws(bot, "GetAccessKeyLastUsed")
    bot.command(f"check {ci_user}", user_id=REQUESTER)
    answer = text_of(reply_with(bot, REQUESTER, "Next step"))
    assert f"Keywarden could not look for `{ci_user}`: AWS does not allow it" in answer  # one account: not named
    assert "whether the key is there is unknown" in answer
    assert "deleted or never existed" not in answer and "not found in any configured account" not in answer
    assert "member-policy.json" not in answer  # the operator's detail goes to the log
    assert "iam:GetAccessKeyLastUsed" in caplog.text and "member-policy.json" in caplog.text

    # A request on such a key is refused with the same words: nothing is filed.
    bot.command(f"deactivate {ci_user}", user_id=REQUESTER)
    refused = text_of(reply_with(bot, REQUESTER, "Nothing was changed"))
    assert "could not look for" in refused and "not found" not in refused
    assert bot.slack.posts_to("CAPPROVE") == []


def test_aws_refusing_keywarden_is_told_in_peoples_words(bot: BotServer, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    deny_in_aws(bot, "ListAccessKeys")
    bot.command("list ci", user_id=REQUESTER)
    answer = text_of(reply_with(bot, REQUESTER, "Nothing was done"))
    assert "AWS does not allow Keywarden to do this. Nothing was done." in answer  # one account: not named
    assert "can see why in its log (reference `" in answer
    reference = answer.split("reference `")[1].split("`")[0]
    assert "docs/iam" not in answer and "Keywarden's role needs" not in answer
    logged = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert logged and "iam:ListAccessKeys" in logged[0] and "member-policy.json" in logged[0]


# Rule: say only what happened (the exposure response).


def test_the_thread_reply_names_only_those_who_were_told(bot: BotServer, iam) -> None:
    bot.slack.add_user(POSTER, email="dave@example.com")
    iam.create_user(UserName="orphan")  # no owner tag
    orphan = key_made(iam, "orphan", 10, bot.services.clock())
    bot.message(paste(orphan), user=POSTER, ts="1700000100.000100")
    bot.slack.wait_posts("CALERTS")
    bot.work.idle()
    [thread] = bot.slack.posts_to("CWORK", in_thread=True)
    said = json.loads(thread.raw)["text"]
    assert "The security team has been alerted (Keywarden knows no owner of this key)." in said
    assert "owner and the security team" not in said
    [poster_dm] = bot.slack.posts_to(POSTER)
    assert "The security team has been alerted" in text_of(json.loads(poster_dm.raw))


def test_the_thread_reply_names_the_owner_once_the_owner_was_told(bot: BotServer, ci_user: str) -> None:
    bot.slack.add_user(POSTER, email="dave@example.com")
    bot.message(paste(ci_user), user=POSTER, ts="1700000100.000100")
    bot.slack.wait_posts("CALERTS")
    bot.work.idle()
    [thread] = bot.slack.posts_to("CWORK", in_thread=True)
    assert "The key's owner and the security team have been alerted." in json.loads(thread.raw)["text"]
    assert len(bot.slack.posts_to(REQUESTER)) == 1  # the owner's DM, sent before the reply said so


# Rule: the next step is a button.


def test_check_of_an_exposed_active_key_offers_deactivate_now(bot: BotServer, ci_user: str, iam) -> None:
    bot.slack.add_user(POSTER, email="dave@example.com")
    bot.slack.add_user(MALLORY, email="mallory@example.com")
    bot.message(paste(ci_user), user=POSTER, ts="1700000100.000100")
    bot.slack.wait_posts("CALERTS")
    bot.work.idle()

    bot.command(f"check {ci_user}", user_id=REQUESTER)
    answer = reply_with(bot, REQUESTER, "This key was exposed")
    assert buttons(answer) == [
        ("Deactivate now", ids.EXPOSURE_DEACTIVATE, f"default|{ci_user}"),
        ("Rotate", ids.EXPOSURE_ROTATE, f"default|{ci_user}"),
    ]
    shown = text_of(answer)
    assert "*Next step:* deactivate it now" in shown and "The key is active" not in shown

    # Someone who may not use the buttons is not offered them.
    bot.command(f"check {ci_user}", user_id=MALLORY)
    other = reply_with(bot, MALLORY, "This key was exposed")
    assert buttons(other) == [] and "its owner or an approver for it should deactivate it now" in text_of(other)

    # The button does what it says, and its answer says why the key was switched off.
    bot.click(ids.EXPOSURE_DEACTIVATE, f"default|{ci_user}", REQUESTER, channel=f"D{REQUESTER}")
    done = text_of(reply_with(bot, REQUESTER, "Break-glass"))
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "The approvers have been told in <#CAPPROVE>." in done
    approval = text_of(json.loads(bot.slack.wait_posts("CAPPROVE")[0].raw))
    assert "the key was reported exposed" in approval


# Rule: say only what happened (break-glass).


def test_break_glass_says_what_was_done_and_the_reason_given(bot: BotServer, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user} --now moving the pipeline to a role", user_id=REQUESTER)
    post = json.loads(bot.slack.wait_posts("CAPPROVE")[0].raw)
    bot.work.idle()
    final = bot.slack.calls_to("chat.update") or bot.slack.posts_to("CAPPROVE")
    shown = text_of(json.loads(final[-1].raw))
    assert f"<@{REQUESTER}> deactivated `{ci_user}` of *ci* at once (break-glass), for review" in shown
    assert "*Reason:* moving the pipeline to a role" in shown
    assert "asks to" not in shown and "suspected compromise" not in shown
    assert "asks to" not in post["text"]
    answer = text_of(reply_with(bot, REQUESTER, "Break-glass"))
    assert "The approvers have been told in <#CAPPROVE>." in answer


# Rule: people see titles, never codes.


def test_audit_shows_titles_and_says_how_to_read_the_rest(bot: BotServer, ci_user: str) -> None:
    bot.slack.add_user(MALLORY, email="mallory@example.com")
    bot.command(f"deactivate {ci_user} tidy up", user_id=REQUESTER)
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, MALLORY)  # refused: not an approver
    reply_with(bot, MALLORY, "")
    bot.command("audit ci", user_id=BOSS)
    shown = text_of(reply_with(bot, BOSS, "Recent audit events"))
    assert "*Request filed*" in shown and "*Refused: not an approver*" in shown
    for code in ("*requested*", "*refused*", "(refused)", "reveal_started", "rotation_grace"):
        assert code not in shown
    assert "older ones" not in shown  # all of them are shown

    for _ in range(20):  # Nudge refused twenty times: more rows than one answer shows
        bot.click(ids.NUDGE, rid, MALLORY)
    bot.slack.wait_for(lambda _: len(replies(bot, MALLORY)) >= 21)
    bot.command("audit", user_id=BOSS)
    longer = text_of(reply_with(bot, BOSS, "older ones"))
    assert "`audit <user | key-id>`" in longer and "`python -m bot audit --json`" in longer
    codes = [e.action for e in bot.services.audit.recent(limit=50)]
    assert "requested" in codes and "refused" in codes  # the log and `audit --json` keep the codes


# Rule: help by role.


def test_help_lists_what_each_person_may_run(bot: BotServer) -> None:
    bot.slack.add_user("UGUEST", email="guest@example.com", guest="multi")
    for member in (BOSS, REQUESTER):
        bot.slack.add_user(member, email=f"{member.lower()}@example.com")
    approver = bot.command("help", user_id=BOSS).json()
    other = bot.command("help", user_id=REQUESTER).json()
    guest = bot.command("help", user_id="UGUEST").json()
    everything = text_of(approver)
    assert everything.index("*Anyone*") < everything.index("*The owner of") < everything.index("*Approvers*")
    assert "`/awskeys audit ci-deployer`" in everything and "`/awskeys scan`" in everything
    assert "`help`, e.g." not in everything and ", e.g. `/awskeys requests`" not in everything
    mine = text_of(other)
    assert "*Anyone*" in mine and "*The owner of" in mine and "*Approvers*" not in mine
    assert "/awskeys scan" not in mine and "_Approvers also have `audit` and `scan`._" in mine
    assert "--now" in mine.split("*The owner of")[1]  # break-glass is the owner's, not anyone's
    assert "you can use only `/awskeys help`" in text_of(guest) and "*Anyone*" not in text_of(guest)


# Rule: plurals.


def test_one_of_a_thing_is_one(bot: BotServer, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user} tidy up", user_id=REQUESTER)
    filed_id(bot)
    bot.command("requests", user_id=REQUESTER)
    assert reply_with(bot, REQUESTER, "Your open requests")["text"] == "1 open request"
    bot.command("list ci", user_id=REQUESTER)
    assert reply_with(bot, REQUESTER, "of 1 IAM user")["text"] == "1 access key of 1 IAM user"
    for r in replies(bot, REQUESTER):
        assert "(s)" not in text_of(r)


# Rule: `activity` compares with a rotation only when there was one.


@pytest.fixture
def trail(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUsageAws]:
    """CloudTrail on loopback (moto has none); every other IAM call goes on to moto's server."""
    with usage_endpoints(moto_url, monkeypatch) as server:
        yield server


def new_addresses(bot: BotServer, key: str) -> str:
    bot.command(f"activity {key}", user_id=REQUESTER)
    shown = text_of(reply_with(bot, REQUESTER, "Source IP addresses"))
    return shown[shown.index("New addresses") :]


def test_a_new_key_is_no_rotation_for_new_addresses(
    make_bot: Callable[..., BotServer], aws: None, trail: FakeUsageAws, iam
) -> None:
    bot = make_bot()
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    now = bot.services.clock()
    key = key_made(iam, "ci", 200, now)
    with time_machine.travel(now - timedelta(minutes=1), tick=False):
        iam.create_access_key(UserName="ci")  # `create` a minute ago: a second key, not a rotation
    trail.add_event("us-east-1", key, now - timedelta(days=20), ip="203.0.113.1")
    trail.add_event("us-east-1", key, now - timedelta(minutes=10), ip="192.0.2.7")

    shown = new_addresses(bot, key)
    assert "never seen before the first half of the period" in shown and "`192.0.2.7`" in shown
    assert "rotation" not in shown


def test_new_addresses_since_the_rotation_that_replaced_the_key(
    make_bot: Callable[..., BotServer], aws: None, trail: FakeUsageAws, iam, clock
) -> None:
    bot = make_bot()
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    old = key_made(iam, "ci", 100, clock())
    rotate(bot)
    rotated = clock()
    clock.advance(hours=2)
    trail.add_event("us-east-1", old, rotated - timedelta(days=3), ip="203.0.113.1")
    trail.add_event("us-east-1", old, rotated + timedelta(hours=1), ip="198.51.100.4")

    shown = new_addresses(bot, old)
    assert "never seen before the rotation that replaced it" in shown and "`198.51.100.4`" in shown
