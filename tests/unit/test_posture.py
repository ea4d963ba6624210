"""The posture summary of a scan and the trend of a window: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.catalogue import KEY_TOO_OLD, KEY_UNUSED
from bot.domain.keys import KeyFacts
from bot.domain.posture import (
    AGE_BUCKETS,
    CREATED,
    REPLACED_BY_ROLE,
    RETIRED,
    KeyChange,
    Snapshot,
    Trend,
    age_bucket,
    months,
    summarize,
)
from bot.domain.scan import AccountScan, ScannedKey, ScanReport
from bot.slack.messages.posture import summary_lines
from tests.support.exports import NOW, key_finding


def key(user: str, days: int, *, active: bool = True, owner: str | None = "a@x.io", root: bool = False) -> ScannedKey:
    facts = KeyFacts("prod", user, None, "Active" if active else "Inactive", NOW - timedelta(days=days), is_root=root)
    return ScannedKey(facts, owner)


def report() -> ScanReport:
    prod = AccountScan("prod", users=4, keys=5)
    prod.inventory = [
        key("ci", 120),
        key("web", 10),
        key("batch", 400, owner=None),
        key("old", 50, active=False),
        key("<root_account>", 5, owner=None, root=True),
    ]
    old = key_finding(KEY_TOO_OLD, "AKIAOLDOLDOLDOLDOLD1", user="ci")
    old = old.__class__(
        **{**old.__dict__, "facts": old.facts.__class__(**{**old.facts.__dict__, "created": NOW - timedelta(days=120)})}
    )
    prod.findings = [old, key_finding(KEY_UNUSED, "AKIAUNUSEDUNUSED0001", user="web")]
    return ScanReport(NOW, NOW, [prod, AccountScan("dev", error="denied")])


def test_buckets_cover_every_age() -> None:
    assert [age_bucket(d) for d in (0, 30, 31, 90, 91, 365, 366, 5000, -1)] == [
        "0-30 days",
        "0-30 days",
        "31-60 days",
        "61-90 days",
        "91-180 days",
        "181-365 days",
        "over a year",
        "over a year",
        "0-30 days",
    ]
    assert len(AGE_BUCKETS) == 6


def test_a_scan_summary() -> None:
    s = summarize(report(), NOW, rotations_done=2, fixed=[timedelta(days=3), timedelta(days=10), timedelta(days=4)])
    assert s["active_keys"] == 4 and s["keys"] == 5 and s["root_keys"] == 1
    assert s["key_ages"] == {
        "0-30 days": 2,
        "31-60 days": 0,
        "61-90 days": 0,
        "91-180 days": 1,
        "181-365 days": 0,
        "over a year": 1,
    }
    assert s["findings_by_code"] == {KEY_TOO_OLD: 1, KEY_UNUSED: 1}
    assert s["findings_by_severity"] == {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 0}
    assert s["unowned_keys"] == 1  # batch's; the root user has no owner tag and is counted apart
    assert (s["rotations_done"], s["fixed"], s["median_days_to_fix"]) == (2, 3, 4.0)
    assert s["failed_accounts"] == ["dev"] and s["accounts"] == 2
    assert [(k["user"], k["age_days"], k["owner"]) for k in s["oldest"][:2]] == [
        ("batch", 400, None),
        ("ci", 120, "a@x.io"),
    ]
    assert s["oldest"][1]["key_id"] == "AKIAOLDOLDOLDOLDOLD1"  # known from its finding


def test_the_trend_of_a_window_and_its_three_lines() -> None:
    first = summarize(report(), NOW - timedelta(days=14), rotations_done=1, fixed=[])
    last = summarize(report(), NOW, rotations_done=2, fixed=[])
    last["findings"] = 1
    trend = Trend(
        NOW - timedelta(days=30), NOW, [Snapshot(NOW - timedelta(days=14), first), Snapshot(NOW, last)], [2.0, 6.0]
    )
    assert trend.severity_series()["high"] == [1, 1]
    assert trend.rotations_done() == 3 and trend.fixed() == (2, 4.0)
    weeks = trend.rotations_by_week()
    assert sum(n for _, n in weeks) == 3 and all(w.weekday() == 0 for w, _ in weeks)
    now_line, moved, oldest = summary_lines(trend, 30)
    assert now_line.startswith("Now: 1 finding (1 high) on 4 active keys; 2 older than 90 days, 1 without an owner")
    assert moved == "Last 30 days: 2 → 1 findings (-1); 3 rotations done; 2 findings fixed, in 4 days (median)."
    assert oldest == "Oldest active key: prod:batch, 400 days old, no owner."


def test_an_empty_window_says_so() -> None:
    trend = Trend(NOW - timedelta(days=90), NOW, [])
    assert trend.latest is None and trend.fixed() == (0, None)
    assert summary_lines(trend, 90)[0] == "No scan was recorded in the last 90 days."


def test_the_way_down_is_counted_per_whole_month_and_said_for_the_window() -> None:
    def at(month: int, day: int) -> datetime:
        return datetime(2026, month, day, 12, tzinfo=UTC)

    assert months(at(10, 31), at(12, 1)) == [datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12)]
    assert months(datetime(2026, 12, 5, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))[-1].year == 2027
    changes = [
        KeyChange(CREATED, at(10, 2)),  # before the window, in its first month: in the month, not in the window
        KeyChange(CREATED, at(10, 20)),
        KeyChange(REPLACED_BY_ROLE, at(11, 3)),
        KeyChange(REPLACED_BY_ROLE, at(11, 30)),
        KeyChange(RETIRED, at(11, 10)),
    ]
    first = summarize(report(), at(10, 16), rotations_done=0, fixed=[])
    trend = Trend(at(10, 15), at(11, 30), [Snapshot(at(10, 16), first), Snapshot(at(11, 30), first)], [], changes)
    assert trend.way_down_by_month() == [
        (datetime(2026, 10, 1, tzinfo=UTC), {CREATED: 2, REPLACED_BY_ROLE: 0, RETIRED: 0}),
        (datetime(2026, 11, 1, tzinfo=UTC), {CREATED: 0, REPLACED_BY_ROLE: 2, RETIRED: 1}),
    ]
    assert trend.way_down() == {CREATED: 1, REPLACED_BY_ROLE: 2, RETIRED: 1}
    moved = summary_lines(trend, 46)[1]
    assert moved.endswith("; 0 findings fixed; 1 key created, 2 replaced by a role, 1 retired.")
    quiet = Trend(at(10, 15), at(11, 30), trend.snapshots, [], changes[:1])  # only before the window
    assert summary_lines(quiet, 46)[1].endswith("; 0 findings fixed.")
