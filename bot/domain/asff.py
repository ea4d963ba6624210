"""Findings in the AWS Security Finding Format (ASFF), as BatchImportFindings takes them: pure, from a scan's findings.

One finding per (AWS account, subject, finding code), with a stable `Id`, so each scan updates the same finding in
Security Hub; a finding gone at the next scan is sent once more, archived (`RecordState` ARCHIVED, compliance PASSED,
workflow RESOLVED). Security Hub takes a provider's `Severity` and `Types` of an existing finding only through
`FindingProviderFields`, so both are sent there too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.domain.catalogue import AWS_QUARANTINE, CATALOGUE, ROOT_KEY, CatalogueEntry, Severity
from bot.domain.scan import ROOT_SUBJECT, ScanFinding

SCHEMA_VERSION = "2018-10-08"
PRODUCT = "Keywarden"
BATCH_LIMIT = 100  # findings per BatchImportFindings / BatchUpdateFindings call
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
RECOMMENDATION_LIMIT = 512
BEST_PRACTICES = "Software and Configuration Checks/AWS Security Best Practices"
CIS_BENCHMARK = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
# Finding types beyond the best-practice check every finding is.
_EXTRA_TYPES = {AWS_QUARANTINE: ("Effects/Data Exposure",), ROOT_KEY: ("Effects/Data Exposure",)}
LABELS = {
    Severity.INFO: "INFORMATIONAL",
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}

T = TypeVar("T")


@dataclass(frozen=True)
class HubTarget:
    """Where one account's findings go: its own Security Hub, in one region of its partition."""

    partition: str
    region: str
    account_id: str

    @property
    def product_arn(self) -> str:
        """The account's default product: findings an account imports about itself."""
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account_id}:product/{self.account_id}/default"


def finding_uid(account_id: str, subject: str, code: str) -> str:
    """The finding's stable id: the same account, key (or user) and finding code give the same id at every scan."""
    return f"keywarden/{account_id}/{subject}/{code}"


def timestamp(when: datetime) -> str:
    """ASFF's timestamp form: UTC, milliseconds, `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


def requirements(entry: CatalogueEntry) -> list[str]:
    """The control ids a finding maps to (CIS AWS Foundations, Security Hub); Prowler's check ids are not
    requirements."""
    return [c for c in entry.controls if not c.startswith("Prowler ")]


def finding_types(entry: CatalogueEntry) -> list[str]:
    types = [BEST_PRACTICES]
    if any(c.startswith("CIS ") for c in entry.controls):
        types.append(CIS_BENCHMARK)
    return types + list(_EXTRA_TYPES.get(entry.code, ()))


def to_asff(
    finding: ScanFinding,
    target: HubTarget,
    *,
    now: datetime,
    first_seen: datetime,
    user_arn: str | None,
) -> dict[str, Any]:
    """One finding as BatchImportFindings takes it, active and failed."""
    entry = CATALOGUE[finding.code]
    label = LABELS[entry.severity]
    types = finding_types(entry)
    body: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_uid(target.account_id, finding.subject, finding.code),
        "ProductArn": target.product_arn,
        "ProductName": PRODUCT,
        "CompanyName": PRODUCT,
        "GeneratorId": finding.code,
        "AwsAccountId": target.account_id,
        "Region": target.region,
        "Types": types,
        "FirstObservedAt": timestamp(first_seen),
        "LastObservedAt": timestamp(now),
        "CreatedAt": timestamp(first_seen),
        "UpdatedAt": timestamp(now),
        "Severity": {"Label": label, "Original": entry.severity.name},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": entry.severity.name}, "Types": types},
        "Title": entry.title[:TITLE_LIMIT],
        "Description": (finding.finding.message or entry.rationale)[:DESCRIPTION_LIMIT],
        "Remediation": {"Recommendation": {"Text": entry.remediation[:RECOMMENDATION_LIMIT]}},
        "ProductFields": _product_fields(finding, entry),
        "Resources": resources(finding, target, user_arn),
        "Compliance": {"Status": "FAILED", **_related(entry)},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }
    return body


def archived(sent: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The finding as last sent, now resolved: archived, passed, its workflow resolved."""
    finding = copy.deepcopy(sent)
    finding["RecordState"] = "ARCHIVED"
    finding["Workflow"] = {"Status": "RESOLVED"}
    finding["Compliance"] = {**finding.get("Compliance", {}), "Status": "PASSED"}
    finding["UpdatedAt"] = timestamp(now)
    return finding


def batches(items: Sequence[T], size: int = BATCH_LIMIT) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def resources(finding: ScanFinding, target: HubTarget, user_arn: str | None) -> list[dict[str, Any]]:
    """The key (AwsIamAccessKey) and its user (AwsIamUser); the user alone for user findings; the account for root."""
    where = {"Partition": target.partition, "Region": target.region}
    if finding.subject == ROOT_SUBJECT:
        return [{"Type": "AwsAccount", "Id": f"AWS::::Account:{target.account_id}", **where}]
    user = {
        "Type": "AwsIamUser",
        "Id": user_arn or f"arn:{target.partition}:iam::{target.account_id}:user/{finding.user}",
        **where,
        "Details": {"AwsIamUser": {"UserName": finding.user}},
    }
    if finding.owner:
        user["Tags"] = {"keywarden:owner": finding.owner[:256]}
    facts = finding.facts
    if facts is None or not facts.key_id:
        return [user]
    key = {
        "Type": "AwsIamAccessKey",
        "Id": f"AWS::IAM::AccessKey:{facts.key_id}",
        **where,
        "Details": {
            "AwsIamAccessKey": {
                "AccessKeyId": facts.key_id,
                "PrincipalName": finding.user,
                "PrincipalType": "IAMUser",
                "Status": facts.status,
                "CreatedAt": timestamp(facts.created),
                "AccountId": target.account_id,
            }
        },
    }
    return [key, user]


def _related(entry: CatalogueEntry) -> dict[str, Any]:
    found = requirements(entry)
    return {"RelatedRequirements": found} if found else {}


def _product_fields(finding: ScanFinding, entry: CatalogueEntry) -> dict[str, str]:
    fields = {
        "ProviderName": PRODUCT,
        "keywarden/account": finding.account,
        "keywarden/subject": finding.subject,
        "keywarden/code": finding.code,
        "keywarden/owner": finding.owner or "",
        "keywarden/snoozed": "true" if finding.snoozed else "",
        "keywarden/prowler_check": " ".join(
            c.removeprefix("Prowler ") for c in entry.controls if c.startswith("Prowler ")
        ),
    }
    if finding.facts is not None and finding.facts.last_used is not None:
        fields["keywarden/last_used"] = timestamp(finding.facts.last_used)
    return {k: v for k, v in fields.items() if v}


@dataclass
class AccountExport:
    """What one account's Security Hub took."""

    account: str
    region: str = ""
    imported: int = 0  # active findings created or updated
    archived: int = 0  # findings gone since the last scan, sent archived
    resolved: int = 0  # of those, findings whose workflow was set to RESOLVED
    refused: list[str] = field(default_factory=list)  # "<finding id>: <why>"
    calls: int = 0
    error: str | None = None


@dataclass
class HubExport:
    accounts: list[AccountExport]

    @property
    def failed(self) -> list[AccountExport]:
        return [a for a in self.accounts if a.error or a.refused]

    @property
    def calls(self) -> int:
        return sum(a.calls for a in self.accounts)
