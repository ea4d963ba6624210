"""What owners and the alert channel read after a scan: keys counted as keys, plural forms, titles rather than
codes, no account prefix with one account, times in the reader's zone, and no nagging about Keywarden's own
work (a rotation's grace period, a key an approved create just made)."""

from __future__ import annotations

import json
import re

from slack_sdk.models.blocks import Block

from bot.domain.catalogue import CATALOGUE, LEGACY_CODES
from bot.domain.findings import KEY_TOO_OLD, KEY_UNUSED, TWO_ACTIVE_KEYS
from bot.domain.requests import Status
from bot.slack import ids
from tests.support.fake_slack import Call
from tests.support.flows import (
    BOSS,
    REQUESTER,
    dms,
    filed_id,
    make_key,
    rotate,
    rotation,
    tagged,
    wait_status,
)
from tests.support.harness import BotServer
from tests.support.slack_text import SLACK_DATE, slack_dates

# A finding code (or its old snake_case name) as a word of its own: what people should never be shown.
CODES = re.compile(r"(?<![\w-])(" + "|".join(re.escape(c) for c in (*CATALOGUE, *LEGACY_CODES)) + r")(?![\w-])")


def posts(bot: BotServer, channel: str) -> list[Call]:
    """New messages in a channel or DM (not replies in a thread)."""
    return [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.params.get("channel") == channel and not c.params.get("thread_ts")
    ]


def blocks_of(call: Call) -> list[dict]:
    blocks = call.params["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def words(call: Call) -> str:
    """Everything a person reads in a message: its text and its blocks' text, as Slack shows it."""
    return call.params.get("text", "") + "\n" + json.dumps(blocks_of(call))


def assert_reads_like_a_person_wrote_it(call: Call) -> None:
    for block in blocks_of(call):  # Block Kit that slack_sdk's models parse back to the same JSON
        parsed = Block.parse(block)
        assert parsed is not None and parsed.to_dict() == block, block
        parsed.validate_json()
    text = words(call)
    assert "(s)" not in text and "default:" not in text, text  # plural forms; one account, no prefix
    assert "UTC" not in SLACK_DATE.sub("", text), text  # every time in Slack's date formatting
    shown = " ".join(json.dumps(b.get("text", "")) for b in blocks_of(call))  # not the buttons' values
    assert not CODES.search(shown), shown


def buttons_of(call: Call) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in blocks_of(call) if b["type"] == "actions" for e in b["elements"]]


def test_an_owner_is_told_how_many_keys_need_attention_not_how_many_findings(bot: BotServer, iam) -> None:
    now = bot.services.clock()
    bot.slack.add_user("UALICE", email="alice@example.com")
    bot.slack.add_user("UBOB", email="bob@example.com")
    tagged(iam, "old-svc", owner="alice@example.com")
    tagged(iam, "pair-svc", owner="alice@example.com")
    tagged(iam, "warn-svc", owner="bob@example.com")
    old = make_key(iam, "old-svc", 120, now)  # too old and never used: two findings, one key
    pair_old = make_key(iam, "pair-svc", 120, now, used_days_ago=1)  # too old, and its user has two active keys
    make_key(iam, "pair-svc", 5, now, used_days_ago=1)
    warn = make_key(iam, "warn-svc", 85, now, used_days_ago=1)

    report, delivery = bot.services.scan(post=True)
    alices = [f for f in report.findings if f.owner == "alice@example.com"]
    assert len(alices) == 4 and {f.code for f in alices} == {KEY_TOO_OLD, KEY_UNUSED, TWO_ACTIVE_KEYS}

    (alice,) = posts(bot, "UALICE")
    assert alice.params["text"] == "2 of your AWS access keys need attention"
    assert "*2 of your AWS access keys need attention*" in words(alice)
    (bob,) = posts(bot, "UBOB")
    assert bob.params["text"] == "1 of your AWS access keys needs attention" and warn in words(bob)
    for call in (alice, bob):
        assert_reads_like_a_person_wrote_it(call)
    assert "*old-svc* `" in words(alice) and "*pair-svc* `" in words(alice)

    # Rotate is offered only where it can work: not on a user with two active keys (it would be refused).
    offered = buttons_of(alice)
    assert (ids.ALERT_ROTATE, f"default|{old}") in offered
    assert (ids.ALERT_ROTATE, f"default|{pair_old}") not in offered
    assert {(ids.ALERT_DEACTIVATE, f"default|{pair_old}"), (ids.ALERT_SNOOZE, f"default|{pair_old}")} <= set(offered)

    (digest,) = posts(bot, "CALERTS")
    assert digest.params["text"] == "Key scan: 5 findings in 1 account"
    assert "2 owners messaged." in words(digest) and delivery.owners_messaged == 2
    assert "Older than the limit (IAM.3): 2" in words(digest) and "Two active keys: 1" in words(digest)
    assert_reads_like_a_person_wrote_it(digest)


def test_a_rotation_under_way_is_not_nagged_about(bot: BotServer, iam, old: tuple[str, str]) -> None:
    old_id, _ = old
    rid = rotate(bot)
    r = rotation(bot, rid)
    dms_before = len(posts(bot, REQUESTER))

    report, delivery = bot.services.scan(post=True)
    quiet = {(f.code, f.key_id) for f in report.findings if f.under_way is not None}
    assert quiet == {(KEY_TOO_OLD, old_id), (KEY_UNUSED, old_id), (TWO_ACTIVE_KEYS, None)}
    assert all(f.under_way is not None for f in report.findings)  # nothing else to say about ci
    assert len(posts(bot, REQUESTER)) == dms_before and delivery.owners_messaged == 0  # no "Two active keys" DM

    (digest,) = posts(bot, "CALERTS")
    text = words(digest)
    assert digest.params["text"] == "Key scan: 0 findings in 1 account"
    assert "Two active keys" not in text and "finish the rotation" not in text
    assert f"rotation {rid} of *ci* is under way: the old key `{old_id}` is checked on" in text
    assert "3 left to Keywarden's own work under way" in text
    checked = [d for d in slack_dates(text) if d[0] == int(r.grace_ends_at.timestamp())]
    assert checked == [
        (int(r.grace_ends_at.timestamp()), "{date_short_pretty} {time}", f"{r.grace_ends_at:%Y-%m-%d %H:%M} UTC")
    ]
    assert_reads_like_a_person_wrote_it(digest)


def test_a_key_an_approved_create_made_is_not_nagged_about_for_the_grace_period(
    bot: BotServer, iam, ci_user: str
) -> None:
    bot.command("create ci for the new pipeline")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.wait_for(lambda _: [d for d in dms(bot, REQUESTER) if ids.REVEAL in d])
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id="T-reveal")
    new_key = wait_status(bot, rid, Status.SUCCEEDED).new_key_id
    dms_before = len(posts(bot, REQUESTER))

    report, _ = bot.services.scan(post=True)
    (pair,) = [f for f in report.findings if f.code == TWO_ACTIVE_KEYS]
    assert pair.under_way is not None and pair.under_way.request_id == rid
    assert len(posts(bot, REQUESTER)) == dms_before
    (digest,) = posts(bot, "CALERTS")
    assert f"*ci* has a new key, `{new_key}` (request {rid}): two active keys are expected until" in words(digest)
    assert_reads_like_a_person_wrote_it(digest)

    bot.services.clock.advance(days=8)  # the grace period is over: two active keys are worth a word now
    report, _ = bot.services.scan(post=True)
    (pair,) = [f for f in report.findings if f.code == TWO_ACTIVE_KEYS]
    assert pair.under_way is None
    told = posts(bot, REQUESTER)[-1]
    assert told.params["text"] == "1 of your IAM users needs attention" and "Two active keys" in words(told)
    assert not [b for b in buttons_of(told) if b[0] == ids.ALERT_ROTATE]
    assert_reads_like_a_person_wrote_it(told)
