"""`activity` and `access` end to end: signed slash commands in, CloudTrail and Access Advisor from a fake
endpoint on loopback (every other IAM call forwarded to moto's server), fake Slack out."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest
import time_machine

from bot.domain.keys import UserRef
from bot.services.usage import AccessAdvisorService, AccessTookTooLong
from tests.support.fake_aws_usage import FakeUsageAws, service, usage_endpoints
from tests.support.flows import wait_ephemeral
from tests.support.harness import BotServer

OWNER, BOSS, MALLORY = "UALICE", "UBOSS", "UMALLORY"


@pytest.fixture
def fake(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUsageAws]:
    with usage_endpoints(moto_url, monkeypatch) as server:
        yield server


@pytest.fixture
def usage_bot(make_bot: Callable[..., BotServer], aws: None, fake: FakeUsageAws) -> Callable[..., BotServer]:
    def make(**overrides: str) -> BotServer:
        bot = make_bot(**overrides)
        bot.slack.add_user(OWNER, email="alice@example.com")
        bot.slack.add_user(MALLORY, email="mallory@example.com")
        return bot

    return make


def ci_key(iam, bot: BotServer, *, used_in: str | None = "eu-west-1", user: str = "ci") -> str:
    """An owned user whose key is 200 days old and was last used in `used_in`."""
    now = bot.services.clock()
    iam.create_user(UserName=user, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(now - timedelta(days=200), tick=False):
        key = iam.create_access_key(UserName=user)["AccessKey"]
    if used_in:
        boto3.client(
            "sts",
            region_name=used_in,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        ).get_caller_identity()
    return key["AccessKeyId"]


def answer(bot: BotServer, user: str, text: str) -> str:
    """The first answer through `respond` to `user` that contains `text`."""
    return wait_ephemeral(bot, user, text, timeout=30)


def events_with(fake: FakeUsageAws, region: str, key: str, count: int, now, **kw) -> None:
    for i in range(count):
        fake.add_event(region, key, now - timedelta(hours=i + 1), **kw)


def test_activity_for_the_owner_across_regions_and_pages(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot(ACTIVITY_REGIONS="ap-south-1")
    key = ci_key(iam, bot)
    now = bot.services.clock()
    events_with(fake, "us-east-1", key, 60, now, name="GetCallerIdentity", source="sts.amazonaws.com")
    events_with(
        fake, "eu-west-1", key, 70, now - timedelta(days=20), name="DescribeInstances", source="ec2.amazonaws.com"
    )
    fake.add_event(
        "eu-west-1",
        key,
        now - timedelta(minutes=30),
        name="RunInstances",
        source="ec2.amazonaws.com",
        ip="192.0.2.99",
        agent="<!here> curl/8",
        error="AccessDenied",
    )
    fake.add_event("eu-west-1", "AKIAOTHERKEY00000000", now - timedelta(hours=1))  # another key's event
    fake.add_event("eu-west-1", key, now - timedelta(days=40))  # outside the 30 days

    ack = bot.command(f"activity {key}").json()
    assert "Keywarden reads CloudTrail" in ack["text"] and ack["response_type"] == "ephemeral"
    text = answer(bot, OWNER, "Activity of")
    assert "131 calls" in text
    assert f"*Activity of `{key}`* (ci), " in text and "default:" not in text  # one account: not named
    assert "`sts:GetCallerIdentity` 60" in text and "`ec2:DescribeInstances` 70" in text
    assert "`ec2:RunInstances` 1" in text
    assert "management events only" in text  # on every answer, not only on empty ones
    assert "`us-east-1`, `eu-west-1`, `ap-south-1`" in text
    assert "`AccessDenied` 1" in text and "192.0.2.99" in text and "New addresses" in text
    assert "<!here>" not in text and "&lt;!here&gt;" in text
    # each region paged at 50 events, never faster than CloudTrail allows
    assert fake.calls["cloudtrail:LookupEvents@us-east-1"] == 2
    assert fake.calls["cloudtrail:LookupEvents@eu-west-1"] == 2
    assert fake.calls["cloudtrail:LookupEvents@ap-south-1"] == 1
    assert fake.throttled == 0
    # the full table as a CSV in the owner's DM
    assert bot.slack.wait_calls("files.completeUploadExternal")
    assert bot.slack.calls_to("conversations.open")[0].params["users"] == OWNER
    upload = bot.slack.calls_to("files.completeUploadExternal")[0]
    assert upload.params["channel_id"] == "D" + OWNER
    assert "CSV file I sent you" in text


def test_activity_is_refused_to_others_and_audited(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    key = ci_key(iam, bot)
    bot.command(f"activity {key} 7", user_id=MALLORY)
    assert "Only the owner of `ci`" in answer(bot, MALLORY, "Only the owner")
    assert fake.calls["cloudtrail:LookupEvents"] == 0
    (refusal,) = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert (refusal.actor, refusal.outcome, refusal.key_id, refusal.iam_user) == (MALLORY, "refused", key, "ci")

    # an approver may look, and no events is answered truthfully
    bot.command(f"activity {key} 7", user_id=BOSS)
    text = answer(bot, BOSS, "No CloudTrail events")
    assert "data events" in text and "IAM records its last use as" in text and "eu-west-1" in text


def test_activity_stops_at_the_limit_and_says_so(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot(ACTIVITY_MAX_EVENTS="50")
    key = ci_key(iam, bot, used_in=None)
    events_with(fake, "us-east-1", key, 120, bot.services.clock())
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "50 calls*+" in text and "Cut at 50 events" in text
    assert fake.calls["cloudtrail:LookupEvents"] == 2  # one page read, the next only to learn there is more


def test_activity_when_cloudtrail_is_denied(usage_bot, iam, fake: FakeUsageAws, caplog) -> None:
    caplog.set_level(logging.WARNING)
    bot = usage_bot()
    key = ci_key(iam, bot)
    events_with(fake, "us-east-1", key, 3, bot.services.clock())
    fake.denied_regions = {"eu-west-1"}
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "3 calls" in text and (
        "Region `eu-west-1` could not be read: AWS does not allow Keywarden to read CloudTrail there, so the calls "
        "made there are not in this answer." in text
    )
    # The permission and policy file are for whoever runs Keywarden: in the log, under the reference given.
    assert "cloudtrail:LookupEvents" not in text and "member-policy" not in text
    reference = text.split("reference `")[1].split("`")[0]
    logged = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert len(logged) == 1 and "cloudtrail:LookupEvents" in logged[0] and "eu-west-1" in logged[0]

    fake.denied_regions = {"*"}
    bot.slack.calls.clear()  # the first answer also says "AWS denied": wait for the second
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "AWS does not allow Keywarden")
    assert "in its log (reference" in text and "Traceback" not in text and "member-policy" not in text


def test_activity_in_a_region_the_account_has_not_enabled(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot(ACTIVITY_REGIONS="me-south-1")
    key = ci_key(iam, bot, used_in=None)
    events_with(fake, "us-east-1", key, 2, bot.services.clock())
    fake.disabled_regions = {"me-south-1"}
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "2 calls" in text and "Region `me-south-1` could not be read" in text and "not enabled" in text


def test_activity_follows_the_sessions_the_key_minted(usage_bot, iam, fake: FakeUsageAws) -> None:
    """Calls made with session credentials are signed by the session's ASIA key id: each session the key minted
    is looked up by that id, its calls merged into the answer, with how to end the sessions still valid."""
    bot = usage_bot()
    key = ci_key(iam, bot)
    now = bot.services.clock()
    role = "arn:aws:iam::123456789012:role/deploy"
    events_with(fake, "us-east-1", key, 2, now)
    fake.add_session("us-east-1", key, now - timedelta(hours=12), "ASIAVALIDSESSION0001", seconds=129_600)
    fake.add_session(
        "eu-west-1",
        key,
        now - timedelta(days=3),
        "ASIAEXPIREDSESS00002",
        call="AssumeRole",
        seconds=3600,
        role_arn=role,
    )
    for i in range(3):  # what the valid session did, from an address the key itself never used
        fake.add_event(
            "eu-west-1",
            "ASIAVALIDSESSION0001",
            now - timedelta(hours=i + 1),
            "DescribeInstances",
            "ec2.amazonaws.com",
            ip="198.51.100.7",
        )
    fake.add_event("eu-west-1", "ASIAEXPIREDSESS00002", now - timedelta(days=3), "ListRoles", "iam.amazonaws.com")
    # the valid session assumed a role in turn (a role chain): that session is followed too
    fake.add_session(
        "eu-west-1",
        "ASIAVALIDSESSION0001",
        now - timedelta(hours=2),
        "ASIACHAINEDSESS00003",
        call="AssumeRole",
        seconds=3600,
        role_arn="arn:aws:iam::123456789012:role/admin",
    )
    fake.add_event("us-east-1", "ASIACHAINEDSESS00003", now - timedelta(hours=1), "CreateUser", "iam.amazonaws.com")
    fake.add_event("us-east-1", "ASIANOTMINTEDBYIT004", now - timedelta(hours=1), "DeleteUser", "iam.amazonaws.com")

    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "10 calls" in text  # 2 + 2 minting calls by the key, 3 + 1 + 1 chained mint + 1 through sessions
    assert "`ec2:DescribeInstances` 3 _through a session_" in text and "`iam:CreateUser` 1 _through a session_" in text
    assert "DeleteUser" not in text and "ASIANOTMINTEDBYIT004" not in text
    assert "Sessions the key minted* (3)" in text
    assert "`ASIAVALIDSESSION0001` by `sts:GetSessionToken`" in text and "3 calls" in text
    assert "*may still be valid*" in text and "(expired)" in text
    assert "`ASIACHAINEDSESS00003` by `sts:AssumeRole`" in text
    assert f"Deactivating `{key}` does not end a session" in text and "36 hours" in text
    assert "aws:TokenIssueTime" in text and "DateLessThan" in text and "Deny" in text
    assert "arn:aws:iam::123456789012:user/ci" in text and "role/admin" in text
    assert "198.51.100.7" in text  # the session's address counts among the key's addresses
    assert "IQoJb3JpZ2lu" not in text  # the session token CloudTrail records is never shown
    # the key and each session looked up in each region, paced; the unrelated session never
    assert fake.calls["cloudtrail:LookupEvents"] == 8 and fake.throttled == 0
    assert not any("ASIANOTMINTEDBYIT004" in k for k in fake.calls)


def test_following_sessions_stays_within_the_budget_and_says_what_it_left(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot(ACTIVITY_MAX_EVENTS="50")  # 2 requests per region: a page and "is there more?"
    key = ci_key(iam, bot, used_in=None)
    now = bot.services.clock()
    for i in range(5):  # a CI job that asks for a session on every run
        fake.add_session("us-east-1", key, now - timedelta(hours=i + 1), f"ASIASESSION000000{i:03d}")
        fake.add_event(
            "us-east-1", f"ASIASESSION000000{i:03d}", now - timedelta(hours=i), "PutRule", "events.amazonaws.com"
        )
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert fake.calls["cloudtrail:LookupEvents"] == 2  # the key's page, then one session: the budget is spent
    assert "Sessions the key minted* (5)" in text and "4 sessions not looked up" in text
    assert "`events:PutRule` 1 _through a session_" in text


def test_activity_in_govcloud_reads_iam_events_in_us_gov_west_1(usage_bot, fake: FakeUsageAws) -> None:
    """IAM's events are in the partition's own global-service region: us-east-1 does not exist in GovCloud."""
    bot = usage_bot(AWS_REGION="us-gov-west-1")
    gov = boto3.client("iam", region_name="us-gov-west-1")
    gov.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = gov.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    now = bot.services.clock()
    fake.add_session("us-gov-west-1", key, now - timedelta(hours=1), "ASIAGOVSESSION000001")
    fake.add_event(
        "us-gov-west-1", "ASIAGOVSESSION000001", now - timedelta(minutes=5), "ListUsers", "iam.amazonaws.com"
    )
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "CloudTrail in `us-gov-west-1`" in text and "`us-east-1`" not in text
    assert fake.calls["cloudtrail:LookupEvents@us-east-1"] == 0
    assert fake.calls["cloudtrail:LookupEvents@us-gov-west-1"] == 2  # the key, then its session
    assert "arn:aws-us-gov:iam::123456789012:user/ci" in text and "`iam:ListUsers` 1 _through a session_" in text


def test_throttling_by_cloudtrail_is_retried(usage_bot, iam, fake: FakeUsageAws) -> None:
    """Another client uses up the account's LookupEvents rate: CloudTrail throttles, the answer still comes."""
    bot = usage_bot()
    key = ci_key(iam, bot, used_in=None)
    events_with(fake, "us-east-1", key, 60, bot.services.clock())  # two pages
    fake.rate, fake.capacity = 1.0, 1.0  # slower than our own pacing: some calls get ThrottlingException
    bot.command(f"activity {key}")
    text = answer(bot, OWNER, "Activity of")
    assert "60 calls" in text
    assert fake.throttled >= 1


def test_activity_bad_keys(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    key = ci_key(iam, bot)
    assert "lower-case" in bot.command(f"activity {key.lower()}").json()["text"]
    assert "out of range" in bot.command(f"activity {key} 120").json()["text"]
    assert "not a number of days" in bot.command(f"activity {key} lots").json()["text"]

    bot.command("activity AKIAZZZZZZZZZZZZZZZZ")
    assert "was deleted or never existed" in answer(bot, OWNER, "No activity to show")

    gone = ci_key(iam, bot, user="temp-user", used_in=None)
    bot.command("list temp-user")  # Keywarden has seen the key once
    answer(bot, OWNER, gone)
    iam.delete_access_key(UserName="temp-user", AccessKeyId=gone)
    iam.delete_user(UserName="temp-user")
    bot.command(f"activity {gone}")
    assert "no longer exists" in answer(bot, OWNER, f"No activity to show for `{gone}`")
    assert fake.calls["cloudtrail:LookupEvents"] == 0


def test_access_for_the_owner_pages_polls_and_caches(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    ci_key(iam, bot)
    now = bot.services.clock()
    arn = iam.get_user(UserName="ci")["User"]["Arn"]
    fake.advisor.services[arn] = [
        service("Amazon S3", "s3", now - timedelta(days=3), "eu-west-1"),
        service("AWS Security Token Service", "sts", now - timedelta(days=1)),
        service("Amazon EC2", "ec2", now - timedelta(days=200)),
        service("AWS Identity and Access Management", "iam"),
        service("Amazon DynamoDB", "dynamodb"),
    ]
    fake.advisor.page_size = 2  # three pages
    fake.advisor.in_progress_polls = 2
    ack = bot.command("access ci").json()
    assert ack["text"].startswith("`ci`: if you may see its access, Keywarden asks IAM Access Advisor")
    text = answer(bot, OWNER, "Access of")
    assert "allow *5 services*" in text and "*2* used in the last 90 days" in text
    assert "Never used* (2): `dynamodb`, `iam`" in text and "remove these services" in text
    assert "Amazon EC2 (`ec2`) last used" in text
    assert fake.calls["iam:GetServiceLastAccessedDetails"] == 2 + 3
    bot.command("access default:ci 365", user_id=BOSS)
    text = answer(bot, BOSS, "Access of")
    assert "*3* used in the last 365 days" in text
    assert "*Access of `ci`*" in text  # named as people name it: one account, no prefix
    assert fake.calls["iam:GenerateServiceLastAccessedDetails"] == 1  # the second answer came from the cache


def test_access_refusals_and_failures(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    ci_key(iam, bot)
    bot.command("access ci", user_id=MALLORY)
    answer(bot, MALLORY, "Only the owner of `ci`")
    assert [e.action for e in bot.services.audit.all()] == ["refused"]
    assert fake.calls["iam:GenerateServiceLastAccessedDetails"] == 0

    bot.command("access ghost", user_id=BOSS)
    answer(bot, BOSS, "No IAM user `ghost`")

    iam.create_user(UserName="bare")
    bot.command("access bare", user_id=BOSS)
    assert "nothing to trim" in answer(bot, BOSS, "no policy that allows any AWS service")

    iam.create_user(UserName="broken")
    fake.advisor.failure = "internal error building the report"
    bot.command("access broken", user_id=BOSS)
    text = answer(bot, BOSS, "could not build the report")
    assert "internal error building the report" in text and "Try again" in text


def test_access_gives_up_after_a_minute_then_finds_the_same_job(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    ci_key(iam, bot)
    fake.advisor.never_finishes = True
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    s = bot.services
    advisor = AccessAdvisorService(s.aws, s.inventory, s.permissions, s.clock, monotonic=lambda: now[0], sleep=sleep)
    with pytest.raises(AccessTookTooLong) as e:
        advisor.access(BOSS, UserRef(None, "ci"), 90)
    assert "after 60 seconds" in e.value.message and "ask again in a few minutes" in e.value.message
    assert sum(sleeps) == pytest.approx(60) and max(sleeps) <= 5 and len(sleeps) < 20
    fake.advisor.never_finishes = False
    fake.advisor.in_progress_polls = 0
    assert advisor.access(BOSS, UserRef(None, "ci"), 90).allowed == 0
    assert fake.calls["iam:GenerateServiceLastAccessedDetails"] == 1  # the first job, polled again


def test_help_lists_the_new_commands(usage_bot) -> None:
    body = json.dumps(usage_bot().command("help").json())
    assert "/awskeys activity" in body and "/awskeys access" in body


def test_a_user_made_after_the_index_was_read_is_seen_by_its_owner(usage_bot, iam, fake: FakeUsageAws) -> None:
    bot = usage_bot()
    first = ci_key(iam, bot, used_in=None)
    bot.command(f"activity {first}")
    answer(bot, OWNER, f"Activity of `{first}`")  # the index is read here
    second = ci_key(iam, bot, user="new-svc", used_in=None)  # not in the ownership index yet
    bot.command(f"activity {second}")
    assert "No CloudTrail events" in answer(bot, OWNER, f"Activity of `{second}`")
    assert not [e for e in bot.services.audit.all() if e.action == "refused"]
