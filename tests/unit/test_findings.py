from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.findings import (
    INACTIVE_KEY,
    KEY_AGE_WARNING,
    KEY_TOO_OLD,
    KEY_UNUSED,
    ROOT_KEY,
    TWO_ACTIVE_KEYS,
    Severity,
    Thresholds,
    findings_for_user,
    key_findings,
)
from bot.domain.keys import KeyFacts

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = Thresholds()


def key(age: float, used_days_ago: float | None = 0, status: str = "Active", **kw) -> KeyFacts:
    last = None if used_days_ago is None else NOW - timedelta(days=used_days_ago)
    return KeyFacts("default", "u", "AKIA" + "A" * 16, status, NOW - timedelta(days=age), last, **kw)


def codes(k: KeyFacts) -> list[str]:
    return [f.code for f in key_findings(k, POLICY, NOW)]


@pytest.mark.parametrize(
    ("age", "expected"),
    [(80, []), (81, [KEY_AGE_WARNING]), (89, [KEY_AGE_WARNING]), (90, [KEY_AGE_WARNING]), (91, [KEY_TOO_OLD])],
)
def test_age_boundaries(age: int, expected: list[str]) -> None:
    assert codes(key(age)) == expected


def test_too_old_is_iam3_and_high() -> None:
    (f,) = key_findings(key(91), POLICY, NOW)
    assert (f.control, f.severity) == ("IAM.3", Severity.HIGH)
    assert "91 days old (limit 90)" in f.message


@pytest.mark.parametrize(("age", "expected"), [(44, []), (45, [KEY_UNUSED]), (46, [KEY_UNUSED])])
def test_never_used_keys_get_a_grace_period(age: int, expected: list[str]) -> None:
    assert codes(key(age, used_days_ago=None)) == expected


@pytest.mark.parametrize(("unused", "expected"), [(44, []), (45, [KEY_UNUSED]), (60, [KEY_UNUSED])])
def test_unused_boundaries(unused: int, expected: list[str]) -> None:
    assert codes(key(70, used_days_ago=unused)) == expected


def test_unused_is_iam22() -> None:
    (f,) = key_findings(key(50, used_days_ago=None), POLICY, NOW)
    assert f.control == "IAM.22" and "never used" in f.message


def test_inactive_key_only_suggests_delete() -> None:
    assert codes(key(400, used_days_ago=None, status="Inactive")) == [INACTIVE_KEY]


def test_root_key_is_critical_first() -> None:
    found = key_findings(key(200, is_root=True), POLICY, NOW)
    assert found[0].code == ROOT_KEY and found[0].severity == Severity.CRITICAL and found[0].control == "IAM.4"
    assert KEY_TOO_OLD in [f.code for f in found]


def test_two_active_keys_on_each_active_key() -> None:
    a, b = key(10), KeyFacts("default", "u", "AKIA" + "B" * 16, "Active", NOW - timedelta(days=1))
    c = KeyFacts("default", "u", "AKIA" + "C" * 16, "Inactive", NOW - timedelta(days=1))
    result = findings_for_user([a, b], POLICY, NOW)
    assert all(TWO_ACTIVE_KEYS in [f.code for f in fs] for fs in result.values())
    result = findings_for_user([a, c], POLICY, NOW)
    assert [f.code for f in result[a.key_id]] == []


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(max_key_age_days=30, warn_key_age_days=20, unused_days=10)
    assert [f.code for f in key_findings(key(31, used_days_ago=11), strict, NOW)] == [KEY_TOO_OLD, KEY_UNUSED]
