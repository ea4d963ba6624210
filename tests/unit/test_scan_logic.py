from datetime import UTC, datetime, timedelta

from bot.domain.findings import KEY_AGE_WARNING, KEY_TOO_OLD, REPLACEABLE_BY_ROLE, Finding, Severity, Thresholds
from bot.domain.keys import AccessKey, KeyFacts
from bot.domain.report import ReportKey, ReportUser
from bot.domain.scan import (
    NoticeState,
    ScanFinding,
    scan_findings,
    should_announce,
    user_report_findings,
    users_to_judge,
)
from bot.slack.messages.scans import MAX_KEYS_IN_DM, DigestFacts, build_digest, build_findings_dm, findings_csv

NOW = datetime(2026, 11, 28, tzinfo=UTC)
WEEK = timedelta(days=7)
OLD = Finding(KEY_TOO_OLD, Severity.HIGH, "IAM.3", "old")
WARN = Finding(KEY_AGE_WARNING, Severity.LOW, None, "soon")


def test_announce_new_worse_reminder_and_reappeared() -> None:
    assert should_announce(None, OLD, NOW, WEEK)
    told = NoticeState(NOW - timedelta(days=3), int(Severity.LOW), None)
    assert not should_announce(told, WARN, NOW, WEEK)
    assert should_announce(told, OLD, NOW, WEEK)  # worse
    assert should_announce(NoticeState(NOW - WEEK, int(Severity.LOW), None), WARN, NOW, WEEK)  # reminder due
    assert should_announce(NoticeState(NOW - timedelta(days=1), 2, NOW - timedelta(hours=1)), WARN, NOW, WEEK)


def _user(*keys: ReportKey, root: bool = False) -> ReportUser:
    return ReportUser("default", "<root_account>" if root else "ci", "arn", root, NOW - timedelta(days=400), keys)


def test_findings_need_no_key_ids_and_take_them_when_matched() -> None:
    user = _user(
        ReportKey(1, True, NOW - timedelta(days=100), NOW - timedelta(days=1)),
        ReportKey(2, True, NOW - timedelta(days=10), NOW - timedelta(days=1)),
    )
    pairs = user_report_findings(user, Thresholds(), NOW)
    assert {(slot, f.code) for slot, f in pairs} == {(1, "key-too-old"), (None, "two-active-keys")}
    found = scan_findings(user, {1: "AKIAAAAAAAAAAAAAAAAA"}, Thresholds(), NOW)
    assert {(f.subject, f.code) for f in found} == {
        ("AKIAAAAAAAAAAAAAAAAA", "key-too-old"),
        ("user:ci", "two-active-keys"),
    }
    unmatched = scan_findings(user, {}, Thresholds(), NOW)
    assert ("ci#1", "key-too-old") in {(f.subject, f.code) for f in unmatched}


def test_a_scan_judges_report_findings_replaceable_keys_and_our_own_changes() -> None:
    fresh = ReportKey(1, True, NOW - timedelta(days=10), NOW - timedelta(days=1))
    old = ReportKey(1, True, NOW - timedelta(days=100), NOW - timedelta(days=1))

    def row(name: str, *keys: ReportKey, root: bool = False) -> ReportUser:
        return ReportUser("default", name, "arn", root, NOW - timedelta(days=400), keys)

    users = [
        row("<root_account>", root=True),  # no key: nothing to judge, even when named below
        row("quiet", fresh),
        row("old", old),
        row("role", fresh),
        row("changed", fresh),
    ]
    replaceable = {"role": {"AKIAAAAAAAAAAAAAAAAA": "replaceable"}, "<root_account>": {}}
    judged = users_to_judge(users, Thresholds(), NOW, {}, replaceable, {"changed", "<root_account>"})
    assert [u.user for u in judged] == ["old", "role", "changed"]
    assert [
        u.user for u in users_to_judge([row("<root_account>", fresh, root=True)], Thresholds(), NOW, {}, {}, ())
    ] == ["<root_account>"]


def test_root_key_is_one_subject() -> None:
    found = scan_findings(_user(ReportKey(1, True, NOW - timedelta(days=5)), root=True), {}, Thresholds(), NOW)
    assert [(f.subject, f.code) for f in found] == [("root", "root-key")]


def test_listed_keys_decide_the_findings_not_the_reports_active_flag() -> None:
    user = _user(
        ReportKey(1, True, NOW - timedelta(days=100), NOW - timedelta(days=1)),
        ReportKey(2, True, NOW - timedelta(days=10), NOW - timedelta(days=1)),
    )
    old = AccessKey("ci", "AKIAAAAAAAAAAAAAAAAA", "Inactive", NOW - timedelta(days=100))
    found = scan_findings(user, {}, Thresholds(), NOW, listed=[old])  # deactivated; slot 2's key deleted since
    assert [(f.subject, f.code) for f in found] == [("AKIAAAAAAAAAAAAAAAAA", "inactive-key")]
    assert scan_findings(user, {}, Thresholds(), NOW, listed=[]) == []


def test_root_with_two_keys_is_one_finding_naming_both() -> None:
    root = _user(
        ReportKey(1, True, NOW - timedelta(days=400)),
        ReportKey(2, False, NOW - timedelta(days=30), NOW - timedelta(days=3)),
        root=True,
    )
    (found,) = scan_findings(root, {}, Thresholds(), NOW)
    assert (found.subject, found.code, found.finding.control) == ("root", "root-key", "IAM.4")
    assert found.finding.message == (
        "The root user has 2 access keys (active, created 2025-10-24, never used; "
        "inactive, created 2026-10-29, last used 2026-11-25): delete them all."
    )
    assert found.facts is not None and found.facts.age_days(NOW) == 400  # ranked by its oldest key


def _finding(n: int, code: Finding = OLD) -> ScanFinding:
    key = f"AKIA{n:016d}"
    facts = KeyFacts("default", f"u{n}", key, "Active", NOW - timedelta(days=100 + n))
    return ScanFinding("default", f"u{n}", key, code, facts, owner="a@example.com")


def test_owner_dm_fits_slack_limits() -> None:
    text, blocks = build_findings_dm([_finding(n) for n in range(60)], NOW, "/awskeys")
    assert len(blocks) <= 50
    assert "60 of your AWS access keys" in text
    assert f"and {60 - MAX_KEYS_IN_DM} more" in str(blocks[-1])
    first_buttons = blocks[2]["elements"]
    assert [b["text"]["text"] for b in first_buttons] == ["Rotate", "Deactivate", "Snooze 7 days"]
    assert first_buttons[0]["value"] == f"default|{_finding(59).key_id}"  # worst (oldest) first


def test_digest_counts_and_csv() -> None:
    quiet = ScanFinding("default", "x", "AKIAQUIET00000000000", OLD, None, exempt_reason="HSM")
    facts = DigestFacts(findings=[_finding(1), _finding(2, WARN), quiet], accounts=["default"], resolved=3, new=2)
    text, blocks = build_digest(facts, NOW)
    assert text == "Key scan: 2 findings in 1 account"
    body = str(blocks)
    assert "2 new, 3 resolved" in body and "1 exempt" in body
    csv_text = findings_csv(facts.findings, NOW)
    assert csv_text.splitlines()[0].startswith("account,user,key_id,finding")
    assert csv_text.count("\n") == 4 and "exempt" in csv_text


def test_digest_says_how_many_keys_could_be_replaced_by_a_role() -> None:
    role = Finding(REPLACEABLE_BY_ROLE, Severity.LOW, None, "all 60 calls from AWS Lambda in us-east-1")
    snoozed = ScanFinding("default", "u3", "AKIA0000000000000003", role, None, snoozed=True)
    exempt = ScanFinding("default", "u4", "AKIA0000000000000004", role, None, exempt_reason="HSM")
    one = DigestFacts(findings=[_finding(1), _finding(2, role)], accounts=["default"])
    assert "1 key could be replaced by a role" in str(build_digest(one, NOW)[1])
    several = DigestFacts(findings=[_finding(1, role), _finding(2, role), snoozed, exempt], accounts=["default"])
    assert "3 keys could be replaced by a role" in str(build_digest(several, NOW)[1])  # snoozed counted, exempt not
    assert "could be replaced" not in str(build_digest(DigestFacts([_finding(1)], ["default"]), NOW)[1])
