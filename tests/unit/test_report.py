"""The credential report: parsing, key facts, matching slots to key ids, freshness and fetching with backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.aws import AwsError, AwsPermissionDenied, AwsReportNotReady, AwsThrottled
from bot.domain.findings import ROOT_KEY, Thresholds, key_findings
from bot.domain.keys import AccessKey
from bot.domain.report import (
    ReportKey,
    ReportUser,
    SeenKey,
    listed_key_facts,
    match_key_ids,
    parse_credential_report,
    remembered_key_ids,
    report_is_fresh,
    report_key_facts,
)
from bot.services.credential_report import fetch_credential_report

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
    "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,"
    "cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
ROWS = [
    # The root user, with an old key used last week.
    "<root_account>,arn:aws:iam::123456789012:root,2019-03-01T10:00:00+00:00,not_supported,"
    "2026-11-01T08:00:00+00:00,not_supported,not_supported,true,"
    "true,2020-01-15T09:30:00+00:00,2026-11-20T11:00:00+00:00,us-east-1,iam,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    # A console user without keys.
    "alice,arn:aws:iam::123456789012:user/alice,2024-05-02T12:00:00+00:00,true,no_information,"
    "2024-05-02T12:00:00+00:00,2025-05-02T12:00:00+00:00,true,"
    "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    # Mid-rotation: an active key used from S3 and an inactive one never used (Z dates).
    "ci,arn:aws:iam::123456789012:user/deploy/ci,2023-01-10T08:00:00Z,false,N/A,N/A,N/A,false,"
    "true,2026-10-01T09:00:00Z,2026-11-27T23:15:00Z,eu-west-1,s3,"
    "false,2025-06-01T09:00:00Z,N/A,N/A,N/A,false,N/A,false,N/A",
    # Slot 1 empty, slot 2 active and never used; moto's not_supported forms.
    "deploy,arn:aws:iam::123456789012:user/deploy,2025-02-03T04:05:06+00:00,false,not_supported,"
    "2025-02-03T04:05:06+00:00,not_supported,false,"
    "false,N/A,N/A,not_supported,not_supported,true,2026-08-30T17:45:10+00:00,no_information,"
    "not_supported,not_supported,false,N/A,false,N/A",
    # One inactive key, and nothing else.
    "old-app,arn:aws:iam::123456789012:user/old-app,2021-07-07T07:07:07+00:00,false,N/A,N/A,N/A,false,"
    "false,2021-07-07T07:10:00+00:00,2022-01-01T00:00:00+00:00,us-west-2,sts,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
]
REPORT = "\n".join([HEADER, *ROWS]) + "\n"


def by_name() -> dict[str, ReportUser]:
    return {u.user: u for u in parse_credential_report(REPORT, "prod")}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Parsing


def test_every_row_becomes_a_user_in_order() -> None:
    users = parse_credential_report(REPORT, "prod")
    assert [u.user for u in users] == ["<root_account>", "alice", "ci", "deploy", "old-app"]
    assert {u.account for u in users} == {"prod"}
    assert users[2].arn == "arn:aws:iam::123456789012:user/deploy/ci"


def test_root_row_is_the_root_user() -> None:
    users = by_name()
    root = users["<root_account>"]
    assert root.is_root and not any(u.is_root for name, u in users.items() if name != "<root_account>")
    assert root.created == at("2019-03-01T10:00:00")
    assert root.keys == (ReportKey(1, True, at("2020-01-15T09:30:00"), at("2026-11-20T11:00:00"), "iam", "us-east-1"),)


def test_user_without_keys_has_no_slots() -> None:
    assert by_name()["alice"].keys == ()


def test_two_keys_one_inactive_and_z_dates() -> None:
    ci = by_name()["ci"]
    assert ci.created == datetime(2023, 1, 10, 8, 0, tzinfo=UTC)
    assert ci.keys == (
        ReportKey(1, True, at("2026-10-01T09:00:00"), at("2026-11-27T23:15:00"), "s3", "eu-west-1"),
        ReportKey(2, False, at("2025-06-01T09:00:00"), None, None, None),
    )


def test_only_second_slot_and_nothing_forms_are_none() -> None:
    (key,) = by_name()["deploy"].keys
    assert key == ReportKey(2, True, at("2026-08-30T17:45:10"), None, None, None)


def test_inactive_key_alone_is_kept() -> None:
    (key,) = by_name()["old-app"].keys
    assert (key.slot, key.active, key.last_rotated) == (1, False, at("2021-07-07T07:10:00"))
    assert (key.last_used, key.last_service, key.last_region) == (at("2022-01-01T00:00:00"), "sts", "us-west-2")


def test_dates_are_aware_utc() -> None:
    for user in parse_credential_report(REPORT, "prod"):
        assert user.created.tzinfo is UTC
        for key in user.keys:
            assert key.last_rotated is not None and key.last_rotated.tzinfo is UTC


def test_bytes_with_bom_and_crlf_parse_the_same() -> None:
    raw = ("\ufeff" + REPORT.replace("\n", "\r\n")).encode()
    assert parse_credential_report(raw, "prod") == parse_credential_report(REPORT, "prod")


def test_header_only_is_no_users() -> None:
    assert parse_credential_report(HEADER + "\n", "prod") == []


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="access_key_2_active"):
        parse_credential_report(HEADER.replace("access_key_2_active", "x") + "\n", "prod")


# Key facts


def test_key_facts_per_slot_with_ids() -> None:
    ci = by_name()["ci"]
    active, inactive = report_key_facts(ci, {1: "AKIA" + "A" * 16})
    assert (active.account, active.user, active.key_id, active.status) == ("prod", "ci", "AKIA" + "A" * 16, "Active")
    assert active.created == at("2026-10-01T09:00:00") and active.age_days(NOW) == 58
    assert (active.last_used, active.last_service, active.last_region) == (at("2026-11-27T23:15:00"), "s3", "eu-west-1")
    assert (inactive.key_id, inactive.status, inactive.active) == (None, "Inactive", False)
    assert inactive.days_since_use(NOW) is None


def test_key_facts_without_ids_and_without_keys() -> None:
    users = by_name()
    assert [k.key_id for k in report_key_facts(users["ci"])] == [None, None]
    assert report_key_facts(users["alice"]) == []


def test_root_key_facts_feed_the_root_finding() -> None:
    (facts,) = report_key_facts(by_name()["<root_account>"])
    assert facts.is_root and facts.user == "<root_account>"
    assert key_findings(facts, Thresholds(), NOW)[0].code == ROOT_KEY


# Matching slots to key ids

K1, K2, K3 = ("AKIA" + c * 16 for c in "ABC")
T1, T2 = at("2026-10-01T09:00:00"), at("2025-06-01T09:00:00")


def slots(*keys: tuple[int, bool, datetime]) -> list[ReportKey]:
    return [ReportKey(slot, active, created) for slot, active, created in keys]


def test_matches_by_creation_time_in_any_order() -> None:
    report = slots((1, True, T1), (2, False, T2))
    listed = [AccessKey("ci", K1, "Active", T1), AccessKey("ci", K2, "Inactive", T2)]
    assert match_key_ids(report, listed) == {1: K1, 2: K2}
    assert match_key_ids(report, list(reversed(listed))) == {1: K1, 2: K2}
    assert match_key_ids(list(reversed(report)), listed) == {1: K1, 2: K2}


def test_matches_within_tolerance_and_ignores_sub_seconds() -> None:
    report = slots((1, True, T1))
    assert match_key_ids(report, [AccessKey("u", K1, "Active", T1 + timedelta(seconds=1, microseconds=900_000))]) == {
        1: K1
    }
    assert match_key_ids(report, [AccessKey("u", K1, "Active", T1 - timedelta(seconds=2))]) == {1: K1}
    assert match_key_ids(report, [AccessKey("u", K1, "Active", T1 + timedelta(seconds=3))]) == {}


def test_nearest_wins() -> None:
    report = slots((1, True, T1))
    listed = [AccessKey("u", K1, "Active", T1 + timedelta(seconds=2)), AccessKey("u", K2, "Active", T1)]
    assert match_key_ids(report, listed) == {1: K2}


def test_same_second_keys_are_told_apart_by_status() -> None:
    report = slots((1, False, T1), (2, True, T1))
    listed = [AccessKey("u", K1, "Active", T1), AccessKey("u", K2, "Inactive", T1)]
    assert match_key_ids(report, listed) == {1: K2, 2: K1}


def test_status_changed_since_the_report_still_matches_by_date() -> None:
    report = slots((1, True, T1), (2, True, T1 + timedelta(seconds=1)))
    listed = [AccessKey("u", K2, "Active", T1 + timedelta(seconds=1)), AccessKey("u", K1, "Inactive", T1)]
    assert match_key_ids(report, listed) == {1: K1, 2: K2}


def test_keys_unknown_to_either_side_stay_unmatched() -> None:
    report = slots((1, True, T1), (2, True, T2))
    listed = [AccessKey("u", K1, "Active", T1), AccessKey("u", K3, "Active", NOW)]
    assert match_key_ids(report, listed) == {1: K1}
    assert match_key_ids(report, []) == {}
    assert match_key_ids([ReportKey(1, True, None)], listed) == {}


# Live keys over the report's slots (ListAccessKeys just now)


def test_listed_keys_give_live_status_and_keep_the_reports_last_use() -> None:
    ci = by_name()["ci"]  # slot 1 active (used from S3), slot 2 inactive
    listed = [AccessKey("ci", K1, "Inactive", T1), AccessKey("ci", K2, "Active", T2)]
    first, second = listed_key_facts(ci, listed)
    assert (second.key_id, second.status) == (K1, "Inactive")  # deactivated since the report said active
    assert (second.last_used, second.last_service) == (at("2026-11-27T23:15:00"), "s3")
    assert (first.key_id, first.status, first.last_used) == (K2, "Active", None)  # reactivated since


def test_a_slot_without_a_listed_key_is_dropped_and_a_new_key_is_kept() -> None:
    ci = by_name()["ci"]
    (only,) = listed_key_facts(ci, [AccessKey("ci", K1, "Active", T1)])  # slot 2's key was deleted since
    assert only.key_id == K1 and only.last_region == "eu-west-1"
    assert listed_key_facts(ci, []) == []  # every key gone
    new = listed_key_facts(ci, [AccessKey("ci", K1, "Active", T1), AccessKey("ci", K3, "Active", NOW)])
    assert [(k.key_id, k.created, k.last_used) for k in new][1] == (K3, NOW, None)  # made after the report


# Key ids remembered from earlier listings


def test_remembered_ids_cover_every_dated_slot() -> None:
    report = slots((1, True, T1), (2, False, T2))
    seen = [SeenKey(K2, T2 + timedelta(seconds=1)), SeenKey(K1, T1), SeenKey(K3, NOW)]
    assert remembered_key_ids(report, seen) == {1: K1, 2: K2}
    assert remembered_key_ids([], seen) == {}
    assert remembered_key_ids([ReportKey(1, True, None)], []) == {}


def test_a_slot_no_remembered_key_explains_needs_a_listing() -> None:
    report = slots((1, True, T1), (2, True, NOW))  # the second key was made since the last listing
    assert remembered_key_ids(report, [SeenKey(K1, T1)]) is None
    assert remembered_key_ids(slots((1, True, T1)), [SeenKey(K1, T1 + timedelta(seconds=3))]) is None


def test_keys_made_seconds_apart_are_not_guessed() -> None:
    seen = [SeenKey(K1, T1), SeenKey(K2, T1 + timedelta(seconds=1))]
    assert remembered_key_ids(slots((1, True, T1)), seen) is None
    assert remembered_key_ids(slots((1, True, T1), (2, True, T1)), [SeenKey(K1, T1)]) is None


# Freshness


@pytest.mark.parametrize(
    ("age", "fresh"),
    [
        (timedelta(0), True),
        (timedelta(hours=3, minutes=59, seconds=59), True),
        (timedelta(hours=4), False),
        (timedelta(days=400), False),
        (timedelta(minutes=-5), True),
    ],
)
def test_freshness_boundaries(age: timedelta, fresh: bool) -> None:
    assert report_is_fresh(NOW - age, NOW) is fresh


def test_freshness_limit_is_configurable() -> None:
    assert report_is_fresh(NOW - timedelta(minutes=29), NOW, max_age_hours=0.5)
    assert not report_is_fresh(NOW - timedelta(minutes=30), NOW, max_age_hours=0.5)


# Fetching

CONTENT = REPORT.encode()
STALE = NOW - timedelta(hours=5)
MOTO_TIME = datetime(2015, 2, 2, 20, 2, 2, tzinfo=UTC)


class FakeClient:
    """Answers generate and get from scripts (an exception in a script is raised) and records the calls."""

    alias = "prod"

    def __init__(self, generates: list[object], gets: list[object], clock: FakeTime | None = None) -> None:
        self.generates, self.gets, self.calls, self.clock = list(generates), list(gets), [], clock

    def _next(self, name: str, script: list[object]) -> object:
        self.calls.append(name)
        if self.clock is not None:
            self.clock.advance(self.clock.call_seconds)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def generate_credential_report(self) -> str:
        return self._next("generate", self.generates)  # type: ignore[return-value]

    def get_credential_report(self) -> tuple[bytes, datetime]:
        return self._next("get", self.gets)  # type: ignore[return-value]


class FakeTime:
    """A clock that only moves when slept on (or when a call takes `call_seconds`); records every sleep."""

    def __init__(self, call_seconds: float = 0) -> None:
        self.now, self.delays, self.call_seconds = NOW, [], call_seconds

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.advance(seconds)


def not_ready(code: str) -> AwsReportNotReady:
    return AwsReportNotReady(f"{code}: report")


def test_fresh_cache_makes_no_call() -> None:
    client, time = FakeClient(["COMPLETE"], [(b"new", NOW)]), FakeTime()
    cached = (b"cached", NOW - timedelta(hours=3))
    assert fetch_credential_report(client, lambda: time.now, time.sleep, cached=cached) == cached
    assert client.calls == [] and time.delays == []


def test_recent_report_in_aws_is_reused() -> None:
    client, time = FakeClient(["COMPLETE"], [(b"recent", NOW - timedelta(hours=1))]), FakeTime()
    got = fetch_credential_report(client, lambda: time.now, time.sleep, cached=(b"cached", STALE))
    assert got == (b"recent", NOW - timedelta(hours=1))
    assert client.calls == ["generate", "get"] and time.delays == []


def test_generates_polls_with_backoff_through_not_ready_and_throttling() -> None:
    client = FakeClient(
        ["STARTED", AwsThrottled("slow down"), "COMPLETE", "COMPLETE"],
        [not_ready("ReportInProgress"), (CONTENT, NOW)],
    )
    time = FakeTime()
    assert fetch_credential_report(client, lambda: time.now, time.sleep) == (CONTENT, NOW)
    assert client.calls == ["generate", "generate", "generate", "get", "generate", "get"]
    assert time.delays == [0.5, 1.0, 2.0]


def test_old_report_is_regenerated_like_in_moto() -> None:
    client, time = FakeClient(["STARTED", "COMPLETE"], [(b"old", MOTO_TIME)]), FakeTime()
    assert fetch_credential_report(client, lambda: time.now, time.sleep) == (b"old", MOTO_TIME)
    assert client.calls == ["generate", "generate", "get"]
    assert time.delays == [0.5]


def test_expired_report_is_regenerated() -> None:
    client = FakeClient(["COMPLETE"], [not_ready("ReportExpired"), (CONTENT, NOW)])
    time = FakeTime()
    assert fetch_credential_report(client, lambda: time.now, time.sleep) == (CONTENT, NOW)
    assert client.calls == ["generate", "get", "generate", "get"] and time.delays == [0.5]


def test_backoff_is_capped_and_gives_up_after_max_wait() -> None:
    client, time = FakeClient(["STARTED"], [not_ready("ReportNotPresent")]), FakeTime()
    with pytest.raises(AwsError) as e:
        fetch_credential_report(client, lambda: time.now, time.sleep, max_wait_seconds=30)
    assert time.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 6.5]
    assert sum(time.delays) == 30
    assert client.calls.count("generate") == 8
    assert "`prod`" in e.value.message and "not ready after 30 seconds" in e.value.message


def test_default_wait_is_two_minutes() -> None:
    client, time = FakeClient(["STARTED"], [not_ready("ReportNotPresent")]), FakeTime()
    with pytest.raises(AwsReportNotReady, match="after 120 seconds"):
        fetch_credential_report(client, lambda: time.now, time.sleep)
    assert max(time.delays) == 8.0 and sum(time.delays) == 120


def test_slow_calls_count_towards_the_wait() -> None:
    time = FakeTime(call_seconds=20)
    client = FakeClient(["STARTED"], [not_ready("ReportNotPresent")], clock=time)
    with pytest.raises(AwsReportNotReady):
        fetch_credential_report(client, lambda: time.now, time.sleep, max_wait_seconds=60)
    assert time.delays == [0.5, 1.0]
    assert client.calls == ["generate", "generate", "generate"]


def test_other_errors_are_not_retried() -> None:
    denied = AwsPermissionDenied("AWS denied `iam:GenerateCredentialReport`", permission="iam:GenerateCredentialReport")
    client, time = FakeClient([denied], [not_ready("ReportNotPresent")]), FakeTime()
    with pytest.raises(AwsPermissionDenied):
        fetch_credential_report(client, lambda: time.now, time.sleep)
    assert client.calls == ["generate"] and time.delays == []
