"""The weekly sample behind `replaceable-by-role`: a bounded CloudTrail budget per account (2 requests a second, the
fake CloudTrail throttling anything faster), idle keys judged without CloudTrail, each verdict kept per key; then
the scan: the finding (low) in the owner's DM with **Replace with a role**, in the digest, and in `scan --json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
import time_machine

from bot.domain.findings import REPLACEABLE_BY_ROLE
from bot.entrypoints.cli_scan import report_json
from bot.slack import ids
from tests.support.fake_aws_usage import FakeUsageAws, usage_endpoints
from tests.support.harness import BotServer
from tests.support.workloads import CLI_AGENT, EC2_ADDRESS, LAMBDA_AGENT, OFFICE_ADDRESS, RANGES_FILE

OWNER = "UALICE"


@pytest.fixture
def fake(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUsageAws]:
    with usage_endpoints(moto_url, monkeypatch) as server:
        yield server


def user_with_key(bot: BotServer, name: str, *, used: bool = True) -> str:
    iam = boto3.client("iam")
    iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(bot.services.clock() - timedelta(days=40), tick=False):
        key = iam.create_access_key(UserName=name)["AccessKey"]
    if used:
        boto3.client(
            "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        ).get_caller_identity()
    return key["AccessKeyId"]


def test_the_sample_the_finding_and_where_it_shows(make_bot, aws: None, fake: FakeUsageAws) -> None:
    bot = make_bot(IP_RANGES_URL=RANGES_FILE.as_uri(), WORKLOAD_SAMPLE_LOOKUPS="20")
    bot.slack.add_user(OWNER, email="alice@example.com")
    now = bot.services.clock()
    lam, office, idle = user_with_key(bot, "lam"), user_with_key(bot, "office"), user_with_key(bot, "idle", used=False)
    for i in range(30):
        fake.add_event(
            "us-east-1",
            lam,
            now - timedelta(hours=i + 1),
            "PutItem",
            "dynamodb.amazonaws.com",
            ip=EC2_ADDRESS,
            agent=LAMBDA_AGENT,
        )
        fake.add_event(
            "us-east-1",
            office,
            now - timedelta(hours=i + 1),
            "DescribeInstances",
            "ec2.amazonaws.com",
            ip=OFFICE_ADDRESS,
            agent=CLI_AGENT,
        )

    (run,) = bot.services.workloads.sample()
    assert (run.profiled, run.idle, run.replaceable, run.error) == (3, 1, 1, None)
    assert run.lookups == fake.calls["cloudtrail:LookupEvents"] == 2 <= 20  # one page each; the idle key: none
    assert fake.throttled == 0
    known = bot.services.workloads.store.of_keys([lam, office, idle])
    assert known[lam].replaceable and not known[office].replaceable and known[idle].calls == 0
    assert known[office].kind == "identity-center-permission-set"
    again = bot.services.workloads.sample_account("default")  # all fresh: nothing read again this week
    assert (again.profiled, again.lookups) == (0, 0)

    report, _ = bot.services.scan(post=True)
    found = [f for f in report.findings if f.code == REPLACEABLE_BY_ROLE]
    assert [f.key_id for f in found] == [lam] and found[0].finding.severity.name == "LOW"
    assert "all 30 calls from AWS Lambda in us-east-1" in found[0].finding.message
    dm = next(c.raw for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == OWNER)
    assert ids.REPLACE_WITH_ROLE in dm and "Replace with a role" in dm
    digest = next(c.raw for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "CALERTS")
    assert "Replaceable by a role: 1" in digest and "1 key could be replaced by a role" in digest
    as_json = report_json(report, bot.services.clock())
    codes = json.dumps(as_json)
    assert REPLACEABLE_BY_ROLE in codes and lam in codes


def test_a_spent_budget_stops_the_sample(make_bot, aws: None, fake: FakeUsageAws) -> None:
    bot = make_bot(IP_RANGES_URL=RANGES_FILE.as_uri(), WORKLOAD_SAMPLE_LOOKUPS="4")
    now = bot.services.clock()
    keys = [user_with_key(bot, f"svc{n}") for n in range(3)]
    for key in keys:
        fake.add_event("us-east-1", key, now - timedelta(hours=1), ip=EC2_ADDRESS, agent=LAMBDA_AGENT)
    run = bot.services.workloads.sample_account("default")
    # each key may need 3 LookupEvents in each of 2 regions at worst: a budget of 4 profiles none
    assert (run.profiled, run.lookups, fake.calls["cloudtrail:LookupEvents"]) == (0, 0, 0)
