"""Findings to export in tests, and the published shapes they are checked against: ASFF against botocore's model of
BatchImportFindings (the API's own schema, shipped with botocore), OCSF 1.1.0 against the requirements its schema
documents for the Compliance Finding class (written out here: no package ships the schema)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from bot.domain.findings import CATALOGUE, catalogued
from bot.domain.keys import KeyFacts
from bot.domain.scan import ROOT_SUBJECT, ScanFinding

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def key_finding(
    code: str, key_id: str = "AKIAIOSFODNN7EXAMPLE", *, user: str = "ci", owner: str | None = "a@x.io", **finding: Any
) -> ScanFinding:
    facts = KeyFacts(
        "prod", user, key_id, "Active", NOW - timedelta(days=120), NOW - timedelta(days=2), "s3", "eu-west-1"
    )
    return ScanFinding("prod", user, key_id, catalogued(code, f"{CATALOGUE[code].title}."), facts, owner, **finding)


def user_finding(code: str, user: str = "ci") -> ScanFinding:
    return ScanFinding("prod", user, f"user:{user}", catalogued(code, "About the user."), None, None)


def root_finding(code: str) -> ScanFinding:
    facts = KeyFacts("prod", "<root_account>", None, "Active", NOW - timedelta(days=5), is_root=True)
    return ScanFinding("prod", "<root_account>", ROOT_SUBJECT, catalogued(code, "Root has a key."), facts, None)


def asff_problems(findings: list[dict[str, Any]]) -> str:
    """botocore's report of what BatchImportFindings would refuse to send (required members, types, lengths)."""
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    return ParamValidator().validate({"Findings": findings}, shape).generate_report()


# OCSF 1.1.0: what each object requires (events/findings/compliance_finding.json and what it extends, the objects
# and the `cloud` profile), and the enums of the ids this class uses.
OCSF_REQUIRED: dict[str, tuple[str, ...]] = {
    "": (
        "activity_id",
        "category_uid",
        "class_uid",
        "type_uid",
        "time",
        "severity_id",
        "metadata",
        "finding_info",
        "compliance",
        "cloud",
    ),
    "metadata": ("product", "version"),
    "metadata.product": ("vendor_name",),
    "finding_info": ("title", "uid"),
    "compliance": ("standards",),
    "cloud": ("provider",),
    "remediation": ("desc",),
}
OCSF_ENUMS: dict[str, set[int]] = {
    "activity_id": {0, 1, 2, 3, 99},
    "severity_id": {0, 1, 2, 3, 4, 5, 6, 99},
    "status_id": {0, 1, 2, 3, 4, 99},
    "compliance.status_id": {0, 1, 2, 3, 99},
}


def ocsf_problems(event: dict[str, Any]) -> list[str]:
    problems = []
    for path, names in OCSF_REQUIRED.items():
        node: Any = event
        for part in filter(None, path.split(".")):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            if path in ("remediation",):
                continue  # recommended, not required: checked only when present
            problems.append(f"{path or 'event'} is missing")
            continue
        problems += [f"{path or 'event'}.{n} is missing" for n in names if node.get(n) in (None, "", [])]
    for path, allowed in OCSF_ENUMS.items():
        node = event
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and node not in allowed:
            problems.append(f"{path} = {node!r} is not one of {sorted(allowed)}")
    if event.get("class_uid") != 2003 or event.get("category_uid") != 2:
        problems.append("not a Compliance Finding (class 2003, category 2)")
    if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get("activity_id", -1):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    if not isinstance(event.get("time"), int):
        problems.append("time is not a timestamp_t (milliseconds, an integer)")
    if not isinstance(event.get("compliance", {}).get("standards"), list):
        problems.append("compliance.standards is not an array")
    return problems
