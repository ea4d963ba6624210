"""`scan --format ocsf`: each finding an OCSF 1.1.0 Compliance Finding (class 2003) with what the schema requires."""

from __future__ import annotations

import json

import pytest

from bot.domain.catalogue import CATALOGUE, KEY_TOO_OLD, ROOT_KEY, TWO_ACTIVE_KEYS
from bot.domain.ocsf import compliance_finding
from tests.support.exports import NOW, key_finding, ocsf_problems, root_finding, user_finding


def event(finding, account_id: str | None = "111111111111"):
    return compliance_finding(
        finding, time=NOW, account_id=account_id, region="eu-west-1", partition="aws", product_version="0.1.0"
    )


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_finding_of_the_catalogue_is_a_valid_compliance_finding(code: str) -> None:
    scope_user = CATALOGUE[code].scope.value == "user"
    finding = root_finding(code) if code == ROOT_KEY else user_finding(code) if scope_user else key_finding(code)
    shaped = event(finding)
    assert ocsf_problems(shaped) == []
    assert json.loads(json.dumps(shaped)) == shaped  # one JSON object, nothing Python-only in it
    assert shaped["finding_info"]["title"] == CATALOGUE[code].title
    assert shaped["compliance"]["status_id"] == 3 and shaped["compliance"]["status"] == "Fail"


def test_the_checker_finds_what_is_missing() -> None:
    shaped = event(key_finding(KEY_TOO_OLD))
    del shaped["finding_info"]["uid"], shaped["metadata"]["product"]["vendor_name"]
    shaped["severity_id"] = 9
    assert set(ocsf_problems(shaped)) == {
        "finding_info.uid is missing",
        "metadata.product.vendor_name is missing",
        "severity_id = 9 is not one of [0, 1, 2, 3, 4, 5, 6, 99]",
    }


def test_classification_severity_standards_and_resources() -> None:
    shaped = event(key_finding(KEY_TOO_OLD))
    assert (shaped["class_uid"], shaped["category_uid"], shaped["activity_id"], shaped["type_uid"]) == (
        2003,
        2,
        1,
        200301,
    )
    assert (shaped["severity_id"], shaped["severity"], shaped["status_id"]) == (4, "High", 1)
    assert shaped["time"] == int(NOW.timestamp() * 1000)
    assert shaped["finding_info"]["uid"] == "keywarden/111111111111/AKIAIOSFODNN7EXAMPLE/key-too-old"
    assert shaped["compliance"]["standards"] == [
        "CIS AWS Foundations Benchmark",
        "AWS Foundational Security Best Practices",
    ]
    assert shaped["compliance"]["requirements"] == ["Security Hub IAM.3", "CIS 1.14"]
    assert shaped["cloud"] == {
        "provider": "AWS",
        "region": "eu-west-1",
        "account": {"name": "prod", "type": "AWS Account", "type_id": 10, "uid": "111111111111"},
    }
    key, user = shaped["resources"]
    assert (key["type"], key["uid"], key["owner"]) == (
        "AwsIamAccessKey",
        "AKIAIOSFODNN7EXAMPLE",
        {"email_addr": "a@x.io"},
    )
    assert (user["type"], user["name"]) == ("AwsIamUser", "ci")
    assert [r["type"] for r in event(user_finding(TWO_ACTIVE_KEYS))["resources"]] == ["AwsIamUser"]


def test_quiet_findings_are_suppressed_and_an_unknown_account_id_is_left_out() -> None:
    shaped = event(key_finding(KEY_TOO_OLD, exempt_reason="HSM"), account_id=None)
    assert (shaped["status_id"], shaped["status"]) == (3, "Suppressed")
    assert shaped["unmapped"]["keywarden"]["exempt"] == "HSM"
    assert "uid" not in shaped["cloud"]["account"] and shaped["finding_info"]["uid"].startswith("keywarden/prod/")
    assert ocsf_problems(shaped) == []
