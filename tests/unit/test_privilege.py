"""Administrator power from policy documents, by every route, and the least-privilege findings."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from bot.domain.findings import (
    ADMIN_KEY,
    CATALOGUE,
    CONSOLE_AND_KEY,
    INITIAL_KEY_UNUSED,
    KEY_NOT_VIA_GROUP,
    Policy,
    Severity,
    UserFacts,
    findings_for_user,
    privilege_findings,
)
from bot.domain.keys import KeyFacts
from bot.domain.privilege import (
    AttachedPolicy,
    InlinePolicy,
    PolicyHolder,
    UserAccess,
    admin_reasons,
    allows_everything,
    user_access,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
S3 = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}
CUSTOM = "arn:aws:iam::123456789012:policy/everything"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (ALL, True),
        ({"Statement": {"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}}, True),
        (S3, False),
        ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, False),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}, False),
        ({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}, False),
        (
            quote('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'),
            True,
        ),  # URL-encoded, as IAM sends
        ("not json", False),
        (None, False),
    ],
)
def test_allows_everything(document, expected: bool) -> None:
    assert allows_everything(document) is expected


def test_every_route_to_administrator_power() -> None:
    managed = {CUSTOM: ("v3", ALL), "arn:aws:iam::123456789012:policy/s3": ("v1", S3)}
    user = PolicyHolder(
        "u",
        (
            AttachedPolicy("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess"),
            AttachedPolicy("everything", CUSTOM),
            AttachedPolicy("s3", "arn:aws:iam::123456789012:policy/s3"),
        ),
        (InlinePolicy("mine", ALL),),
    )
    groups = [
        PolicyHolder("gov", (AttachedPolicy("IAMFullAccess", "arn:aws-us-gov:iam::aws:policy/IAMFullAccess"),)),
        PolicyHolder("ops", (), (InlinePolicy("ops-all", ALL),)),
        PolicyHolder("readers", (AttachedPolicy("ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"),)),
    ]
    assert admin_reasons(user, groups, managed) == [
        "`AdministratorAccess` attached directly",
        "customer-managed policy `everything` (default version v3) allows `*` on `*`, attached directly",
        "inline policy `mine` allows `*` on `*`, attached directly",
        "`IAMFullAccess` through group `gov`",
        "inline policy `ops-all` allows `*` on `*`, through group `ops`",
    ]


def test_a_customer_policy_named_like_an_aws_one_is_judged_by_its_document() -> None:
    fake = AttachedPolicy("AdministratorAccess", "arn:aws:iam::123456789012:policy/AdministratorAccess")
    assert admin_reasons(PolicyHolder("u", (fake,)), [], {fake.arn: ("v1", S3)}) == []


def test_user_access_and_its_stored_form() -> None:
    groups = {"ops": PolicyHolder("ops", (), (InlinePolicy("all", ALL),))}
    user = PolicyHolder("u", (AttachedPolicy("s3", "arn:aws:iam::123456789012:policy/s3"),), (InlinePolicy("x", S3),))
    access = user_access(user, NOW, ["ops", "gone"], groups, {})
    assert access.admin_reason == "inline policy `all` allows `*` on `*`, through group `ops`"
    assert access.direct_policies == ("s3", "x") and access.groups == ("ops", "gone")
    assert UserAccess.from_json(access.to_json()) == access
    assert UserAccess.from_json(None) is None
    assert user_access(PolicyHolder("n"), None, [], {}, {}) == UserAccess()


def key(created: datetime, used: datetime | None = None, status: str = "Active", key_id: str = "AKIA" + "A" * 16):
    return KeyFacts("default", "u", key_id, status, created, used)


def test_admin_key_is_high_with_its_reason_and_controls() -> None:
    per_key, shared = privilege_findings(
        [key(NOW, NOW)], UserFacts(admin_reason="`AdministratorAccess` attached directly"), Policy()
    )
    (finding,) = per_key[0]
    assert finding.code == ADMIN_KEY and finding.severity is Severity.HIGH
    assert "AdministratorAccess" in finding.message and finding.control == "CIS 1.16"
    assert "Prowler iam_user_administrator_access_policy" in CATALOGUE[ADMIN_KEY].controls
    assert shared == []


def test_inactive_keys_and_root_have_no_privilege_findings() -> None:
    facts = UserFacts(created=NOW, password_enabled=True, admin_reason="x")
    assert privilege_findings([key(NOW, status="Inactive")], facts, Policy()) == ({}, [])


@pytest.mark.parametrize(
    ("minutes", "used", "found"), [(0, False, True), (10, False, True), (11, False, False), (2, True, False)]
)
def test_initial_key_unused(minutes: int, used: bool, found: bool) -> None:
    user_created = NOW - timedelta(days=30)
    k = key(user_created + timedelta(minutes=minutes), NOW if used else None)
    per_key, _ = privilege_findings([k], UserFacts(created=user_created), Policy())
    codes = [f.code for f in per_key.get(0, [])]
    assert (INITIAL_KEY_UNUSED in codes) is found
    if found:
        assert per_key[0][0].severity is Severity.MEDIUM and per_key[0][0].control == "CIS 1.11"


def test_only_the_first_key_is_an_initial_key() -> None:
    user_created = NOW - timedelta(days=30)
    older = key(NOW - timedelta(days=400), NOW, key_id="AKIA" + "B" * 16)  # seen before the user was made
    per_key, _ = privilege_findings([older, key(user_created)], UserFacts(created=user_created), Policy())
    assert per_key == {}


def test_console_and_key_is_low_and_unknown_password_says_nothing() -> None:
    per_key, _ = privilege_findings([key(NOW, NOW)], UserFacts(password_enabled=True), Policy())
    assert [(f.code, f.severity) for f in per_key[0]] == [(CONSOLE_AND_KEY, Severity.LOW)]
    assert "Identity Center" in per_key[0][0].message
    assert privilege_findings([key(NOW, NOW)], UserFacts(password_enabled=None), Policy()) == ({}, [])


def test_key_not_via_group_only_when_strict() -> None:
    facts = UserFacts(direct_policies=("a", "b", "c", "d"))
    assert privilege_findings([key(NOW, NOW)], facts, Policy()) == ({}, [])
    _, shared = privilege_findings([key(NOW, NOW)], facts, Policy(strict_policy_findings=True))
    (finding,) = shared
    assert finding.code == KEY_NOT_VIA_GROUP and finding.severity is Severity.INFO
    assert "`a`, `b`, `c` and 1 more" in finding.message
    assert privilege_findings([key(NOW, status="Inactive")], facts, Policy(strict_policy_findings=True)) == ({}, [])


def test_list_findings_include_privilege_findings_worst_first() -> None:
    keys = [key(NOW - timedelta(days=100), NOW)]
    found = findings_for_user(
        keys, Policy(strict_policy_findings=True), NOW, UserFacts(admin_reason="x", direct_policies=("p",))
    )
    assert [f.code for f in found[keys[0].key_id]][:2] == ["key_too_old", ADMIN_KEY] or [
        f.code for f in found[keys[0].key_id]
    ][:2] == [ADMIN_KEY, "key_too_old"]
    assert KEY_NOT_VIA_GROUP in [f.code for f in found[keys[0].key_id]]


def test_catalogue_is_complete() -> None:
    for code, entry in CATALOGUE.items():
        assert entry.code == code and entry.title and entry.rationale and entry.remediation
