"""Pasted keys: signed message events into the real HTTP app, fake Slack and moto out."""

from __future__ import annotations

import json
import logging
import time

import boto3
import pytest
from sqlalchemy import select

from bot.slack import ids
from bot.store.models import AuditEvent, Base, Exposure
from tests.support.flows import buttons
from tests.support.harness import BotServer

POSTER, OWNER, BOSS, MALLORY = "UDAVE", "UALICE", "UBOSS", "UMALLORY"
SECRET = "q8Vw+3rKpZ/5nYtL0xHbE2aUcJ7mFs9dGi4oR1eN"  # has "/" and "+", as real secrets often do
TS = "1700000100.000100"


def paste(key_id: str) -> str:
    return f"here, use this:\n```\n[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {SECRET}\n```"


def secret_forms() -> list[str]:
    """The secret as itself, JSON-escaped as Slack sends it, and a long piece of it."""
    return [SECRET, SECRET.replace("/", "\\/"), SECRET[:14], SECRET[-14:]]


def assert_secret_nowhere(bot: BotServer, caplog: pytest.LogCaptureFixture) -> None:
    places = {
        "slack calls": bot.slack.all_text(),
        "tables": dump_tables(bot),
        "logs": caplog.text,
    }
    for where, text in places.items():
        for form in secret_forms():
            assert form not in text, f"the secret leaked into {where}"


def dump_tables(bot: BotServer) -> str:
    with bot.services.db.session() as session:
        return "\n".join(
            repr(row) for table in Base.metadata.sorted_tables for row in session.execute(select(table)).all()
        )


def alerts(bot: BotServer) -> list:
    return bot.slack.posts_to("CALERTS")


def exposures(bot: BotServer) -> list[Exposure]:
    with bot.services.db.session() as session:
        return list(session.scalars(select(Exposure).order_by(Exposure.id)))


def audited(bot: BotServer, action: str = "exposed") -> list[AuditEvent]:
    with bot.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def settle(bot: BotServer) -> None:
    bot.work.idle()


@pytest.fixture
def ci_key(bot: BotServer, ci_user: str) -> str:
    """Alice's `ci` key (tests/support/flows.py), and Dave in the workspace."""
    bot.slack.add_user(POSTER, email="dave@example.com")
    return ci_user


def test_a_pasted_key_gets_the_whole_response_once(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    reply = bot.message(paste(ci_key), user=POSTER, ts=TS)
    assert reply.status == 200 and time.monotonic() - started < 3

    alert = bot.slack.wait_posts("CALERTS")[0]
    assert f"`{ci_key}` of *ci*" in alert.raw and "default:" not in alert.raw and "Critical" in alert.raw  # one account
    assert buttons(alert) == [
        (ids.EXPOSURE_DEACTIVATE, f"default|{ci_key}"),
        (ids.EXPOSURE_ROTATE, f"default|{ci_key}"),
    ]
    settle(bot)
    thread = bot.slack.posts_to("CWORK", in_thread=True)
    assert len(thread) == 1 and thread[0].params["thread_ts"] == TS
    masked = f"{ci_key[:4]}…{ci_key[-4:]}"
    assert masked in json.loads(thread[0].raw)["text"] and ci_key not in thread[0].raw
    assert "Delete this message" in thread[0].raw and f"`{masked}` (ci)" in json.loads(thread[0].raw)["text"]
    assert "default:" not in thread[0].raw
    poster_dm = bot.slack.posts_to(POSTER)
    assert len(poster_dm) == 1 and "delete the message" in poster_dm[0].raw
    owner_dm = bot.slack.posts_to(OWNER)
    assert len(owner_dm) == 1 and buttons(owner_dm[0]) == buttons(alert)
    assert bot.slack.calls_to("chat.delete") == []  # no admin token: nothing deleted

    [row] = exposures(bot)
    assert (row.key_id, row.channel, row.message_ts, row.poster, row.source) == (ci_key, "CWORK", TS, POSTER, "slack")
    assert row.permalink and row.done_at and (row.account, row.iam_user, row.owner) == ("default", "ci", OWNER)
    [event] = audited(bot)
    assert (event.actor, event.key_id, event.account, event.iam_user) == (POSTER, ci_key, "default", "ci")
    assert "channel CWORK" in event.detail and "permalink" in event.detail and event.outcome == "critical"
    assert_secret_nowhere(bot, caplog)


def test_retries_edits_and_duplicates_repeat_nothing(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for retry in (None, 1, 2, 3):
        assert bot.message(paste(ci_key), user=POSTER, ts=TS, retry=retry, event_id="Ev1").status == 200
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "CWORK",
        "ts": "1700000101.000200",
        "message": {"type": "message", "user": POSTER, "text": paste(ci_key) + " (edited)", "ts": TS},
        "previous_message": {"type": "message", "user": POSTER, "text": paste(ci_key), "ts": TS},
    }
    assert bot.event(edited).status == 200
    settle(bot)
    bot.slack.wait_posts("CALERTS")
    settle(bot)
    assert len(alerts(bot)) == 1 and len(bot.slack.posts_to("CWORK", in_thread=True)) == 1
    assert len(bot.slack.posts_to(POSTER)) == 1 and len(bot.slack.posts_to(OWNER)) == 1
    assert len(exposures(bot)) == 1 and len(audited(bot)) == 1
    assert_secret_nowhere(bot, caplog)


def test_an_edit_that_adds_the_secret_is_an_exposure(bot: BotServer, ci_key: str) -> None:
    bot.message(f"is {ci_key} still used?", user=POSTER, ts=TS)
    settle(bot)
    assert exposures(bot) == [] and alerts(bot) == []
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "CWORK",
        "ts": "1700000102.000300",
        "message": {"type": "message", "user": POSTER, "text": paste(ci_key), "ts": TS},
    }
    bot.event(edited)
    assert ci_key in bot.slack.wait_posts("CALERTS")[0].raw


def test_with_an_admin_token_the_message_is_deleted(make_bot, aws, iam, slack, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(SLACK_ADMIN_TOKEN="xoxp-admin-token")
    iam.create_user(UserName="ci")
    key_id = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    bot.message(paste(key_id), user=POSTER, ts=TS)
    bot.slack.wait_posts("CALERTS")
    settle(bot)
    [deleted] = slack.calls_to("chat.delete")
    assert deleted.params == {"channel": "CWORK", "ts": TS} or (deleted.params["channel"], deleted.params["ts"]) == (
        "CWORK",
        TS,
    )
    assert deleted.headers.get("Authorization") == "Bearer xoxp-admin-token"
    [update] = [c for c in slack.calls_to("chat.update") if c.params.get("channel") == "CWORK"]
    assert "I deleted it" in update.raw
    assert "has been deleted" in slack.posts_to(POSTER)[0].raw
    assert exposures(bot)[0].deleted == "deleted"
    assert_secret_nowhere(bot, caplog)


def test_a_key_of_an_unmanaged_account_is_alerted_without_buttons(bot: BotServer, aws) -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    creds = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/admin", RoleSessionName="test")["Credentials"]
    other = boto3.client(
        "iam",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    other.create_user(UserName="theirs")
    key_id = other.create_access_key(UserName="theirs")["AccessKey"]["AccessKeyId"]
    bot.message(paste(key_id), user=POSTER, ts=TS)
    alert = bot.slack.wait_posts("CALERTS")[0]
    assert "222222222222" in alert.raw and "not managed by Keywarden" in alert.raw and buttons(alert) == []
    settle(bot)
    assert exposures(bot)[0].aws_account_id == "222222222222" and exposures(bot)[0].account is None


def test_what_is_not_an_exposure_gets_no_alarm(bot: BotServer, ci_key: str) -> None:
    def own(text: str) -> dict:
        return {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "BBOT",
            "channel": "CWORK",
            "text": text,
            "ts": "1.2",
        }

    replies = [
        bot.message(f"the key {ci_key} gives AccessDenied, any idea?", user=POSTER, ts="1.1"),  # an id alone
        bot.event(own(paste(ci_key))),  # a bot's message
        bot.event({"type": "message", "bot_id": "BOTHER", "channel": "CWORK", "text": paste(ci_key), "ts": "1.3"}),
        bot.message(paste(ci_key), user=POSTER, ts="1.4", team_id="T999"),  # another workspace
        bot.message(f"{ci_key} commit da39a3ee5e6b4b0d3255bfef95601890afd80709", user=POSTER, ts="1.5"),
        bot.event({"type": "message", "subtype": "message_deleted", "channel": "CWORK", "ts": "1.6"}),
        bot.event({"type": "message", "channel": "CWORK", "user": POSTER, "ts": "1.7", "attachments": [{}]}),
    ]
    assert [r.status for r in replies] == [200] * len(replies)
    settle(bot)
    assert alerts(bot) == [] and exposures(bot) == [] and bot.slack.posts_to("CWORK", in_thread=True) == []


def test_bad_input_never_5xx_never_doubles_never_leaks(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    many = " ".join(f"AKIAQQQQQQQQQQQQ{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}QQ" for n in range(1000))
    bodies = [
        ("x" * 39_000) + "\n" + paste(ci_key),  # a 40,000-character message
        f"{ci_key} {many} {SECRET}",  # 1,000 key-like strings: 10 looked at
        "🔑 ключ " + paste(ci_key) + " 鍵 \u202e\u0000",
    ]
    for n, text in enumerate(bodies):
        assert bot.message(text, user=POSTER, ts=f"1700000200.00{n}").status == 200
    odd = [
        '{"type": "event_callback", "event": "nope"}',
        '{"type": "event_callback", "team_id": "T1", "event": {"type": "message", "text": 42, "channel": []}}',
        '{"type": "event_callback", "team_id": "T1", "event": {"type": "message", "subtype": "message_changed", "message": "x"}}',
        "[1, 2, 3]",
        "not json at all " + SECRET,
    ]
    for raw in odd:
        reply = bot.event({}, raw=raw)
        assert reply.status < 500, raw
    settle(bot)
    bot.slack.wait_posts("CALERTS", 3)
    settle(bot)
    assert len(alerts(bot)) == 3  # one per pasting message, never more
    rows = exposures(bot)
    assert len(rows) == 3 + 9  # the 1,000-id message: its first 10 ids (the real key and 9 others)
    assert "Traceback" not in bot.slack.all_text()
    assert_secret_nowhere(bot, caplog)


def test_deactivate_now_and_rotate_from_the_alert(bot: BotServer, ci_key: str, iam) -> None:
    bot.message(paste(ci_key), user=POSTER, ts=TS)
    bot.slack.wait_posts("CALERTS")
    settle(bot)
    value = f"default|{ci_key}"
    bot.click(ids.EXPOSURE_DEACTIVATE, value, MALLORY, channel="CALERTS")
    settle(bot)
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"
    refusal = bot.slack.calls_to("response_url")[-1].raw
    assert "Only the key's owner or an approver" in refusal

    bot.click(ids.EXPOSURE_ROTATE, value, OWNER, channel=f"D{OWNER}")
    settle(bot)
    assert any("rotate" in c.raw.lower() for c in bot.slack.posts_to("CAPPROVE"))

    bot.click(ids.EXPOSURE_DEACTIVATE, value, OWNER, channel=f"D{OWNER}")
    settle(bot)
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "Break-glass" in bot.slack.calls_to("response_url")[-1].raw


def test_list_and_check_show_the_exposure(bot: BotServer, ci_key: str) -> None:
    bot.message(paste(ci_key), user=POSTER, ts=TS)
    bot.slack.wait_posts("CALERTS")
    settle(bot)
    bot.command("list ci", user_id=OWNER)
    settle(bot)
    listed = bot.slack.calls_to("response_url")[-1].raw
    assert "exposed in Slack" in listed and "CWORK" in listed and POSTER in listed
    bot.command(f"check {ci_key}", user_id=OWNER)
    settle(bot)
    checked = bot.slack.calls_to("response_url")[-1]
    assert "This key was exposed" in checked.raw
    assert buttons(checked) == [
        (ids.EXPOSURE_DEACTIVATE, f"default|{ci_key}"),
        (ids.EXPOSURE_ROTATE, f"default|{ci_key}"),
    ]


def test_a_forged_message_event_is_logged_without_its_body(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="slack_bolt.RequestVerification")  # Bolt copied the level at start
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event": {"type": "message", "text": paste(ci_key)}})
    body = body.replace("/", "\\/")
    headers = bot.signed_headers(body, content_type="application/json")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert bot.post(body, headers).status == 401
    assert "Invalid request signature" in caplog.text and "body withheld" in caplog.text
    for form in secret_forms():
        assert form not in caplog.text


@pytest.mark.both_databases
def test_an_interrupted_response_is_finished_later_without_repeats(bot: BotServer, ci_key: str, clock) -> None:
    from datetime import timedelta

    from tests.support.fake_slack import Fault

    bot.slack.fail("chat.postMessage", Fault(200, {"ok": False, "error": "not_in_channel"}))  # the alert, sent first
    bot.message(paste(ci_key), user=POSTER, ts=TS)
    bot.slack.wait_posts(OWNER)
    settle(bot)
    [row] = exposures(bot)
    assert row.alert_ts is None and row.reply_ts and row.owner_told_at and row.done_at is None
    assert bot.services.exposures.resume_unfinished(timedelta(minutes=2)) == 0  # still fresh: maybe in progress
    clock.advance(minutes=5)
    assert bot.services.exposures.resume_unfinished(timedelta(minutes=2)) == 1
    assert len(bot.slack.posts_to("CWORK", in_thread=True)) == 1
    assert len(alerts(bot)) == 1 and len(bot.slack.posts_to(OWNER)) == 1 and len(bot.slack.posts_to(POSTER)) == 1
    assert len(audited(bot)) == 1 and exposures(bot)[0].done_at is not None
    clock.advance(minutes=5)
    assert bot.services.exposures.resume_unfinished(timedelta(minutes=2)) == 0


def test_a_key_pasted_in_a_group_dm_is_caught_too(bot: BotServer, ci_key: str) -> None:
    """manifest.yaml subscribes to message.mpim: a group DM the bot was added to is watched like a channel."""
    event = {"type": "message", "channel": "GMPDM01", "user": POSTER, "text": paste(ci_key), "ts": TS}
    assert bot.event({**event, "channel_type": "mpim"}).status == 200
    alert = bot.slack.wait_posts("CALERTS")[0]
    assert f"`{ci_key}` of *ci*" in alert.raw and "default:" not in alert.raw
    settle(bot)
    [row] = exposures(bot)
    assert (row.key_id, row.channel, row.poster) == (ci_key, "GMPDM01", POSTER)
