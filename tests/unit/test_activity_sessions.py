"""Sessions a key minted, on plain data: reading them from CloudTrail events, the deny that ends them, where each
partition records IAM's events, and the `activity` answer that shows them (management events only, said always)."""

import json
from datetime import UTC, datetime, timedelta

from bot.domain.activity import ActivityResult, TrailEvent, parse_trail_event, search_regions, session_minted, summarize
from bot.domain.keys import KeyFacts
from bot.domain.sessions import MintedSession, global_region, minted_session, revoke_policy, user_arn
from bot.slack.messages.usage import build_activity

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"


def minting(name="GetSessionToken", credentials=None, request=None, error=None) -> dict:
    detail = {
        "eventSource": "sts.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "accessKeyId": KEY},
        "recipientAccountId": "111122223333",
        "requestParameters": request,
        "responseElements": {"credentials": credentials} if credentials else None,
        **({"errorCode": error} if error else {}),
    }
    return {
        "EventName": name,
        "EventSource": "sts.amazonaws.com",
        "EventTime": NOW,
        "AccessKeyId": KEY,
        "CloudTrailEvent": json.dumps(detail),
    }


def test_a_minting_event_gives_the_session_key_id_and_expiry() -> None:
    raw = minting(credentials={"accessKeyId": "ASIAEXAMPLE000000001", "expiration": "Nov 29, 2026, 11:30:00 PM"})
    session = session_minted(raw, parse_trail_event(raw, "eu-west-1"))
    assert session == MintedSession(
        "ASIAEXAMPLE000000001", "sts:GetSessionToken", NOW, KEY, datetime(2026, 11, 29, 23, 30, tzinfo=UTC), None,
        "111122223333",
    )  # fmt: skip
    assert session.may_be_valid(NOW + timedelta(hours=35)) and not session.may_be_valid(NOW + timedelta(hours=36))


def test_expiry_in_older_formats_from_the_duration_or_the_longest_allowed() -> None:
    older = minting(credentials={"accessKeyId": "ASIAEXAMPLE000000002", "expiration": "Mar 28, 2016 1:16:51 AM"})
    assert minted_session("GetSessionToken", json.loads(older["CloudTrailEvent"]), NOW).expires == datetime(
        2016, 3, 28, 1, 16, 51, tzinfo=UTC
    )
    role = "arn:aws-cn:iam::111122223333:role/deploy"
    asked = minting("AssumeRole", {"accessKeyId": "ASIAEXAMPLE000000003"}, {"roleArn": role, "durationSeconds": 900})
    session = minted_session("AssumeRole", json.loads(asked["CloudTrailEvent"]), NOW)
    assert session.expires == NOW + timedelta(minutes=15) and session.role_arn == role
    unknown = minted_session("GetFederationToken", json.loads(minting("GetFederationToken", {"accessKeyId": "ASIAX"})[
        "CloudTrailEvent"]), NOW)  # fmt: skip
    assert unknown.expires is None and unknown.may_be_valid(NOW + timedelta(hours=35))
    assert not unknown.may_be_valid(NOW + timedelta(hours=36))  # GetFederationToken's longest: 36 hours


def test_failed_and_other_calls_mint_nothing() -> None:
    denied = minting(error="AccessDenied")
    assert session_minted(denied, parse_trail_event(denied, "us-east-1")) is None
    other = minting("GetCallerIdentity", {"accessKeyId": "ASIANOTREALLY0000001"})
    assert session_minted(other, parse_trail_event(other, "us-east-1")) is None
    broken = {"EventName": "AssumeRole", "EventSource": "sts.amazonaws.com", "EventTime": NOW, "CloudTrailEvent": "{"}
    assert session_minted(broken, parse_trail_event(broken, "us-east-1")) is None


def test_the_deny_that_ends_sessions_and_where_it_goes() -> None:
    policy = json.loads(revoke_policy(datetime(2026, 11, 28, 13, 0, tzinfo=UTC)))
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2026-11-28T13:00:00Z"}}
    assert user_arn("aws-us-gov", "111122223333", "ci") == "arn:aws-us-gov:iam::111122223333:user/ci"
    assert user_arn("aws", None, "ci") is None


def test_iam_events_are_read_in_the_partitions_own_region() -> None:
    assert global_region("aws", "eu-west-1") == "us-east-1"
    assert global_region("aws-us-gov", "us-gov-east-1") == "us-gov-west-1"
    assert global_region("aws-cn", "cn-northwest-1") == "cn-north-1"
    assert global_region("aws-iso", "us-iso-east-1") == "us-iso-east-1"  # unknown: the account's own region
    assert search_regions("us-gov-east-1", [], "us-gov-west-1") == ("us-gov-west-1", "us-gov-east-1")
    assert search_regions(None, ["cn-northwest-1"], "cn-north-1") == ("cn-north-1", "cn-northwest-1")


def call(minutes_ago: int, name: str, service: str, session: str | None = None, ip="203.0.113.1") -> TrailEvent:
    return TrailEvent(NOW - timedelta(minutes=minutes_ago), name, service, "eu-west-1", ip, "boto3", None, "", session)


def answer(events, sessions, unread=0) -> tuple[str, str]:
    facts = KeyFacts("default", "ci", KEY, "Active", NOW - timedelta(days=200), NOW, "ec2", "eu-west-1")
    s = summarize(
        events,
        key_id=KEY,
        start=NOW - timedelta(days=30),
        end=NOW,
        regions_searched=["us-east-1"],
        truncated=False,
        key_created=facts.created,
        rotated_at=None,
    )
    arn = "arn:aws:iam::111122223333:user/ci"
    result = ActivityResult("default", "ci", facts, s, [], None, sessions, unread, arn, NOW)
    text, blocks = build_activity(result)
    for b in blocks:
        assert len(b.get("text", {}).get("text") or "".join(e["text"] for e in b.get("elements", []))) <= 3000
    return text, json.dumps(blocks, ensure_ascii=False)


def test_the_answer_marks_session_calls_and_says_how_to_end_sessions() -> None:
    live = MintedSession("ASIALIVE000000000001", "sts:GetSessionToken", NOW - timedelta(hours=2), KEY, None)
    role = "arn:aws:iam::111122223333:role/<!here>"
    old = MintedSession(
        "ASIAOLD0000000000002", "sts:AssumeRole", NOW - timedelta(days=2), KEY, NOW - timedelta(days=2), role
    )
    events = [
        call(200, "GetSessionToken", "sts"),
        call(100, "DescribeInstances", "ec2"),
        call(90, "DescribeInstances", "ec2", "ASIALIVE000000000001"),
        call(80, "DescribeInstances", "ec2", "ASIALIVE000000000001"),
    ]
    text, body = answer(events, [live, old], unread=1)
    assert "4 calls" in text
    assert "`ec2:DescribeInstances` 1" in body and "`ec2:DescribeInstances` 2 _through a session_" in body
    assert "Sessions the key minted* (2)" in body and "2 calls" in body
    assert "*may still be valid*" in body and "(expired)" in body
    assert "1 session not looked up in every region" in body
    assert f"Deactivating `{KEY}` does not end a session" in body and "aws:TokenIssueTime" in body
    assert "arn:aws:iam::111122223333:user/ci" in body
    assert "<!here>" not in body  # a role ARN is text a caller chose; and expired sessions need no deny
    assert "management events only" in body


def test_no_deny_when_every_session_has_expired_and_management_events_are_said_on_every_answer() -> None:
    old = MintedSession("ASIAOLD0000000000002", "sts:GetSessionToken", NOW - timedelta(days=3), KEY, None)
    _, body = answer([call(100, "DescribeInstances", "ec2")], [old])
    assert "(expired)" in body and "aws:TokenIssueTime" not in body
    _, plain = answer([call(100, "DescribeInstances", "ec2")], [])
    assert "management events only" in plain and "Sessions the key minted" not in plain
    assert "S3 object reads and writes" in plain


def test_many_sessions_fit_one_slack_section() -> None:
    sessions = [
        MintedSession(
            f"ASIAMANY{i:012d}",
            "sts:AssumeRole",
            NOW - timedelta(minutes=i),
            KEY,
            None,
            "arn:aws:iam::1:role/" + "r" * 60,
        )
        for i in range(40)
    ]
    _, body = answer([call(100, "GetSessionToken", "sts")], sessions)  # answer() checks every block's length
    assert (
        "Sessions the key minted* (40)" in body
        and "…and 35 more" in body
        and "CSV" not in body.split("…and 35")[1][:20]
    )
