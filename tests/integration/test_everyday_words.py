"""Words a person would write, the last of them: with one account no user is named `default:ci` and no text says
"in account `default`" (requests, break-glass, the App Home, rotation DMs, enforcement warnings, `list`, `check`,
AWS trouble), with several the account is named; `list` does not nag about Keywarden's own work (a rotation's grace
period, a key an approved create just made); dates in Slack are in the reader's zone (the CLI keeps UTC); and an AWS
error whose message is the operator's is told in people's words with a log reference. Over signed Slack requests,
the fake Slack and moto."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

from bot.domain.catalogue import TWO_ACTIVE_KEYS, title_of
from bot.domain.requests import Status
from bot.entrypoints.cli_scan import render_table
from bot.slack import ids
from tests.support.accounts import client_in
from tests.support.aws_faults import aws_error
from tests.support.fake_slack import Call
from tests.support.flows import (
    BOSS,
    REQUESTER,
    dms,
    filed_id,
    key_made,
    make_key,
    rotate,
    rotation,
    wait_status,
)
from tests.support.harness import BotServer
from tests.support.slack_text import SLACK_DATE, message_text

REFERENCE = re.compile(r"reference `([0-9a-f]{8})`")
SHOWN = ("chat.postMessage", "chat.update", "views.publish", "views.open", "views.update", "response_url")
PROD, DEV = "111111111111", "222222222222"
SECRET = "q8Vw+3rKpZ/5nYtL0xHbE2aUcJ7mFs9dGi4oR1eN"  # made up: a pasted key and its secret make an exposure


def text_of(call: Call) -> str:
    """Every text a call asks Slack to show: its fallback and its blocks' (or view's) texts."""
    message: dict[str, Any] = json.loads(call.raw) if call.method == "response_url" else call.params
    return message_text(message)


def everything_shown(bot: BotServer) -> list[str]:
    return [text_of(c) for c in bot.slack.calls if c.method in SHOWN]


def answer(bot: BotServer, user: str, words: str) -> str:
    """The latest ephemeral answer to `user` that shows `words`, once it arrived."""

    def found(_: object) -> str | None:
        shown = [text_of(c) for c in bot.slack.calls_to("response_url") if c.path.endswith(user)]
        return next((s for s in reversed(shown) if words in s), None)

    return bot.slack.wait_for(found)


def latest_to(bot: BotServer, channel: str) -> str:
    calls = [c for c in bot.slack.calls if c.method in ("chat.postMessage", "chat.update")]
    return text_of([c for c in calls if c.params.get("channel") == channel][-1])


def exposure_alert(bot: BotServer, key_id: str) -> str:
    """`key_id` pasted with a secret in a channel: the critical alert the alert channel gets."""
    bot.message(f"aws_access_key_id = {key_id}\naws_secret_access_key = {SECRET}", user=REQUESTER)

    def found(calls: list[Call]) -> str | None:
        alerts = [text_of(c) for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == "CALERTS"]
        return next((t for t in alerts if "Critical" in t and key_id in t), None)

    alert: str = bot.slack.wait_for(found)
    bot.work.idle()  # the thread reply and the DMs too
    return alert


def open_home(bot: BotServer, user: str, count: int) -> str:
    assert bot.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}).status == 200
    published = bot.slack.wait_calls("views.publish", count)
    return text_of(published[-1])


# One account, no prefix; several accounts, the account named.


def test_one_account_is_never_named(make_bot, aws, iam, clock) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    ci_user = key_made(iam, "ci", 30, clock())
    bot.command(f"deactivate {ci_user} tidy up", user_id=REQUESTER)
    filed = answer(bot, REQUESTER, "filed")
    assert f"*deactivate* `{ci_user}` of *ci*" in filed
    rid = filed_id(bot)
    assert f"asks to *deactivate* `{ci_user}` of *ci*" in latest_to(bot, "CAPPROVE")
    bot.command("requests", user_id=REQUESTER)
    assert f"*{rid}* *deactivate* `{ci_user}` of *ci*" in answer(bot, REQUESTER, "Your open requests")
    home = open_home(bot, REQUESTER, 2)  # published at once, then again from AWS
    assert f"*{rid}*: *deactivate* `{ci_user}` of *ci* · waiting for approval" in home

    other = key_made(iam, "ci", 10, clock())
    bot.command(f"deactivate {other} --now moving to a role", user_id=REQUESTER)
    answer(bot, REQUESTER, "Break-glass")
    bot.work.idle()
    assert f"deactivated `{other}` of *ci* at once (break-glass)" in latest_to(bot, "CAPPROVE")
    assert latest_to(bot, REQUESTER).startswith(f"You deactivated `{other}` of *ci* at once (break-glass)")

    bot.command("list ghost", user_id=REQUESTER)
    assert "No IAM user `ghost`." in answer(bot, REQUESTER, "ghost")
    bot.command(f"check {ci_user}", user_id=REQUESTER)
    assert f"`{ci_user}` belongs to IAM user *ci*.\n" in answer(bot, REQUESTER, "belongs to")

    iam.create_user(UserName="idle-svc", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    idle = key_made(iam, "idle-svc", 100, clock())
    start = clock()
    bot.services.scan(post=True)  # the finding is opened: 60 days from now it is enforced
    clock.now = start + timedelta(days=57.5)
    bot.services.scan(post=True)  # within three days of the deadline: the owner is warned
    warning = next(t for t in everything_shown(bot) if "will be deactivated" in t)
    assert f"Your key `{idle}` (*idle-svc*) will be deactivated" in warning
    assert f"`{idle}` of *idle-svc*" in exposure_alert(bot, idle)  # and in the thread and DMs, checked below

    shown = everything_shown(bot)
    assert not [t for t in shown if "default:" in t or "in account `default`" in t or "account *default*" in t]


def test_a_rotation_names_the_user_without_the_account(bot: BotServer, old: tuple[str, str]) -> None:
    rid = rotate(bot)
    assert any(f"Rotation {rid} of *ci*: the new key" in t for t in everything_shown(bot))
    bot.command("requests", user_id=REQUESTER)
    assert f"*{rid}* *ci* `{old[0]}`" in answer(bot, REQUESTER, "Your rotations in progress")
    assert not [t for t in everything_shown(bot) if "default:" in t]


def assumed_iam(account_id: str) -> Any:
    """IAM acting in `account_id`."""
    return client_in(account_id, "iam")


def test_with_several_accounts_users_are_named_by_account(make_bot, aws, clock) -> None:
    accounts = f"prod=arn:aws:iam::{PROD}:role/keywarden,dev=arn:aws:iam::{DEV}:role/keywarden"
    bot = make_bot(ACCOUNTS=accounts)
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    prod = assumed_iam(PROD)
    prod.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(prod, "ci", 30, clock())

    bot.command(f"deactivate {key} tidy up", user_id=REQUESTER)
    assert f"*deactivate* `{key}` of *prod:ci*" in answer(bot, REQUESTER, "filed")
    filed_id(bot)
    assert f"`{key}` of *prod:ci*" in latest_to(bot, "CAPPROVE")
    bot.command("list prod:ci", user_id=REQUESTER)
    assert "*prod:ci*, owner alice@example.com" in answer(bot, REQUESTER, ", owner alice@example.com")
    bot.command(f"check {key}", user_id=REQUESTER)
    assert f"`{key}` belongs to IAM user *ci* in account `prod`." in answer(bot, REQUESTER, "belongs to")
    bot.command("list prod:ghost", user_id=REQUESTER)
    assert "No IAM user `ghost` in account `prod`." in answer(bot, REQUESTER, "ghost")
    assert f"`{key}` of *prod:ci*" in exposure_alert(bot, key)


# `list` during Keywarden's own work: the work, not the findings it deals with.


def test_list_during_a_rotation_shows_the_rotation_not_its_findings(bot: BotServer, old: tuple[str, str]) -> None:
    old_id, _ = old
    bot.command("list ci", user_id=REQUESTER)
    before = answer(bot, REQUESTER, old_id)
    assert "days old (limit 90): rotate it." in before  # the old key's finding, before the rotation

    rid = rotate(bot)
    r = rotation(bot, rid)
    bot.command("list ci", user_id=REQUESTER)
    listed = answer(bot, REQUESTER, f"being replaced by `{r.new_key_id}`")
    assert title_of(TWO_ACTIVE_KEYS) not in listed and "keep the one in use" not in listed  # no "two active keys"
    assert "rotate it." not in listed and "if nothing needs it" not in listed  # nor on the key being replaced
    assert f"(rotation {rid})" in listed and f"grace until <!date^{int(r.grace_ends_at.timestamp())}^" in listed
    assert f"`{r.new_key_id}` *Active*" in listed and f"new key of rotation {rid}" in listed

    bot.command(f"check {old_id}", user_id=REQUESTER)
    checked = answer(bot, REQUESTER, f"`{old_id}` belongs to")
    assert "keep the one in use" not in checked  # check does not nag either


def test_list_after_an_approved_create_says_the_second_key_is_expected(bot: BotServer, ci_user: str) -> None:
    bot.command("create ci new pipeline", user_id=REQUESTER)
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.click(ids.REVEAL, rid, REQUESTER, channel=f"D{REQUESTER}", trigger_id="T-reveal")
    made = wait_status(bot, rid, Status.SUCCEEDED)

    bot.command("list ci", user_id=REQUESTER)
    listed = answer(bot, REQUESTER, made.new_key_id)
    assert "keep the one in use" not in listed
    assert f":new: made by request {rid}; two active keys are expected until <!date^" in listed
    assert f":new: `{made.new_key_id}` was just made beside it (request {rid})" in listed


# Dates in the reader's zone in Slack; UTC in the CLI.


def test_key_dates_are_in_the_readers_zone_in_slack_and_utc_in_the_cli(bot: BotServer, iam, clock) -> None:
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="svc", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    now = clock()
    key = make_key(iam, "svc", 120, now, used_days_ago=3)
    created = now - timedelta(days=120)

    bot.command("list svc", user_id=REQUESTER)
    listed = answer(bot, REQUESTER, key)
    assert f"created <!date^{int(created.timestamp())}^{{date_short_pretty}}|{created:%Y-%m-%d}>, 120 days old" in (
        listed
    )
    assert re.search(r"last used <!date\^\d+\^\{date_short_pretty\}\|\d{4}-\d\d-\d\d> \(sts, us-east-1\)", listed)
    assert "UTC" not in SLACK_DATE.sub("", listed) and not re.search(r"\d{4}-\d\d-\d\d", SLACK_DATE.sub("", listed))

    report, _ = bot.services.scan(post=False)
    table = render_table(report, now)
    line = next(row for row in table.splitlines() if key in row)
    assert f"  {now - timedelta(days=3):%Y-%m-%d}  " in line and "<!date" not in table


# AWS trouble whose message is the operator's: people's words and a reference; the detail in the log.


def deny_call(bot: BotServer, call: str, code: str, status: int) -> None:
    for once in (False, True):
        client = bot.services.aws.account("default").client("iam", once=once)
        client.meta.events.register_first(f"before-call.iam.{call}", aws_error(code, status), unique_id=call)


def test_an_aws_error_written_for_operators_is_told_in_peoples_words(bot: BotServer, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    deny_call(bot, "GetAccessKeyLastUsed", "NoSuchEntity", 404)
    bot.command("list ci", user_id=REQUESTER)
    gone = answer(bot, REQUESTER, "reference")
    assert "AWS did not find what Keywarden looked for: it may have been deleted just now. Nothing was done." in gone
    assert "Not found in account" not in gone and "(injected)" not in gone and "iam:" not in gone

    deny_call(bot, "ListAccessKeys", "ValidationError", 400)
    bot.command("list ci", user_id=REQUESTER)
    refused = answer(bot, REQUESTER, "refused what Keywarden asked")
    assert refused.startswith("AWS refused what Keywarden asked of it. Nothing was done. Whoever runs Keywarden")
    assert "AWS error" not in refused and "ValidationError" not in refused and "iam:" not in refused

    for shown in (gone, refused):
        reference = REFERENCE.search(shown).group(1)
        [logged] = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
        assert "(injected)" in logged and "in account `default`" in logged  # the operator's detail, logged
    assert not [d for d in dms(bot, REQUESTER) if "(injected)" in d]


def test_the_app_home_gives_a_reference_not_the_operators_detail(bot: BotServer, ci_user: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    deny_call(bot, "ListAccessKeys", "AccessDenied", 403)
    home = open_home(bot, REQUESTER, 2)  # what Keywarden knows at once, then AWS is asked and refuses
    assert "AWS could not be asked just now: this is what Keywarden last saw." in home
    assert "iam:" not in home and "member-policy" not in home and "AWS denied" not in home
    reference = REFERENCE.search(home).group(1)
    [logged] = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert "iam:ListAccessKeys" in logged and "member-policy.json" in logged
