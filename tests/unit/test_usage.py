"""activity and access on plain data: parsing, summaries, pacing, and the Slack messages built from them."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import Pacer
from bot.domain.access_advisor import ServiceAccess, parse_services, summarize_access
from bot.domain.activity import (
    ActivityResult,
    TrailEvent,
    comparison_point,
    parse_trail_event,
    search_regions,
    summarize,
)
from bot.domain.commands import parse
from bot.domain.keys import InputError, KeyFacts
from bot.services.usage import lookup_pacer
from bot.settings import Settings
from bot.settings.reader import SettingsError
from bot.slack.messages.usage import build_access, build_activity, events_csv
from tests.support.slack_text import fallback_text

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"


def event(
    minutes_ago: float, name="GetObject", service="s3", ip="203.0.113.1", agent="boto3", error=None, region="eu-west-1"
):
    return TrailEvent(
        NOW - timedelta(minutes=minutes_ago), name, service, region, ip, agent, error, f"id-{minutes_ago}"
    )


def test_parse_event_reads_the_cloudtrail_json() -> None:
    raw = {
        "EventId": "e1",
        "EventName": "ListBuckets",
        "EventTime": NOW,
        "EventSource": "s3.amazonaws.com",
        "CloudTrailEvent": json.dumps(
            {
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2",
                "errorCode": "AccessDenied",
            }
        ),
    }
    e = parse_trail_event(raw, "us-east-1")
    assert (e.call, e.region, e.source_ip, e.user_agent, e.error) == (
        "s3:ListBuckets",
        "eu-west-1",
        "198.51.100.7",
        "aws-cli/2",
        "AccessDenied",
    )
    broken = parse_trail_event({"EventTime": NOW.timestamp(), "CloudTrailEvent": "{not json"}, "us-east-1")
    assert (broken.name, broken.region, broken.source_ip, broken.error) == ("unknown", "us-east-1", "unknown", None)


def test_search_regions() -> None:
    assert search_regions("eu-west-1", ["us-east-1", "ap-south-1"]) == ("us-east-1", "eu-west-1", "ap-south-1")
    assert search_regions(None, []) == ("us-east-1",)


def test_summary_counts_top_ten_and_the_rest() -> None:
    events = [event(i, name=f"Call{i % 13}") for i in range(130)]
    events += [event(1, ip="198.51.100.9", error="AccessDenied"), event(2, error="AccessDenied", region="us-east-1")]
    s = summarize(
        events,
        key_id=KEY,
        start=NOW - timedelta(days=30),
        end=NOW,
        regions_searched=["us-east-1"],
        truncated=False,
        key_created=NOW - timedelta(days=200),
        rotated_at=None,
    )
    assert s.total == 132 and len(s.calls) == 10
    assert sum(n for _, n in s.calls) + s.other_calls == 132 and s.other_kinds == 4  # 13 + GetObject
    assert s.errors == [("AccessDenied", 2)]
    assert dict(s.regions) == {"eu-west-1": 131, "us-east-1": 1}
    assert s.first.at == NOW - timedelta(minutes=129) and s.last.at == NOW - timedelta(minutes=0)
    by_ip = {i.ip: i for i in s.ips}
    assert by_ip["198.51.100.9"].count == 1 and by_ip["203.0.113.1"].count == 131


def test_new_addresses_after_the_last_rotation() -> None:
    rotated = NOW - timedelta(days=5)
    events = [event(60 * 24 * 10, ip="203.0.113.1"), event(60 * 24 * 2, ip="203.0.113.1"), event(60, ip="192.0.2.66")]
    s = summarize(
        events,
        key_id=KEY,
        start=NOW - timedelta(days=30),
        end=NOW,
        regions_searched=["us-east-1"],
        truncated=False,
        key_created=NOW - timedelta(days=300),
        rotated_at=rotated,
    )
    assert s.boundary == rotated and "the rotation that replaced it" in s.boundary_reason
    assert [i.ip for i in s.new_ips] == ["192.0.2.66"]


def test_new_addresses_without_a_rotation_use_the_first_half() -> None:
    point, why = comparison_point(NOW - timedelta(days=30), NOW, NOW - timedelta(days=300), None)
    assert point == NOW - timedelta(days=15) and "first half" in why
    # a key younger than the window: the half of the time it existed
    point, _ = comparison_point(NOW - timedelta(days=30), NOW, NOW - timedelta(days=10), None)
    assert point == NOW - timedelta(days=5)
    # a rotation before the window began is no boundary inside it
    point, why = comparison_point(NOW - timedelta(days=30), NOW, NOW - timedelta(days=300), NOW - timedelta(days=40))
    assert point == NOW - timedelta(days=15) and "first half" in why
    # nothing before the boundary: no address is called new
    s = summarize(
        [event(60)],
        key_id=KEY,
        start=NOW - timedelta(days=30),
        end=NOW,
        regions_searched=["us-east-1"],
        truncated=False,
        key_created=NOW - timedelta(days=300),
        rotated_at=None,
    )
    assert s.new_ips == []


def test_csv_has_every_event_and_runs_no_formula() -> None:
    rows = list(csv.reader(io.StringIO(events_csv([event(1, agent='=HYPERLINK("x")'), event(2)]))))
    assert rows[0][:3] == ["time_utc", "service", "event"] and len(rows) == 3
    assert rows[2][5].startswith("'=")


def test_lookups_are_paced_per_account_and_region() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = Pacer(1 / 2.0, monotonic=lambda: now[0], sleep=sleep)  # 2 a second, no margin
    assert bucket.take(("a", "us-east-1")) == 0
    assert bucket.take(("a", "us-east-1")) == pytest.approx(0.5)
    assert bucket.take(("a", "eu-west-1")) == 0  # another region has its own limit
    now[0] += 5  # idle time is not saved up into a burst
    assert bucket.take(("a", "us-east-1")) == 0
    assert bucket.take(("a", "us-east-1")) == pytest.approx(0.5)
    assert slept == [pytest.approx(0.5), pytest.approx(0.5)]
    assert lookup_pacer(monotonic=lambda: now[0], sleep=sleep).take(("b", "x")) == 0
    paced = lookup_pacer(monotonic=lambda: now[0], sleep=sleep)  # the default margin for jitter
    paced.take(("b", "x"))
    assert paced.take(("b", "x")) == pytest.approx(0.51)


def result(events, truncated=False, csv_sent=None, notes=()) -> ActivityResult:
    facts = KeyFacts(
        "default", "ci", KEY, "Active", NOW - timedelta(days=200), NOW - timedelta(days=1), "s3", "eu-west-1"
    )
    s = summarize(
        events,
        key_id=KEY,
        start=NOW - timedelta(days=30),
        end=NOW,
        regions_searched=["us-east-1", "eu-west-1"],
        truncated=truncated,
        key_created=facts.created,
        rotated_at=None,
    )
    return ActivityResult("default", "ci", facts, s, list(notes), csv_sent)


def _fits_slack(blocks) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        text = b.get("text", {}).get("text") or "".join(e["text"] for e in b.get("elements", []))
        assert len(text) <= 3000


def test_activity_message_fits_slack_and_escapes_what_callers_choose() -> None:
    events = [
        event(i, name=f"Call{i % 40}", ip=f"198.51.100.{i % 60}", agent=f"<!channel> `tool` {i % 9}" + "x" * 300)
        for i in range(1000)
    ]
    text, blocks = build_activity(result(events, truncated=True, csv_sent=True))
    _fits_slack(blocks)
    body = json.dumps(blocks, ensure_ascii=False)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "Cut at 1,000 events" in body and "CSV file" in body
    assert "…and 50 more addresses" in body
    assert "1,000 calls" in text


def test_no_events_says_what_it_proves_and_what_not() -> None:
    _text, blocks = build_activity(result([], notes=["Region `ap-south-1` could not be read: denied"]))
    body = json.dumps(blocks, ensure_ascii=False)
    assert "No CloudTrail events" in body and "management API calls" in body
    assert "data events" in body and "ACTIVITY_REGIONS" in body
    assert "IAM records its last use as <!date^" in body and "|2026-11-27> (s3, eu-west-1)" in body  # reader's zone
    assert "ap-south-1" in body


def test_access_summary_and_message() -> None:
    services = parse_services(
        [
            {
                "ServiceName": "Amazon S3",
                "ServiceNamespace": "s3",
                "LastAuthenticated": NOW - timedelta(days=2),
                "LastAuthenticatedRegion": "eu-west-1",
            },
            {
                "ServiceName": "Amazon EC2",
                "ServiceNamespace": "ec2",
                "LastAuthenticated": (NOW - timedelta(days=200)).replace(tzinfo=None),
            },
            {"ServiceName": "AWS IAM", "ServiceNamespace": "iam"},
        ]
    )
    s = summarize_access("default", "ci", services, NOW, 90, NOW)
    assert [x.namespace for x in s.used] == ["s3"] and [x.namespace for x in s.stale] == ["ec2"]
    assert [x.namespace for x in s.never] == ["iam"] and s.allowed == 3
    _text, blocks = build_access(s, 4)
    _fits_slack(blocks)
    body = fallback_text(json.dumps(blocks, ensure_ascii=False))
    assert "Never used* (1): `iam`" in body and "remove these services" in body
    assert "2026-11-26 (eu-west-1)" in body


def test_access_message_for_a_user_without_policies() -> None:
    _, blocks = build_access(summarize_access("default", "bare", [], NOW, 90, NOW), 4)
    assert "nothing to trim" in json.dumps(blocks)


def test_access_message_with_hundreds_of_services_fits() -> None:
    services = [ServiceAccess(f"Service {i}", f"svc{i}", None) for i in range(400)]
    services += [ServiceAccess(f"Used {i}", f"u{i}", NOW - timedelta(days=i % 80)) for i in range(100)]
    _, blocks = build_access(summarize_access("default", "big", services, NOW, 90, NOW), 4)
    _fits_slack(blocks)


def test_commands_parse_days() -> None:
    assert parse(f"activity {KEY}", ["default"]).days == 30
    assert parse(f"activity {KEY} 90", ["default"]).days == 90
    cmd = parse("access prod:ci 400", ["default", "prod"])
    assert (cmd.user.account, cmd.user.name, cmd.days) == ("prod", "ci", 400)
    assert parse("access ci", ["default"]).days == 90


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("activity", "`activity` needs more"),
        ("activity akiaiosfodnn7example", "lower-case"),
        ("activity ASIAIOSFODNN7EXAMPLE", "temporary key"),
        (f"activity {KEY} 91", "91 days is out of range: CloudTrail keeps 90 days"),
        (f"activity {KEY} 0", "0 days is out of range"),
        (f"activity {KEY} ten", "`ten` is not a number of days"),
        (f"activity {KEY} -5", "is not a number of days"),
        (f"activity {KEY} 5 6", "at most a number of days"),
        ("access", "`access` needs more"),
        ("access bad/user", "not a valid IAM user name"),
        ("access staging:ci", "Unknown account `staging`"),
        ("access ci 401", "Access Advisor remembers about 400 days"),
        (f"access {KEY}", "takes a user, not a key id"),
    ],
)
def test_bad_input_is_specific(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse(text, ["default"])
    assert message in str(e.value) and "Usage:" in str(e.value)


BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


def test_settings() -> None:
    s = Settings.from_env(BASE)
    assert (s.activity_regions, s.activity_max_events, s.access_cache_hours) == ((), 1000, 4)
    assert (s.strict_policy_findings, s.require_extra_approval_for_admin) == (False, True)
    s = Settings.from_env(
        BASE
        | {
            "ACTIVITY_REGIONS": "eu-west-1, us-gov-west-1,eu-west-1",
            "ACTIVITY_MAX_EVENTS": "200",
            "STRICT_POLICY_FINDINGS": "true",
            "REQUIRE_EXTRA_APPROVAL_FOR_ADMIN": "false",
        }
    )
    assert s.activity_regions == ("eu-west-1", "us-gov-west-1") and s.activity_max_events == 200
    assert s.strict_policy_findings and not s.require_extra_approval_for_admin


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACTIVITY_REGIONS", "europe"),
        ("ACTIVITY_MAX_EVENTS", "10"),
        ("STRICT_POLICY_FINDINGS", "maybe"),
        ("ACCESS_CACHE_HOURS", "0"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as e:
        Settings.from_env(BASE | {name: value})
    assert name in str(e.value)
