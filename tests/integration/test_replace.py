"""`replace <key-id>` end to end: signed slash commands and clicks in, CloudTrail from the fake endpoint on loopback
(pages of 50, 2 requests a second enforced), IAM from moto's server, AWS's address ranges from the test copy, fake
Slack out. The template reaches the caller's DM as a file, passes cfn-lint and grants only what the key did."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest
import time_machine
from cfnlint.api import ManualArgs, lint

from bot.domain.replacement import granted_actions
from bot.slack import ids
from tests.support.fake_aws_usage import FakeUsageAws, usage_endpoints
from tests.support.flows import wait_ephemeral
from tests.support.harness import BotServer
from tests.support.workloads import (
    CLI_AGENT,
    EC2_ADDRESS,
    GITHUB_ACTION_AGENT,
    LAMBDA_AGENT,
    RANGES_FILE,
    RUNNER_ADDRESS,
)

OWNER, BOSS, MALLORY = "UALICE", "UBOSS", "UMALLORY"
PARTITION_REGIONS = ["us-east-1", "us-gov-west-1", "cn-north-1"]


@pytest.fixture
def fake(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUsageAws]:
    with usage_endpoints(moto_url, monkeypatch) as server:
        yield server


@pytest.fixture
def roles_bot(make_bot: Callable[..., BotServer], aws: None, fake: FakeUsageAws) -> BotServer:
    bot = make_bot(IP_RANGES_URL=RANGES_FILE.as_uri())
    bot.slack.add_user(OWNER, email="alice@example.com")
    bot.slack.add_user(MALLORY, email="mallory@example.com")
    return bot


def owned_key(bot: BotServer, user: str = "ci") -> str:
    """An owned user whose 100-day-old key was last used in us-east-1 (moto's server records the call)."""
    iam = boto3.client("iam")
    iam.create_user(UserName=user, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(bot.services.clock() - timedelta(days=100), tick=False):
        key = iam.create_access_key(UserName=user)["AccessKey"]
    boto3.client(
        "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    ).get_caller_identity()
    return key["AccessKeyId"]


def answer(bot: BotServer, user: str, text: str) -> str:
    return wait_ephemeral(bot, user, text, timeout=30)


def test_a_lambda_key_gets_its_role_template_in_the_dm(roles_bot: BotServer, fake: FakeUsageAws) -> None:
    bot = roles_bot
    key = owned_key(bot)
    now = bot.services.clock()
    work = [("ListBuckets", "s3"), ("PutItem", "dynamodb"), ("ListFunctions20150331", "lambda")]
    for i in range(60):
        name, source = work[i % 3]
        fake.add_event(
            "us-east-1",
            key,
            now - timedelta(hours=i + 1),
            name,
            f"{source}.amazonaws.com",
            ip=EC2_ADDRESS,
            agent=LAMBDA_AGENT,
        )
    fake.add_event(
        "us-east-1",
        key,
        now - timedelta(hours=70),
        "DeleteTable",
        "dynamodb.amazonaws.com",
        ip=EC2_ADDRESS,
        agent=LAMBDA_AGENT,
        error="AccessDenied",
    )

    ack = bot.command(f"replace {key}").json()
    assert "Keywarden reads CloudTrail" in ack["text"] and ack["response_type"] == "ephemeral"
    text = answer(bot, OWNER, "Workload of")
    assert "all 61 calls from AWS Lambda in us-east-1" in text
    assert "Lambda execution role" in text and "ci-role" in text and f"retire {key}" in text
    # two pages of 50 at CloudTrail's pace, never throttled
    assert fake.calls["cloudtrail:LookupEvents@us-east-1"] == 2 and fake.throttled == 0
    (template_file,) = bot.slack.shared_files("D" + OWNER)
    assert template_file.filename == f"keywarden-lambda-execution-role-{key}.json"
    body = template_file.data.decode()
    assert not lint(body, config=ManualArgs(regions=PARTITION_REGIONS))
    template = json.loads(body)
    role = template["Resources"]["Role"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    granted = granted_actions(role["Policies"][0]["PolicyDocument"])
    assert granted == {"s3:ListAllMyBuckets", "dynamodb:PutItem", "lambda:ListFunctions"}  # not the refused one
    known = bot.services.workloads.store.get(key)
    assert known is not None and known.replaceable and known.role_name == "ci-role" and known.lookups == 2
    assert "203.0.113" not in known.summary and "Boto3" not in known.summary  # the verdict, never the events

    # `list` counts it and offers the button; the button answers the same way
    bot.command("list ci")
    listed = answer(bot, OWNER, "could be replaced by a role")
    assert "1 key could be replaced by a role" in listed and ids.REPLACE_WITH_ROLE in listed
    bot.click(ids.REPLACE_WITH_ROLE, ids.key_value("default", key), OWNER, channel="D" + OWNER)
    bot.slack.wait_for(lambda _: len(bot.slack.shared_files("D" + OWNER)) == 2, timeout=30)


def test_a_github_actions_key(roles_bot: BotServer, fake: FakeUsageAws) -> None:
    bot = roles_bot
    key = owned_key(bot)
    now = bot.services.clock()
    for i in range(5):
        at = now - timedelta(days=i + 1)
        fake.add_event("us-east-1", key, at, "GetCallerIdentity", ip=RUNNER_ADDRESS, agent=GITHUB_ACTION_AGENT)
        fake.add_event("us-east-1", key, at, "PutObject", "s3.amazonaws.com", ip=RUNNER_ADDRESS, agent=CLI_AGENT)
    bot.command(f"replace {key}")
    text = answer(bot, OWNER, "Workload of")
    assert "all 10 calls from GitHub Actions in us-east-1" in text and "GitHubRepository" in text
    (template_file,) = bot.slack.shared_files("D" + OWNER)
    template = json.loads(template_file.data)
    trust = template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringLike"] == {
        "token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:*"}
    }


def test_replace_for_someone_elses_key_is_refused_and_audited(roles_bot: BotServer, fake: FakeUsageAws) -> None:
    bot = roles_bot
    key = owned_key(bot)
    fake.add_event("us-east-1", key, bot.services.clock() - timedelta(hours=1), ip=EC2_ADDRESS, agent=LAMBDA_AGENT)
    bot.command(f"replace {key}", user_id=MALLORY)
    assert "Only the owner of `ci`" in answer(bot, MALLORY, "Only the owner")
    assert fake.calls["cloudtrail:LookupEvents"] == 0 and not bot.slack.shared_files()
    (refusal,) = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert (refusal.actor, refusal.key_id, refusal.iam_user) == (MALLORY, key, "ci")
    assert "workload" in refusal.detail
    # the button is refused the same way
    bot.click(ids.REPLACE_WITH_ROLE, ids.key_value("default", key), MALLORY, channel="DMALLORY")
    bot.slack.wait_for(
        lambda calls: any(
            c.method == "response_url" and "click-UMALLORY" in c.path and "Only the owner" in c.raw for c in calls
        ),
        timeout=30,
    )
    assert fake.calls["cloudtrail:LookupEvents"] == 0
    assert len([e for e in bot.services.audit.all() if e.action == "refused"]) == 2
