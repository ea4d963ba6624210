"""Findings as OCSF 1.1.0 Compliance Finding events (class 2003), the version Amazon Security Lake takes: pure.

Each event carries what OCSF requires of the class (and of the `cloud` profile it declares): the classification
(`activity_id`, `category_uid`, `class_uid`, `type_uid`), `time`, `severity_id`, `metadata` (`product.vendor_name`,
`version`), `finding_info` (`uid`, `title`), `compliance` (`standards`) and `cloud` (`provider`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.asff import finding_uid, requirements
from bot.domain.catalogue import CATALOGUE, CatalogueEntry, Severity
from bot.domain.scan import ROOT_SUBJECT, ScanFinding

OCSF_VERSION = "1.1.0"
CATEGORY_UID, CATEGORY = 2, "Findings"
CLASS_UID, CLASS = 2003, "Compliance Finding"
ACTIVITY_CREATE = 1
VENDOR = "Keywarden"
SEVERITY_IDS = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
COMPLIANCE_FAIL = (3, "Fail")
FINDING_NEW, FINDING_SUPPRESSED = (1, "New"), (3, "Suppressed")
CIS = "CIS AWS Foundations Benchmark"
FSBP = "AWS Foundational Security Best Practices"
IAM_PRACTICES = "AWS IAM security best practices"


def standards(entry: CatalogueEntry) -> list[str]:
    """The standards a finding's controls come from; AWS's IAM best practices for the findings without one."""
    found = []
    if any(c.startswith("CIS ") for c in entry.controls):
        found.append(CIS)
    if any(c.startswith("Security Hub ") for c in entry.controls):
        found.append(FSBP)
    return found or [IAM_PRACTICES]


def compliance_finding(
    finding: ScanFinding,
    *,
    time: datetime,
    account_id: str | None,
    region: str,
    partition: str,
    product_version: str,
) -> dict[str, Any]:
    """One finding as an OCSF Compliance Finding event (activity Create), JSON-ready."""
    entry = CATALOGUE[finding.code]
    severity_id, severity = SEVERITY_IDS[entry.severity]
    status_id, status = FINDING_SUPPRESSED if finding.quiet else FINDING_NEW
    millis = int(time.timestamp() * 1000)
    uid = finding_uid(account_id or finding.account, finding.subject, finding.code)
    account = {"name": finding.account, "type": "AWS Account", "type_id": 10}
    if account_id:
        account["uid"] = account_id
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY,
        "class_uid": CLASS_UID,
        "class_name": CLASS,
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": f"{CLASS}: Create",
        "time": millis,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": finding.finding.message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": VENDOR, "vendor_name": VENDOR, "version": product_version},
            "profiles": ["cloud"],
            "uid": uid,
        },
        "cloud": {"provider": "AWS", "region": region, "account": account},
        "finding_info": {
            "uid": uid,
            "title": entry.title,
            "desc": finding.finding.message,
            "types": [finding.code],
            "last_seen_time": millis,
        },
        "compliance": {
            "standards": standards(entry),
            "requirements": requirements(entry),
            "control": finding.finding.control or entry.code,
            "status_id": COMPLIANCE_FAIL[0],
            "status": COMPLIANCE_FAIL[1],
        },
        "remediation": {"desc": entry.remediation},
        "resources": _resources(finding, region, partition),
        "unmapped": {"keywarden": _unmapped(finding)},
    }
    return event


def _resources(finding: ScanFinding, region: str, partition: str) -> list[dict[str, Any]]:
    where = {"region": region, "cloud_partition": partition}
    if finding.subject == ROOT_SUBJECT:
        return [{"type": "AwsAccount", "name": "root", **where}]
    user: dict[str, Any] = {"type": "AwsIamUser", "name": finding.user, **where}
    if finding.owner:
        user["owner"] = {"email_addr": finding.owner} if "@" in finding.owner else {"uid": finding.owner}
    facts = finding.facts
    if facts is None or not facts.key_id:
        return [user]
    key = {
        "type": "AwsIamAccessKey",
        "uid": facts.key_id,
        "name": facts.key_id,
        **where,
        "data": {"status": facts.status, "created_time": int(facts.created.timestamp() * 1000), "user": finding.user},
    }
    if "owner" in user:
        key["owner"] = user["owner"]
    return [key, user]


def _unmapped(finding: ScanFinding) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": finding.code, "subject": finding.subject}
    if finding.exempt_reason:
        fields["exempt"] = finding.exempt_reason
    if finding.snoozed:
        fields["snoozed"] = True
    return fields
