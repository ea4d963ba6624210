from datetime import UTC, datetime, timedelta

from bot.domain.alert_plan import digest_fingerprint, notice_key, plan_delivery
from bot.domain.findings import KEY_AGE_WARNING, KEY_TOO_OLD, Finding, Severity
from bot.domain.keys import KeyFacts
from bot.domain.scan import NoticeState, ScanFinding

NOW = datetime(2026, 11, 28, tzinfo=UTC)
WEEK = timedelta(days=7)
OLD = Finding(KEY_TOO_OLD, Severity.HIGH, "IAM.3", "old")
WARN = Finding(KEY_AGE_WARNING, Severity.LOW, None, "soon")
SLACK = {"ann@example.com": "UANN", "bob@example.com": "UBOB", "gone@example.com": None}


def _finding(
    n: int, owner: str | None, code: Finding = OLD, exempt_reason: str | None = None, snoozed: bool = False
) -> ScanFinding:
    key = f"AKIA{n:016d}"
    facts = KeyFacts("default", f"u{n}", key, "Active", NOW - timedelta(days=100))
    return ScanFinding("default", f"u{n}", key, code, facts, owner, exempt_reason, snoozed)


def _told(days_ago: int, severity: Severity = Severity.HIGH) -> NoticeState:
    return NoticeState(NOW - timedelta(days=days_ago), int(severity), None)


def test_an_owner_with_something_due_hears_about_all_their_findings() -> None:
    due, reminded_yesterday = _finding(1, "ann@example.com"), _finding(2, "ann@example.com")
    plan = plan_delivery([due, reminded_yesterday], {notice_key(reminded_yesterday): _told(1)}, SLACK, NOW, WEEK)
    assert plan.due == [due]
    assert plan.dms == {"UANN": [due, reminded_yesterday]}
    assert plan.due_in([due, reminded_yesterday]) == [notice_key(due)]
    assert plan.due_in_digest == []


def test_an_owner_with_nothing_due_gets_no_dm() -> None:
    told = _finding(1, "bob@example.com")
    plan = plan_delivery([told], {notice_key(told): _told(3)}, SLACK, NOW, WEEK)
    assert plan.due == [] and plan.dms == {}
    assert plan.by_owner == {"UBOB": [told]}  # still counted as owned: the digest does not announce it


def test_a_worse_finding_is_due_before_the_reminder() -> None:
    worse = _finding(1, "bob@example.com", OLD)
    plan = plan_delivery([worse], {notice_key(worse): _told(1, Severity.LOW)}, SLACK, NOW, WEEK)
    assert plan.dms == {"UBOB": [worse]}


def test_unowned_and_unknown_owners_are_told_by_the_digest() -> None:
    nobody, gone, stranger = _finding(1, None), _finding(2, "gone@example.com"), _finding(3, "x@example.com")
    also_gone = _finding(4, "gone@example.com", WARN)
    plan = plan_delivery([nobody, gone, stranger, also_gone], {}, SLACK, NOW, WEEK)
    assert plan.dms == {}
    assert plan.unowned == [nobody]
    assert plan.unmatched_owners == {"gone@example.com": 2, "x@example.com": 1}
    assert plan.due_in_digest == [notice_key(f) for f in (nobody, gone, stranger, also_gone)]


def test_exempt_and_snoozed_findings_are_neither_due_nor_listed() -> None:
    exempt = _finding(1, "ann@example.com", exempt_reason="break-glass")
    snoozed = _finding(2, None, snoozed=True)
    plan = plan_delivery([exempt, snoozed], {}, SLACK, NOW, WEEK)
    assert (plan.due, plan.by_owner, plan.unowned, plan.unmatched_owners) == ([], {}, [], {})


def test_a_digest_is_the_same_when_it_tells_the_same_findings() -> None:
    one, two = _finding(1, "ann@example.com"), _finding(2, None)
    same = digest_fingerprint([one, two], ["default"], [])
    assert digest_fingerprint([two, one], ["default"], []) == same  # the order they were found in does not count
    assert digest_fingerprint([one], ["default"], []) != same  # one resolved
    assert digest_fingerprint([one, _finding(2, None, WARN)], ["default"], []) != same  # another finding
    assert digest_fingerprint([one, _finding(2, "bob@example.com")], ["default"], []) != same  # now owned
    assert digest_fingerprint([one, _finding(2, None, snoozed=True)], ["default"], []) != same  # now quiet
    assert digest_fingerprint([one, two], ["default", "prod"], ["prod"]) != same  # an account failed
