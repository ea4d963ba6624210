"""AWS did the call, its answer was lost (the connection closed first): the call is not sent again
when it would act twice, and what AWS did is settled from what AWS shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.aws_proxy import AwsProxy
from tests.support.flows import dms, filed_id, request, wait_status
from tests.support.harness import BotServer

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


class RunningClock:
    """The bot's clock, running, and `ahead` of AWS's (a host whose clock drifted)."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture(params=[0, 3], ids=["clocks agree", "bot clock 3 minutes ahead of AWS"])
def clock(request: pytest.FixtureRequest) -> RunningClock:  # the bot's clock in make_bot
    return RunningClock(timedelta(minutes=request.param))


@pytest.fixture
def make_proxied_bot(make_bot, proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch):
    """The bot in this process, its AWS calls through the counting proxy to moto's server."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return make_bot


def _keys(remote_iam, user: str) -> list[str]:
    return [k["AccessKeyId"] for k in remote_iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]


def _reveal_dms(bot: BotServer) -> list[str]:
    return [d for d in dms(bot, "UALICE") if ids.REVEAL in d]


def test_lost_create_access_key_answer_at_reveal(make_proxied_bot, proxy: AwsProxy, remote_iam) -> None:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot: BotServer = make_proxied_bot()
    bot.command("create ci")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    bot.slack.wait_for(lambda calls: _reveal_dms(bot))

    proxy.lose["CreateAccessKey"] = 1
    bot.click(ids.REVEAL, rid, "UALICE")
    modal = bot.slack.wait_calls("views.update")[0].raw
    assert "no clear answer from AWS" in modal and "Click *Reveal* again" in modal
    bot.slack.wait_for(lambda calls: len(_reveal_dms(bot)) == 2)  # Reveal is offered again
    assert proxy.calls["CreateAccessKey"] == 1  # sent once, never resent
    assert _keys(remote_iam, "ci") == []  # the key AWS made is deleted: nobody saw its secret
    assert proxy.calls["DeleteAccessKey"] == 1
    assert request(bot, rid).status is Status.APPROVED

    bot.click(ids.REVEAL, rid, "UALICE", trigger_id="T-again")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert _keys(remote_iam, "ci") == [done.new_key_id]  # one key, the one revealed
    assert proxy.calls["CreateAccessKey"] == 2


def test_lost_create_access_key_answer_in_secrets_manager_delivery(
    make_proxied_bot, proxy: AwsProxy, remote_iam, moto_url: str
) -> None:
    remote_iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot: BotServer = make_proxied_bot(SECRET_DELIVERY="secretsmanager")
    bot.command("create deployer")
    rid = filed_id(bot)
    proxy.lose["CreateAccessKey"] = 1
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.EXECUTING)
    bot.work.idle()
    assert request(bot, rid).status is Status.EXECUTING  # the outcome is unknown: left to housekeeping
    assert proxy.calls["CreateAccessKey"] == 1
    (orphan,) = _keys(remote_iam, "deployer")

    assert bot.services.recovery.reconcile_stuck(older_than=timedelta(0)) == 1
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert _keys(remote_iam, "deployer") == [done.new_key_id] and done.new_key_id != orphan
    assert proxy.calls["CreateAccessKey"] == 2 and proxy.calls["DeleteAccessKey"] == 1
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    stored = json.loads(secrets.get_secret_value(SecretId="keywarden/default/deployer")["SecretString"])
    assert stored["aws_access_key_id"] == done.new_key_id


def test_lost_create_secret_answer_is_resent_safely(
    make_proxied_bot, proxy: AwsProxy, remote_iam, moto_url: str
) -> None:
    """CreateSecret carries a ClientRequestToken (botocore fills it in): resending it after a lost answer is safe."""
    remote_iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot: BotServer = make_proxied_bot(SECRET_DELIVERY="secretsmanager")
    bot.command("create deployer")
    rid = filed_id(bot)
    proxy.lose["CreateSecret"] = 1
    bot.click(ids.APPROVE, rid, "UBOSS")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert proxy.calls["CreateSecret"] == 2 and proxy.calls["CreateAccessKey"] == 1
    assert _keys(remote_iam, "deployer") == [done.new_key_id]
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    stored = json.loads(secrets.get_secret_value(SecretId="keywarden/default/deployer")["SecretString"])
    assert stored["aws_access_key_id"] == done.new_key_id
