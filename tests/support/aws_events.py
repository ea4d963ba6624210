"""EventBridge events as the events queue carries them (AWS Health and CloudTrail), for tests and benchmarks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"


def health_exposed(
    key_id: str,
    account: str = ACCOUNT,
    event_id: str | None = None,
    *,
    code: str = "AWS_RISK_CREDENTIALS_EXPOSED",
    affected_account: str | None = None,
    start: datetime | None = None,
) -> dict[str, Any]:
    """An AWS Health risk event (`code`); with `affected_account`, as Health's organisational view delivers it
    to `account` (the management or delegated administrator account). startTime is RFC 1123, as Health writes it."""
    detail: dict[str, Any] = {
        "eventArn": f"arn:aws:health:global::event/RISK/{code}/{uuid.uuid4().hex}",
        "service": "RISK",
        "eventTypeCode": code,
        "eventTypeCategory": "issue",
        "startTime": (start or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "eventDescription": [{"language": "en_US", "latestDescription": "Your access key was found in public."}],
        "affectedEntities": [{"entityValue": key_id}],
    }
    if affected_account:
        detail["affectedAccount"] = affected_account
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [key_id],
        "detail": detail,
    }


def key_call(
    call: str,
    key_id: str,
    user: str,
    caller_arn: str = f"arn:aws:iam::{ACCOUNT}:user/bob",
    *,
    status: str | None = None,
    account: str = ACCOUNT,
    error: str | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """A CloudTrail management event for CreateAccessKey, UpdateAccessKey or DeleteAccessKey (at `at`, default now)."""
    params: dict[str, Any] = {"userName": user}
    response: dict[str, Any] | None = None
    if call == "CreateAccessKey":
        response = {"accessKey": {"accessKeyId": key_id, "status": "Active", "userName": user, "createDate": "now"}}
    else:
        params["accessKeyId"] = key_id
    if status:
        params["status"] = status
    kind, _, rest = caller_arn.split(":", 5)[5].partition("/")
    identity: dict[str, Any] = {"type": "IAMUser", "arn": caller_arn, "accountId": account}
    if kind == "assumed-role":
        role = rest.split("/")[0]
        identity = {
            "type": "AssumedRole",
            "arn": caller_arn,
            "accountId": account,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}"}},
        }
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com",
        "eventName": call,
        "awsRegion": "us-east-1",
        "sourceIPAddress": source_ip,
        "userAgent": "aws-cli/2.15",
        "requestParameters": params,
        "responseElements": response,
        "eventID": str(uuid.uuid4()),
        "recipientAccountId": account,
    }
    if error:
        detail["errorCode"] = error
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account,
        "time": detail["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
