"""Whether a role exists in an account and when it was last used (iam:GetRole's `RoleLastUsed`).

IAM Identity Center makes one role per permission set in each account it is assigned to, named
`AWSReservedSSO_<permission set>_<suffix>` under the path `/aws-reserved/sso.amazonaws.com/` (IAM Identity Center
User Guide, "Referencing permission sets in resource policies"): that role is found by listing the path
(iam:ListRoles), then read like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws.account import AccountClient
from bot.aws.errors import AwsNotFound, translate

SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
SSO_PREFIX = "AWSReservedSSO_"


@dataclass(frozen=True)
class RoleUse:
    name: str
    arn: str
    created: datetime
    last_used: datetime | None  # None: never used (as far as IAM reports, for the last 400 days)
    last_region: str | None


def role_use(account: AccountClient, name: str, *, permission_set: bool = False) -> RoleUse | None:
    """The role (or, with `permission_set`, the role Identity Center made for that permission set); None when there
    is none. AwsError when IAM cannot be read."""
    iam = account.client("iam")
    try:
        if permission_set:
            found = _sso_role(account, name)
            if found is None:
                return None
            name = found
        role = iam.get_role(RoleName=name)["Role"]
    except AwsNotFound:
        return None
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        raise translate(e, account.alias, "iam") from None
    except BotoCoreError as e:
        raise translate(e, account.alias, "iam") from None
    last = role.get("RoleLastUsed") or {}
    used = last.get("LastUsedDate")
    return RoleUse(
        role["RoleName"], role["Arn"], _utc(role["CreateDate"]), _utc(used) if used else None, last.get("Region")
    )


def _sso_role(account: AccountClient, permission_set: str) -> str | None:
    wanted = f"{SSO_PREFIX}{permission_set}_"
    paginator = account.client("iam").get_paginator("list_roles")
    for page in paginator.paginate(PathPrefix=SSO_PATH):
        for role in page.get("Roles", []):
            if str(role.get("RoleName", "")).startswith(wanted):
                return str(role["RoleName"])
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
