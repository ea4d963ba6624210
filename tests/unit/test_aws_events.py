"""Parsing the events queue's messages: known events, and clear refusals for everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.aws_events import (
    HEALTH_RISK_TYPES,
    CredentialsExposed,
    KeyChanged,
    MalformedEvent,
    Principal,
    UnknownEvent,
    contradiction,
    health_time,
    is_keywarden,
    parse_event,
    principal_of,
)
from bot.domain.keys import AccessKey
from tests.support.aws_events import health_exposed, key_call

KEY = "AKIAZ2N6KQXJ7PLMWXYZ"
NOW = datetime(2026, 11, 30, 10, 2, tzinfo=UTC)


def test_health_exposure() -> None:
    event = parse_event(json.dumps(health_exposed(KEY, event_id="e-1")))
    assert isinstance(event, CredentialsExposed)
    assert (event.event_id, event.aws_account_id, event.key_ids) == ("e-1", "123456789012", (KEY,))


@pytest.mark.parametrize("code", HEALTH_RISK_TYPES)
def test_every_health_risk_event_about_a_key(code: str) -> None:
    """Organisational view: the event reaches the management account; the key is the affected account's."""
    body = health_exposed(KEY, "999999999999", "e-2", code=code, affected_account="123456789012")
    body["detail"]["startTime"] = "Sat, 05 Jun 2016 15:10:09 GMT"  # RFC 1123, as Health writes it
    event = parse_event(json.dumps(body))
    assert isinstance(event, CredentialsExposed)
    assert (event.type_code, event.aws_account_id, event.key_ids) == (code, "123456789012", (KEY,))
    assert event.at == datetime(2016, 6, 5, 15, 10, 9, tzinfo=UTC)


def test_health_times() -> None:
    assert health_time("Sat, 05 Jun 2016 15:10:09 GMT") == datetime(2016, 6, 5, 15, 10, 9, tzinfo=UTC)
    assert health_time("2016-06-05T15:10:09Z") == datetime(2016, 6, 5, 15, 10, 9, tzinfo=UTC)
    assert health_time("yesterday") is None and health_time(None) is None and health_time("") is None
    body = health_exposed(KEY, code="AWS_RISK_CREDENTIALS_COMPROMISED")
    body["detail"]["startTime"] = "not a date"
    body["time"] = "2026-11-30T10:02:00Z"
    assert parse_event(json.dumps(body)).at == NOW  # the event's own time instead
    body["detail"]["affectedAccount"] = "not-an-account"
    assert parse_event(json.dumps(body)).aws_account_id == "123456789012"  # the event's account instead
    with pytest.raises(UnknownEvent, match="AWS_RISK_CREDENTIALS_COMPROMISED without a key id"):
        parse_event(json.dumps(health_exposed("no-key", code="AWS_RISK_CREDENTIALS_COMPROMISED")))
    with pytest.raises(UnknownEvent):
        parse_event(json.dumps(health_exposed(KEY, code="AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED")))


@pytest.mark.parametrize("call", ["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"])
def test_key_calls(call: str) -> None:
    event = parse_event(json.dumps(key_call(call, KEY, "ci", status="Inactive" if call == "UpdateAccessKey" else None)))
    assert isinstance(event, KeyChanged)
    assert (event.call, event.key_id, event.user, event.failed) == (call, KEY, "ci", False)
    assert event.caller == Principal("user", "123456789012", "bob") and event.source_ip == "203.0.113.7"


def test_an_assumed_role_session_is_its_role() -> None:
    caller = "arn:aws:sts::111111111111:assumed-role/keywarden/keywarden"
    body = key_call("DeleteAccessKey", KEY, "ci", caller, account="111111111111")
    event = parse_event(json.dumps(body))
    ours = frozenset({principal_of("arn:aws:iam::111111111111:role/ops/keywarden")})
    assert is_keywarden(event.caller, ours)
    assert not is_keywarden(principal_of("arn:aws:iam::111111111111:user/keywarden"), ours)


@pytest.mark.parametrize("part", ["sessionContext", "responseElements", "userIdentity"])
def test_a_key_call_with_an_odd_part_is_read_without_it(part: str) -> None:
    """A part of the event that is not a JSON object where CloudTrail writes one is read as empty, not a crash."""
    body = key_call("DeleteAccessKey", KEY, "ci")
    owner = body["detail"]["userIdentity"] if part == "sessionContext" else body["detail"]
    owner[part] = "odd"
    event = parse_event(json.dumps(body))
    assert isinstance(event, KeyChanged) and event.call == "DeleteAccessKey"


def test_a_failed_call_is_known_but_changed_nothing() -> None:
    event = parse_event(json.dumps(key_call("CreateAccessKey", KEY, "ci", error="AccessDenied") | {}))
    assert isinstance(event, KeyChanged) and event.failed


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[1]", "null", '"x"', "{}", '{"id": "x"}', '{"detail-type": "y"}', "\x00\xff", "{" * 10_000],
)
def test_malformed(body: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(body)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "e-2", "detail-type": "EC2 Instance State-change Notification", "account": "123456789012", "detail": {}},
        health_exposed(KEY) | {"detail": {"eventTypeCode": "AWS_EC2_MAINTENANCE", "affectedEntities": []}},
        health_exposed("not-a-key"),
        key_call("CreateUser", KEY, "ci"),
        key_call("DeleteAccessKey", "", "ci"),
        health_exposed(KEY) | {"account": "nope"},
    ],
)
def test_unknown_events_name_only_type_and_id(event: dict) -> None:
    with pytest.raises(UnknownEvent) as raised:
        parse_event(json.dumps(event))
    assert raised.value.event_id == event["id"] and KEY not in str(raised.value)


def test_oversized_body() -> None:
    with pytest.raises(MalformedEvent):
        parse_event("x" * 300_000)


def _claim(call: str, status: str | None = None, at: datetime | None = NOW) -> KeyChanged:
    event = parse_event(json.dumps(key_call(call, KEY, "ci", status=status, at=at)))
    assert isinstance(event, KeyChanged)
    return event


LIVE = AccessKey("ci", KEY, "Active", NOW - timedelta(seconds=3))


@pytest.mark.parametrize(
    ("claim", "live", "doubt"),
    [
        (_claim("DeleteAccessKey"), None, None),
        (_claim("DeleteAccessKey"), LIVE, "IAM still lists the key (Active)"),
        (_claim("CreateAccessKey"), LIVE, None),
        (_claim("CreateAccessKey"), None, "IAM lists no such key for this user"),
        (_claim("CreateAccessKey", at=NOW + timedelta(days=30)), LIVE, "not at the event's time"),
        (_claim("UpdateAccessKey", "Active"), LIVE, None),
        (_claim("UpdateAccessKey", "Inactive"), LIVE, "IAM shows the key Active, not Inactive"),
        (_claim("UpdateAccessKey", "Inactive"), None, "IAM lists no such key for this user"),
        (_claim("UpdateAccessKey", "<!here>"), LIVE, "IAM shows the key Active, not changed"),
    ],
)
def test_claims_are_weighed_against_the_live_key(claim: KeyChanged, live: AccessKey | None, doubt: str | None) -> None:
    found = contradiction(claim, live)
    assert found == doubt if doubt is None else doubt in (found or "")
