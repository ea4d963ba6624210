"""SECURITY_HUB=on against moto: each account's findings go to its own Security Hub through its role; the next scan
updates the same findings (same ids) and archives, as resolved, the ones it no longer sees; at most 100 a call;
throttling is retried; an account whose scan failed keeps what its Security Hub holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from bot.bootstrap import Services
from bot.domain.asff import finding_uid
from bot.domain.catalogue import KEY_TOO_OLD, KEY_UNUSED
from bot.domain.scan import AccountScan, ScanReport
from tests.support import moto_securityhub
from tests.support.accounts import client_in
from tests.support.flows import make_key

PROD, DEV = "111111111111", "222222222222"
ACCOUNTS = f"prod=arn:aws:iam::{PROD}:role/keywarden,dev=arn:aws:iam::{DEV}:role/keywarden"


@pytest.fixture(autouse=True)
def batch_update_findings() -> None:
    moto_securityhub.install()


def assumed(account_id: str, service: str) -> Any:
    return client_in(account_id, service)


def hub_findings(account_id: str) -> dict[str, dict[str, Any]]:
    hub = assumed(account_id, "securityhub")
    found: dict[str, dict[str, Any]] = {}
    for page in hub.get_paginator("get_findings").paginate():
        found |= {f["Id"]: f for f in page["Findings"]}
    return found


@pytest.fixture
def hub(make_services: Callable[..., Services], aws: None) -> Iterator[Services]:
    yield make_services(SECURITY_HUB="on", ACCOUNTS=ACCOUNTS)


def test_findings_are_imported_updated_and_archived_as_resolved(hub: Services) -> None:
    now = hub.clock()
    prod = assumed(PROD, "iam")
    prod.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    prod.create_user(UserName="batch")
    old = make_key(prod, "ci", 120, now, used_days_ago=1)
    unused = make_key(prod, "batch", 60, now)
    dev = assumed(DEV, "iam")
    dev.create_user(UserName="dev-ci")
    dev_old = make_key(dev, "dev-ci", 100, now, used_days_ago=2)

    report, _ = hub.scan(post=False)
    assert not report.failed
    in_prod, in_dev = hub_findings(PROD), hub_findings(DEV)
    old_id, unused_id = finding_uid(PROD, old, KEY_TOO_OLD), finding_uid(PROD, unused, KEY_UNUSED)
    assert set(in_prod) == {finding_uid(PROD, f.subject, f.code) for f in report.accounts[0].findings}
    assert {old_id, unused_id} <= set(in_prod)
    assert set(in_dev) == {finding_uid(DEV, dev_old, KEY_TOO_OLD)}  # each account's own hub, its own findings
    first = in_prod[old_id]
    assert first["ProductArn"] == f"arn:aws:securityhub:us-east-1:{PROD}:product/{PROD}/default"
    assert (first["AwsAccountId"], first["GeneratorId"], first["RecordState"]) == (PROD, KEY_TOO_OLD, "ACTIVE")
    assert first["Severity"]["Label"] == "HIGH" and first["Compliance"]["Status"] == "FAILED"
    assert {"Security Hub IAM.3", "CIS 1.14"} <= set(first["Compliance"]["RelatedRequirements"])
    assert first["Remediation"]["Recommendation"]["Text"].startswith("Rotate")
    key, user = first["Resources"]
    assert key["Type"] == "AwsIamAccessKey" and key["Details"]["AwsIamAccessKey"]["AccessKeyId"] == old
    assert key["Details"]["AwsIamAccessKey"]["PrincipalName"] == "ci"
    assert user["Type"] == "AwsIamUser" and user["Id"] == f"arn:aws:iam::{PROD}:user/ci"
    assert user["Tags"] == {"keywarden:owner": "alice@example.com"}

    # The next day: the unused key is gone, the old one still there.
    prod.delete_access_key(UserName="batch", AccessKeyId=unused)
    hub.clock.advance(days=1)
    hub.scan(post=False)
    again = hub_findings(PROD)
    assert set(again) == set(in_prod)  # updated in place: the same ids, nothing new
    assert again[old_id]["RecordState"] == "ACTIVE" and again[old_id]["CreatedAt"] == first["CreatedAt"]
    assert again[old_id]["UpdatedAt"] > first["UpdatedAt"]
    gone = again[unused_id]
    assert (gone["RecordState"], gone["Workflow"]["Status"], gone["Compliance"]["Status"]) == (
        "ARCHIVED",
        "RESOLVED",
        "PASSED",
    )
    assert "no longer finds" in gone["Note"]["Text"]
    calls = hub.aws.calls_of("prod")
    assert calls["securityhub:BatchImportFindings"] == 2 and calls["securityhub:BatchUpdateFindings"] == 1

    # A third scan sends the archived finding no more.
    hub.clock.advance(days=1)
    hub.scan(post=False)
    assert hub.aws.calls_of("prod")["securityhub:BatchUpdateFindings"] == 1
    assert hub_findings(PROD)[unused_id]["UpdatedAt"] == gone["UpdatedAt"]


def test_at_most_100_findings_a_call_and_throttling_is_retried(hub: Services) -> None:
    now = hub.clock()
    prod = assumed(PROD, "iam")
    for n in range(55):  # never used and 100 days old: too old and unused, 110 findings
        prod.create_user(UserName=f"svc{n}")
        make_key(prod, f"svc{n}", 100, now)
    sizes: list[int] = []
    throttled = [0]

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        if throttled[0] == 0:  # the first call: Security Hub's rate limit, as it answers it
            throttled[0] += 1
            body = b'{"__type":"TooManyRequestsException","message":"Rate exceeded"}'
            return AWSResponse(request.url, 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, _Raw(body))
        return None

    client = hub.aws.account("prod").client("securityhub", "us-east-1")
    client.meta.events.register("before-send.securityhub.BatchImportFindings", answer)
    client.meta.events.register(
        "before-parameter-build.securityhub.BatchImportFindings",
        lambda params, **_: sizes.append(len(params["Findings"])),
    )
    report, _ = hub.scan(post=False)
    assert len(report.accounts[0].findings) == 110
    assert sorted(sizes, reverse=True) == [100, 10]
    assert throttled == [1] and hub.aws.calls_of("prod")["securityhub:BatchImportFindings"] == 2
    assert len(hub_findings(PROD)) == 110
    assert any("Security Hub: 110 findings imported" in note for note in report.notes)


def test_an_account_whose_scan_failed_keeps_its_findings(hub: Services) -> None:
    now = hub.clock()
    prod = assumed(PROD, "iam")
    prod.create_user(UserName="ci")
    key = make_key(prod, "ci", 120, now, used_days_ago=1)
    hub.scan(post=False)
    assert hub_findings(PROD)[finding_uid(PROD, key, KEY_TOO_OLD)]["RecordState"] == "ACTIVE"
    assert hub.security_hub is not None
    failed = ScanReport(
        now, now + timedelta(seconds=1), [AccountScan("prod", error="AWS denied iam:GetCredentialReport")]
    )
    export = hub.security_hub.export(failed)
    assert export.accounts == []  # nothing known, nothing archived
    assert hub_findings(PROD)[finding_uid(PROD, key, KEY_TOO_OLD)]["RecordState"] == "ACTIVE"


class _Raw:
    """A body botocore can read once, as urllib3 would give it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data
