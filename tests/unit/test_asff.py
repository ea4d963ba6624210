"""Findings in ASFF: the shape BatchImportFindings takes (botocore's model of the API), a stable id per account, key
and finding, the catalogue's controls and remediation, the key and its user as resources, and the archived form."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.asff import BATCH_LIMIT, HubTarget, archived, batches, finding_uid, to_asff
from bot.domain.catalogue import ADMIN_KEY, AWS_QUARANTINE, CATALOGUE, KEY_TOO_OLD, ROOT_KEY, TWO_ACTIVE_KEYS
from tests.support.exports import NOW, asff_problems, key_finding, root_finding, user_finding

PROD = HubTarget("aws", "eu-west-1", "111111111111")
ARN = "arn:aws:iam::111111111111:user/ops/ci"


def asff(finding, target: HubTarget = PROD, **kw):
    return to_asff(finding, target, now=NOW, first_seen=kw.pop("first_seen", NOW - timedelta(days=3)), user_arn=ARN)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_finding_of_the_catalogue_is_valid_asff(code: str) -> None:
    scope_user = CATALOGUE[code].scope.value == "user"
    finding = root_finding(code) if code == ROOT_KEY else user_finding(code) if scope_user else key_finding(code)
    body = asff(finding)
    assert asff_problems([body, archived(body, NOW)]) == ""
    assert body["GeneratorId"] == code and body["Title"] == CATALOGUE[code].title
    assert body["Severity"]["Label"] in {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert body["FindingProviderFields"]["Severity"] == body["Severity"]  # how a provider updates them later
    assert body["Remediation"]["Recommendation"]["Text"] == CATALOGUE[code].remediation
    assert body["Compliance"]["Status"] == "FAILED" and body["RecordState"] == "ACTIVE"


def test_the_shape_check_names_what_is_missing() -> None:
    body = asff(key_finding(KEY_TOO_OLD))
    del body["Title"]
    assert "Missing required parameter" in asff_problems([body]) and "Title" in asff_problems([body])


def test_ids_are_stable_per_account_key_and_finding() -> None:
    one, again = asff(key_finding(KEY_TOO_OLD)), asff(key_finding(KEY_TOO_OLD), first_seen=NOW)
    assert one["Id"] == again["Id"] == finding_uid("111111111111", "AKIAIOSFODNN7EXAMPLE", KEY_TOO_OLD)
    assert asff(key_finding(ADMIN_KEY))["Id"] != one["Id"]
    assert asff(key_finding(KEY_TOO_OLD), HubTarget("aws", "eu-west-1", "222222222222"))["Id"] != one["Id"]
    assert one["ProductArn"] == "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"
    gov = asff(key_finding(KEY_TOO_OLD), HubTarget("aws-us-gov", "us-gov-west-1", "111111111111"))
    assert gov["ProductArn"].startswith("arn:aws-us-gov:securityhub:us-gov-west-1:")
    assert {r["Partition"] for r in gov["Resources"]} == {"aws-us-gov"}


def test_controls_become_requirements_and_types() -> None:
    body = asff(key_finding(KEY_TOO_OLD))
    assert body["Compliance"]["RelatedRequirements"] == ["Security Hub IAM.3", "CIS 1.14"]
    assert body["ProductFields"]["keywarden/prowler_check"] == "iam_rotate_access_key_90_days"
    assert (
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
        in body["Types"]
    )
    quarantine = asff(key_finding(AWS_QUARANTINE))
    assert "RelatedRequirements" not in quarantine["Compliance"] and "Effects/Data Exposure" in quarantine["Types"]
    assert quarantine["Severity"]["Label"] == "CRITICAL"


def test_resources_name_the_key_its_user_or_the_account() -> None:
    key, user = asff(key_finding(KEY_TOO_OLD))["Resources"]
    assert key["Type"] == "AwsIamAccessKey" and key["Id"] == "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE"
    details = key["Details"]["AwsIamAccessKey"]
    assert details == {
        "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "PrincipalName": "ci",
        "PrincipalType": "IAMUser",
        "Status": "Active",
        "CreatedAt": "2026-08-03T09:00:00.000Z",
        "AccountId": "111111111111",
    }
    assert (user["Type"], user["Id"], user["Tags"]) == ("AwsIamUser", ARN, {"keywarden:owner": "a@x.io"})
    assert [r["Type"] for r in asff(user_finding(TWO_ACTIVE_KEYS))["Resources"]] == ["AwsIamUser"]
    assert asff(root_finding(ROOT_KEY))["Resources"] == [
        {"Type": "AwsAccount", "Id": "AWS::::Account:111111111111", "Partition": "aws", "Region": "eu-west-1"}
    ]


def test_times_are_asff_timestamps_and_created_stays_the_first_sending() -> None:
    body = asff(key_finding(KEY_TOO_OLD))
    assert body["CreatedAt"] == body["FirstObservedAt"] == "2026-11-28T09:00:00.000Z"
    assert body["UpdatedAt"] == body["LastObservedAt"] == "2026-12-01T09:00:00.000Z"


def test_the_archived_form_is_resolved_and_keeps_the_rest() -> None:
    body = asff(key_finding(KEY_TOO_OLD))
    later = NOW + timedelta(days=1)
    gone = archived(body, later)
    assert (gone["RecordState"], gone["Workflow"], gone["Compliance"]["Status"]) == (
        "ARCHIVED",
        {"Status": "RESOLVED"},
        "PASSED",
    )
    assert gone["UpdatedAt"] == "2026-12-02T09:00:00.000Z" and gone["Id"] == body["Id"]
    assert gone["Compliance"]["RelatedRequirements"] == body["Compliance"]["RelatedRequirements"]
    assert body["RecordState"] == "ACTIVE"  # the finding as sent is left as it was


def test_batches_hold_at_most_100() -> None:
    sizes = [len(b) for b in batches(list(range(250)))]
    assert sizes == [100, 100, 50] and BATCH_LIMIT == 100
    assert list(batches([])) == []


def test_long_texts_are_cut_to_asffs_limits() -> None:
    finding = key_finding(KEY_TOO_OLD)
    long = finding.__class__(
        **{
            **finding.__dict__,
            "finding": finding.finding.__class__(KEY_TOO_OLD, finding.finding.severity, "IAM.3", "x" * 5000),
        }
    )
    body = asff(long)
    assert len(body["Description"]) == 1024 and asff_problems([body]) == ""
