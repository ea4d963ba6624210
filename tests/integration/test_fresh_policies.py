"""Policy facts as they are now, on moto (AWS managed policies loaded): a scan judges `aws-quarantine` and
`admin-key` on the authorization details it reads itself, and filing judges "the target is an administrator" on
the user's policies read when the request is filed, however young the ownership index is."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from bot.domain.findings import ADMIN_KEY, AWS_QUARANTINE
from tests.support.flows import filed_id, request
from tests.support.harness import BotServer
from tests.support.managed_policies import load_managed_policies

OWNER = "UALICE"
POLICY = "arn:aws:iam::aws:policy/{}"


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    load_managed_policies(monkeypatch, "AdministratorAccess", "AWSCompromisedKeyQuarantineV3")


@pytest.fixture
def fresh_bot(make_bot, aws) -> BotServer:
    bot = make_bot(OWNERSHIP_TTL_MINUTES="1440")  # the index would be reused for a whole day
    bot.slack.add_user(OWNER, email="alice@example.com")
    return bot


def user_with_key(iam, bot: BotServer, name: str) -> str:
    now = bot.services.clock()
    with time_machine.travel(now - timedelta(days=20), tick=False):
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(now - timedelta(days=10), tick=False):
        return iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]


def codes(report) -> set[tuple[str, str]]:
    return {(f.user, f.code) for f in report.findings}


def test_a_policy_attached_after_a_scan_shows_in_the_next_scan_within_the_index_age(fresh_bot: BotServer, iam) -> None:
    bot = fresh_bot
    leaked, power = user_with_key(iam, bot, "leaked"), user_with_key(iam, bot, "power")
    first, _ = bot.services.scan(post=False)
    assert not codes(first) & {("leaked", AWS_QUARANTINE), ("power", ADMIN_KEY)}

    # AWS quarantines one user and someone makes the other an administrator, minutes later
    iam.attach_user_policy(UserName="leaked", PolicyArn=POLICY.format("AWSCompromisedKeyQuarantineV3"))
    iam.attach_user_policy(UserName="power", PolicyArn=POLICY.format("AdministratorAccess"))
    bot.services.clock.advance(minutes=5)
    calls = bot.services.aws.account("default").calls
    before = calls["iam:GetAccountAuthorizationDetails"]
    second, _ = bot.services.scan(post=False)
    assert {("leaked", AWS_QUARANTINE), ("power", ADMIN_KEY)} <= codes(second)
    assert next(f for f in second.findings if f.code == AWS_QUARANTINE).key_id == leaked
    assert next(f for f in second.findings if f.code == ADMIN_KEY).key_id == power
    assert calls["iam:GetAccountAuthorizationDetails"] == before + 1  # one read per scan, not one per finding

    # the scan refreshed the index: commands see the new facts without reading again
    bot.command("list power", user_id=OWNER)
    assert "AdministratorAccess" in bot.slack.wait_calls("response_url")[-1].raw
    assert calls["iam:GetAccountAuthorizationDetails"] == before + 1


def test_filing_judges_administrator_power_as_it_is_now(fresh_bot: BotServer, iam) -> None:
    bot = fresh_bot
    key = user_with_key(iam, bot, "deployer")
    bot.command("list deployer", user_id=OWNER)  # the index now knows `deployer` as no administrator
    assert key in bot.slack.wait_calls("response_url")[-1].raw

    iam.attach_user_policy(UserName="deployer", PolicyArn=POLICY.format("AdministratorAccess"))
    bot.command("rotate deployer", user_id=OWNER)
    rid = filed_id(bot)
    post = bot.slack.posts_to("CAPPROVE")[0].raw
    assert "is an administrator" in post and "`AdministratorAccess` attached directly" in post
    assert "one more approval" in post
    assert request(bot, rid).approvals_needed == 2

    # and the other way: power taken away before filing is no longer counted
    iam.detach_user_policy(UserName="deployer", PolicyArn=POLICY.format("AdministratorAccess"))
    bot.command(f"cancel {rid}", user_id=OWNER)
    bot.command("rotate deployer", user_id=OWNER)
    rid2 = filed_id(bot, 2)
    assert "is an administrator" not in bot.slack.posts_to("CAPPROVE")[1].raw
    assert request(bot, rid2).approvals_needed == 1
