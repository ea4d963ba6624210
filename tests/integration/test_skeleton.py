"""The walking skeleton end to end: HTTP, signatures, help, list and check against moto."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from bot.store.models import AuditEvent, IamUserRecord
from tests.support.flows import key_made
from tests.support.harness import BotServer, healthy_body


def _reply(bot: BotServer, user_id: str = "UALICE") -> str:
    call = bot.slack.wait_calls("response_url")[-1]
    assert call.path.endswith(user_id)
    return call.raw


def test_healthz_reports_database(bot: BotServer) -> None:
    reply = bot.get("/healthz")
    assert reply.status == 200
    assert reply.json() == healthy_body()  # the web process: no scheduler of its own, and none holds the lease


def test_unknown_path_is_404(bot: BotServer) -> None:
    assert bot.get("/nope").status == 404


def test_help_is_answered_in_the_ack(bot: BotServer) -> None:
    started = time.monotonic()
    reply = bot.command("help")
    assert reply.status == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    text = str(body["blocks"])
    for sub in ("list", "check", "create", "rotate", "deactivate", "reactivate", "delete", "requests", "cancel"):
        assert f"/awskeys {sub}" in text
    assert time.monotonic() - started < 3  # Slack's limit, with room to spare on any machine


def test_forged_and_stale_requests_are_refused(bot: BotServer) -> None:
    body = "command=%2Fawskeys&text=list&user_id=UALICE&response_url=x"
    forged = bot.signed_headers(body)
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    assert bot.post(body, forged).status == 401
    stale = bot.signed_headers(body, timestamp=int(time.time()) - 301)
    assert bot.post(body, stale).status == 401
    altered = bot.signed_headers(body)
    assert bot.post(body.replace("list", "help"), altered).status == 401
    assert bot.post(body, {"Content-Type": "application/x-www-form-urlencoded"}).status == 401
    assert bot.slack.calls == []
    with bot.services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_unknown_subcommand_gets_a_hint(bot: BotServer) -> None:
    body = bot.command("frobnicate now").json()
    assert "Unknown command `frobnicate`" in body["text"]
    assert "help" in body["text"]


def test_invalid_user_name_never_reaches_aws(bot: BotServer) -> None:
    body = bot.command("list bad/name!").json()
    assert "not a valid IAM user name" in body["text"]
    assert "Usage: `list" in body["text"]
    with bot.services.db.session() as s:  # nothing was read from AWS into the index
        assert s.scalar(select(func.count()).select_from(IamUserRecord)) == 0


def test_list_shows_keys_ages_last_use_and_findings(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci-deployer")
    old = key_made(iam, "ci-deployer", 120, bot.services.clock())
    fresh = key_made(iam, "ci-deployer", 3, bot.services.clock())
    assert bot.command("list ci-deployer").status == 200
    text = _reply(bot)
    assert old in text and fresh in text
    assert "120 days old" in text and "3 days old" in text
    assert "IAM.3" in text  # older than 90 days
    assert "IAM.22" in text  # never used for 120 days
    assert "Two active keys" in text
    assert "last used never" in text


def test_list_without_user_shows_the_callers_users(bot: BotServer, iam) -> None:
    bot.slack.add_user("UALICE", email="Alice@Example.com")
    iam.create_user(UserName="alice-ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    iam.create_user(UserName="alice-svc", Tags=[{"Key": "owner", "Value": "UALICE"}])
    iam.create_user(UserName="bob-ci", Tags=[{"Key": "owner", "Value": "bob@example.com"}])
    key = key_made(iam, "alice-ci", 85, bot.services.clock())
    bot.command("list")
    text = _reply(bot)
    assert "*alice-ci*" in text and "*alice-svc*" in text and "default:" not in text  # one account: no prefix
    assert "bob-ci" not in text
    assert key in text and "rotate it within 5 days" in text


def test_list_when_caller_owns_nothing(bot: BotServer, iam) -> None:
    bot.slack.add_user("UALICE", email="alice@example.com")
    iam.create_user(UserName="bob-ci", Tags=[{"Key": "owner", "Value": "bob@example.com"}])
    bot.command("list")
    assert "You own no IAM users" in _reply(bot)


def test_list_of_a_missing_user(bot: BotServer, iam) -> None:
    bot.command("list ghost")
    assert "No IAM user `ghost`." in _reply(bot)


def test_unknown_account_alias_lists_known_ones(make_bot, aws) -> None:
    bot = make_bot(
        ACCOUNTS="prod=arn:aws:iam::111111111111:role/keywarden,dev=arn:aws:iam::222222222222:role/keywarden"
    )
    body = bot.command("list staging:ci").json()
    assert "Unknown account `staging`" in body["text"]
    assert "prod, dev" in body["text"]


def test_check_diagnoses_the_way_a_key_is_written(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci")
    key = key_made(iam, "ci", 10, bot.services.clock())
    messy = f" {key[:8].lower()} {key[8:]}"
    bot.command(f"check {messy}")
    text = _reply(bot)
    assert "spaces before or after" in text
    assert "spaces inside" in text
    assert "lower-case" in text
    assert f"`{key}` belongs to IAM user *ci*." in text and "in account" not in text  # one account: not named


def test_check_of_bad_forms(bot: BotServer, aws) -> None:
    bot.command("check ASIAY34FZKBOKMUTVV7A")
    text = _reply(bot)
    assert "temporary key from STS" in text
    bot.command("check AKIA123")
    assert "7 characters long" in bot.slack.wait_calls("response_url", 2)[-1].raw
    bot.command("check AKIA12345678901234$%")
    assert "characters that never appear" in bot.slack.wait_calls("response_url", 3)[-1].raw


def test_check_inactive_key_and_missing_key(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci")
    key = key_made(iam, "ci", 10, bot.services.clock())
    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")
    bot.command(f"check {key}")
    text = _reply(bot)
    assert "*Inactive*" in text and f"reactivate {key}" in text
    bot.command("check AKIAZZZZZZZZZZZZZZZZ")
    assert "was not found in any configured account" in bot.slack.wait_calls("response_url", 2)[-1].raw


def test_check_key_whose_user_no_longer_exists(bot: BotServer, iam) -> None:
    iam.create_user(UserName="temp-user")
    key = key_made(iam, "temp-user", 10, bot.services.clock())
    bot.command("list temp-user")
    bot.slack.wait_calls("response_url")
    iam.delete_access_key(UserName="temp-user", AccessKeyId=key)
    iam.delete_user(UserName="temp-user")
    bot.command(f"check {key}")
    text = bot.slack.wait_calls("response_url", 2)[-1].raw
    assert "temp-user" in text and "no longer exists" in text
