"""Sessions an access key minted, read from its CloudTrail events, and how to end them. Pure.

A call signed with temporary credentials is recorded under their own key id (`ASIA…`), never under the long-term
key that minted them: a LookupEvents search by the key's id misses everything done through its sessions. The
minting call (sts:GetSessionToken, AssumeRole, GetFederationToken) is signed by the key, and its event carries
the new key id in `responseElements.credentials.accessKeyId`.

Deactivating or deleting the key does not end a session: temporary credentials stay valid until they expire
(GetSessionToken and GetFederationToken: up to 129,600 s, 36 h, default 12 h; AssumeRole: up to the role's
maximum session duration, at most 12 h). AWS's remedy is a deny on `aws:TokenIssueTime`, the time the session's
credentials were issued, on the identity the session acts as: the IAM user for GetSessionToken and
GetFederationToken, the role for AssumeRole (IAM User Guide, "Disabling permissions for temporary security
credentials" and "Revoke IAM role temporary security credentials"). Requests signed with a long-term key carry
no `aws:TokenIssueTime`, so the deny leaves keys alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Calls that mint temporary credentials, with the longest session each can give (seconds).
MINTING = {"GetSessionToken": 129_600, "GetFederationToken": 129_600, "AssumeRole": 43_200}
# Where each partition records global-service (IAM) events; STS calls to a regional endpoint are recorded in
# the caller's region instead.
GLOBAL_REGIONS = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}
POLICY_NAME = "keywarden-revoke-sessions"
# CloudTrail writes `expiration` as Java prints dates ("Dec 8, 2026, 5:00:00 AM"; older events without the
# comma after the year), sometimes as ISO 8601.
_EXPIRATION_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class MintedSession:
    key_id: str  # ASIA…
    call: str  # "sts:GetSessionToken"
    minted_at: datetime
    minted_by: str  # the key id that signed the minting call
    expires: datetime | None  # None: CloudTrail did not say and no duration was asked for
    role_arn: str | None = None  # AssumeRole: the role the session acts as
    account_id: str | None = None

    def may_be_valid(self, now: datetime) -> bool:
        """True unless it has certainly expired (an unknown expiry counts from the longest session allowed)."""
        return now < (self.expires or self.minted_at + timedelta(seconds=MINTING.get(self.call[4:], 129_600)))


def global_region(partition: str, fallback: str) -> str:
    """The region where a partition records IAM's events; `fallback` (the account's region) for another one."""
    return GLOBAL_REGIONS.get(partition, fallback)


def minted_session(event_name: str, detail: Mapping[str, Any], at: datetime) -> MintedSession | None:
    """The session a minting call's event (its CloudTrailEvent JSON) created; None for other calls and failures."""
    if event_name not in MINTING or detail.get("errorCode"):
        return None
    response = detail.get("responseElements")
    credentials = response.get("credentials") if isinstance(response, Mapping) else None
    key_id = credentials.get("accessKeyId") if isinstance(credentials, Mapping) else None
    if not isinstance(key_id, str) or not key_id:
        return None
    request = detail.get("requestParameters")
    request = request if isinstance(request, Mapping) else {}
    identity = detail.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    expires = _expiration(credentials.get("expiration"))  # type: ignore[union-attr]
    if expires is None and str(request.get("durationSeconds") or "").isdigit():
        expires = at + timedelta(seconds=int(request["durationSeconds"]))
    role = request.get("roleArn") if event_name == "AssumeRole" else None
    account = detail.get("recipientAccountId") or identity.get("accountId")
    return MintedSession(
        key_id=key_id,
        call=f"sts:{event_name}",
        minted_at=at,
        minted_by=str(identity.get("accessKeyId") or ""),
        expires=expires,
        role_arn=str(role) if role else None,
        account_id=str(account) if account else None,
    )


def _expiration(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for pattern in _EXPIRATION_FORMATS:
        try:
            return datetime.strptime(value.strip(), pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def revoke_policy(issued_before: datetime) -> str:
    """The inline policy that ends every session issued before `issued_before` (JSON, as IAM takes it)."""
    issued = issued_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


def user_arn(partition: str, account_id: str | None, user: str) -> str | None:
    return f"arn:{partition}:iam::{account_id}:user/{user}" if account_id else None
