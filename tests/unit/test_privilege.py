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
    Severity,
    Thresholds,
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
    admin_grant_of,
    admin_reasons,
    user_access,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
S3 = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}
CUSTOM = "arn:aws:iam::123456789012:policy/everything"


def allow(**statement) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (ALL, "allows `*` on `*`"),
        (
            {"Statement": {"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}},
            "allows `*:*` on `*`",
        ),
        (S3, None),
        ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, None),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}, None),
        # PowerUserAccess: everything but IAM, Organizations and Account management.
        (allow(NotAction=["iam:*", "organizations:*", "account:*"], Resource="*"), None),
        (
            quote('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'),
            "allows `*` on `*`",
        ),  # URL-encoded, as IAM sends
        ("not json", None),
        (None, None),
        # IAMFullAccess copied into an inline or customer-managed policy, and its spellings.
        (allow(Action="iam:*", Resource="*"), "allows `iam:*` on `*`"),
        (allow(Action=["s3:*", "IAM:*"], Resource=["arn:aws:s3:::b", "*"]), "allows `IAM:*` on `*`"),
        (allow(Action="i*:*", Resource="*"), "allows `i*:*` on `*`"),
        (allow(Action="Ia?:*", Resource="*"), "allows `Ia?:*` on `*`"),
        (allow(Action="iam*", Resource="*"), "allows `iam*` on `*`"),
        (allow(Action="*am:*", Resource="*"), "allows `*am:*` on `*`"),
        (allow(Action="iam:*", Resource="arn:aws:iam::123456789012:user/ci-*"), None),
        (allow(Action="iam:Get*", Resource="*"), None),
        (allow(Action="iam:*User*", Resource="*"), None),
        (allow(Action="s*:*", Resource="*"), None),
        (allow(Action="iam:", Resource="*"), None),
        # NotAction allows every action it does not name: admin unless it names some IAM action.
        (allow(NotAction="s3:*", Resource="*"), "allows every action but `s3:*` on `*`"),
        (
            allow(NotAction=["s3:*", "ec2:*", "rds:*", "kms:Decrypt"], Resource="*"),
            "allows every action but `s3:*`, `ec2:*`, `rds:*` and 1 more on `*`",
        ),
        (allow(NotAction="IAM:DeleteUser", Resource="*"), None),
        (allow(NotAction="*:Delete*", Resource="*"), None),
        (allow(NotAction="*", Resource="*"), None),
        (allow(NotAction="s3:*", Resource="arn:aws:s3:::b"), None),
        # NotResource allows every resource it does not name: admin unless it may name an IAM one.
        (
            allow(Action="*", NotResource="arn:aws:s3:::secrets/*"),
            "allows `*` on every resource but `arn:aws:s3:::secrets/*`",
        ),
        (allow(Action="*", NotResource=["arn:aws:iam::123456789012:role/break-glass"]), None),
        (allow(Action="*", NotResource="arn:*:s3:::secrets"), None),
        (allow(Action="*", NotResource="*"), None),
        (
            allow(NotAction="s3:*", NotResource="arn:aws-cn:s3:::x"),
            "allows every action but `s3:*` on every resource but `arn:aws-cn:s3:::x`",
        ),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, None),
        ({"Statement": ["junk", {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}, "allows `iam:*` on `*`"),
    ],
)
def test_admin_grant_of(document, expected: str | None) -> None:
    assert admin_grant_of(document) == expected


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
        [key(NOW, NOW)], UserFacts(admin_reason="`AdministratorAccess` attached directly"), Thresholds(), NOW
    )
    (finding,) = per_key[0]
    assert finding.code == ADMIN_KEY and finding.severity is Severity.HIGH
    assert "AdministratorAccess" in finding.message and finding.control == "CIS 1.16"
    assert "Prowler iam_user_administrator_access_policy" in CATALOGUE[ADMIN_KEY].controls
    assert shared == []


def test_inactive_keys_and_root_have_no_privilege_findings() -> None:
    facts = UserFacts(created=NOW, password_enabled=True, admin_reason="x")
    assert privilege_findings([key(NOW, status="Inactive")], facts, Thresholds(), NOW) == ({}, [])


@pytest.mark.parametrize(
    ("minutes", "used", "found"), [(0, False, True), (10, False, True), (11, False, False), (2, True, False)]
)
def test_initial_key_unused(minutes: int, used: bool, found: bool) -> None:
    user_created = NOW - timedelta(days=60)
    k = key(user_created + timedelta(minutes=minutes), NOW if used else None)
    per_key, _ = privilege_findings([k], UserFacts(created=user_created, password_enabled=True), Thresholds(), NOW)
    codes = [f.code for f in per_key.get(0, [])]
    assert (INITIAL_KEY_UNUSED in codes) is found
    if found:
        assert per_key[0][0].severity is Severity.MEDIUM and per_key[0][0].control == "CIS 1.11"


@pytest.mark.parametrize(
    ("password", "days", "unused_days", "found"),
    [
        (True, 45, 45, True),
        (True, 44, 45, False),  # within the grace the key may simply not have been used yet
        (True, 10, 7, True),
        (False, 400, 45, False),  # a service user (no console password) is not in scope of CIS 1.11
        (None, 400, 45, False),  # unknown: says nothing
    ],
)
def test_initial_key_unused_only_on_console_users_after_the_grace(
    password: bool | None, days: int, unused_days: int, found: bool
) -> None:
    user_created = NOW - timedelta(days=days)
    facts = UserFacts(created=user_created, password_enabled=password)
    per_key, _ = privilege_findings([key(user_created)], facts, Thresholds(unused_days=unused_days), NOW)
    assert (INITIAL_KEY_UNUSED in [f.code for f in per_key.get(0, [])]) is found


def test_console_and_key_is_low_and_unknown_password_says_nothing() -> None:
    per_key, _ = privilege_findings([key(NOW, NOW)], UserFacts(password_enabled=True), Thresholds(), NOW)
    assert [(f.code, f.severity) for f in per_key[0]] == [(CONSOLE_AND_KEY, Severity.LOW)]
    assert "Identity Center" in per_key[0][0].message
    assert privilege_findings([key(NOW, NOW)], UserFacts(password_enabled=None), Thresholds(), NOW) == ({}, [])


def test_key_not_via_group_only_when_strict() -> None:
    facts = UserFacts(direct_policies=("a", "b", "c", "d"))
    assert privilege_findings([key(NOW, NOW)], facts, Thresholds(), NOW) == ({}, [])
    _, shared = privilege_findings([key(NOW, NOW)], facts, Thresholds(strict_policy_findings=True), NOW)
    (finding,) = shared
    assert finding.code == KEY_NOT_VIA_GROUP and finding.severity is Severity.INFO
    assert "`a`, `b`, `c` and 1 more" in finding.message
    assert privilege_findings([key(NOW, status="Inactive")], facts, Thresholds(strict_policy_findings=True), NOW) == (
        {},
        [],
    )


def test_list_findings_include_privilege_findings_worst_first() -> None:
    keys = [key(NOW - timedelta(days=100), NOW)]
    found = findings_for_user(
        keys, Thresholds(strict_policy_findings=True), NOW, UserFacts(admin_reason="x", direct_policies=("p",))
    )
    assert [f.code for f in found[keys[0].key_id]][:2] == ["key-too-old", ADMIN_KEY] or [
        f.code for f in found[keys[0].key_id]
    ][:2] == [ADMIN_KEY, "key-too-old"]
    assert KEY_NOT_VIA_GROUP in [f.code for f in found[keys[0].key_id]]


def test_catalogue_is_complete() -> None:
    for code, entry in CATALOGUE.items():
        assert entry.code == code and entry.title and entry.rationale and entry.remediation
