"""`aws-quarantine`: AWS's quarantine policies read from a user's attached policies, the finding, the buttons."""

from datetime import UTC, datetime, timedelta

from bot.domain.findings import AWS_QUARANTINE, CATALOGUE, Policy, Severity, UserFacts, findings_for_user
from bot.domain.keys import KeyFacts
from bot.domain.privilege import AttachedPolicy, PolicyHolder, UserAccess, quarantine_policies, user_access
from bot.domain.scan import ScanFinding
from bot.slack import ids
from bot.slack.messages.scans import DigestFacts, build_digest, build_owner_dm

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
V2, V3 = "AWSCompromisedKeyQuarantineV2", "AWSCompromisedKeyQuarantineV3"


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


def key(status: str = "Active", key_id: str = "AKIA" + "Q" * 16) -> KeyFacts:
    return KeyFacts("default", "ci", key_id, status, NOW - timedelta(days=10), None)


def test_the_finding_is_critical_on_active_keys_and_names_v3() -> None:
    active, inactive = key(), key("Inactive", "AKIA" + "R" * 16)
    found = findings_for_user([active, inactive], Policy(), NOW, UserFacts(quarantine=(V3,)))
    (first, *_) = found[active.key_id]
    assert first.code == AWS_QUARANTINE and first.severity is Severity.CRITICAL
    assert (
        f"`{V3}`" in first.message and "V3 stops the user itself" in first.message and "not Keywarden" in first.message
    )
    assert AWS_QUARANTINE not in {f.code for f in found[inactive.key_id]}
    (v2,) = findings_for_user([active], Policy(), NOW, UserFacts(quarantine=(V2,)))[active.key_id]
    assert "V3" not in v2.message.replace(V2, "")
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
    (finding,) = findings_for_user([facts], Policy(), NOW, UserFacts(quarantine=(V3,)))[facts.key_id]
    scan = ScanFinding("default", "ci", facts.key_id, finding, facts, owner="UALICE")
    value = f"default|{facts.key_id}"
    _, dm = build_owner_dm([scan], NOW, "/awskeys")
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
