"""`aws-quarantine`: AWS's quarantine policies read from a user's attached policies, the finding, the buttons."""

from datetime import UTC, datetime, timedelta

from bot.domain.findings import AWS_QUARANTINE, CATALOGUE, Severity, Thresholds, UserFacts, findings_for_user
from bot.domain.keys import KeyFacts
from bot.domain.privilege import AttachedPolicy, PolicyHolder, UserAccess, quarantine_policies, user_access
from bot.domain.quarantine import quarantine_policies as by_prefix
from bot.domain.quarantine import quarantine_policy
from bot.domain.scan import ScanFinding
from bot.slack import ids
from bot.slack.messages.scans import DigestFacts, build_digest, build_findings_dm

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
V2, V3, V4 = "AWSCompromisedKeyQuarantineV2", "AWSCompromisedKeyQuarantineV3", "AWSCompromisedKeyQuarantineV4"


def attached(name: str, partition: str = "aws", owner: str = "aws") -> AttachedPolicy:
    return AttachedPolicy(name, f"arn:{partition}:iam::{owner}:policy/{name}")


def test_quarantine_policies_are_aws_managed_and_attached_to_the_user() -> None:
    user = PolicyHolder(
        "u",
        (
            attached("AWSCompromisedKeyQuarantine"),
            attached(V3, "aws-us-gov"),
            attached(V2, owner="123456789012"),  # a customer policy with the same name is not AWS's signal
            attached("ReadOnlyAccess"),
        ),
    )
    assert quarantine_policies(user) == ("AWSCompromisedKeyQuarantine", V3)
    group = PolicyHolder("g", (attached(V3),))
    access = user_access(PolicyHolder("v", (attached(V2),)), NOW, ["g"], {"g": group}, {})
    assert access.quarantine == (V2,) and access.admin_reason is None
    assert UserAccess.from_json(access.to_json()) == access
    assert user_access(PolicyHolder("w"), NOW, ["g"], {"g": group}, {}).quarantine == ()  # through a group: no
    assert UserAccess.from_json({"created": None}) == UserAccess()  # an index row stored before the field


def test_every_version_of_aws_quarantine_counts_by_its_prefix_and_only_aws_own() -> None:
    aws_own = [attached(n) for n in ("AWSCompromisedKeyQuarantine", V2, V3, V4, "AWSCompromisedKeyQuarantineV5")]
    assert by_prefix(aws_own) == tuple(p.name for p in aws_own)  # V4 (2026-11) and any later version
    assert by_prefix([attached(V4, "aws-us-gov"), attached(V4, "aws-cn")]) == (V4, V4)
    assert quarantine_policy(f"arn:aws:iam::aws:policy/some/path/{V4}") == V4
    for lookalike in (
        f"arn:aws:iam::123456789012:policy/{V4}",  # a customer policy named like AWS's
        f"arn:aws:iam::123456789012:policy/x:iam::aws:policy/{V4}",  # ... with a path that looks like AWS's ARN
        f"arn:aws:iam::aws:policy/Not{V4}",
        f"arn:aws:iam::aws:policy/{V4[:-3]}",  # AWSCompromisedKey, not the prefix
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        f"{V4}",
    ):
        assert quarantine_policy(lookalike) is None, lookalike


def key(status: str = "Active", key_id: str = "AKIA" + "Q" * 16) -> KeyFacts:
    return KeyFacts("default", "ci", key_id, status, NOW - timedelta(days=10), None)


def test_the_finding_is_critical_on_active_keys_and_names_the_policy() -> None:
    active, inactive = key(), key("Inactive", "AKIA" + "R" * 16)
    found = findings_for_user([active, inactive], Thresholds(), NOW, UserFacts(quarantine=(V3,)))
    (first, *_) = found[active.key_id]
    assert first.code == AWS_QUARANTINE and first.severity is Severity.CRITICAL
    assert f"`{V3}`" in first.message and "stops the user itself" in first.message and "not Keywarden" in first.message
    assert AWS_QUARANTINE not in {f.code for f in found[inactive.key_id]}
    for version in (V2, V4):  # every version denies the user CreateAccessKey and UpdateAccessKey, not V3 alone
        (other,) = findings_for_user([active], Thresholds(), NOW, UserFacts(quarantine=(version,)))[active.key_id]
        assert (
            f"`{version}`" in other.message and "stops the user itself from creating or changing keys" in other.message
        )
    assert (
        CATALOGUE[AWS_QUARANTINE].severity is Severity.CRITICAL
        and "not Keywarden" in CATALOGUE[AWS_QUARANTINE].remediation
    )


def actions(blocks) -> list[tuple[str, str, str]]:
    return [
        (e["action_id"], e["text"]["text"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]
    ]


def test_dm_and_digest_offer_deactivate_now_and_rotate() -> None:
    facts = key()
    (finding,) = findings_for_user([facts], Thresholds(), NOW, UserFacts(quarantine=(V3,)))[facts.key_id]
    scan = ScanFinding("default", "ci", facts.key_id, finding, facts, owner="UALICE")
    value = f"default|{facts.key_id}"
    _, dm = build_findings_dm([scan], NOW, "/awskeys")
    assert actions(dm)[:2] == [
        (ids.EXPOSURE_DEACTIVATE, "Deactivate now", value),
        (ids.EXPOSURE_ROTATE, "Rotate", value),
    ]
    _, digest = build_digest(DigestFacts([scan], ["default"]), NOW)
    assert actions(digest) == [
        (ids.EXPOSURE_DEACTIVATE, "Deactivate now", value),
        (ids.EXPOSURE_ROTATE, "Rotate", value),
    ]
    text = "\n".join(b["text"]["text"] for b in digest if b["type"] == "section")
    assert "Quarantined by AWS: 1" in text and "not Keywarden" in text and text.count(facts.key_id) == 1
