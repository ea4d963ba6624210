"""Users, groups and policies from GetAccountAuthorizationDetails pages, as plain data (no calls here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.privilege import AttachedPolicy, InlinePolicy, PolicyHolder, UserAccess, user_access
from bot.domain.quarantine import quarantine_policies


@dataclass(frozen=True)
class IamUser:
    name: str
    arn: str
    tags: dict[str, str]
    access: UserAccess | None = None  # policies and groups; None when not read


def users_of(pages: Iterable[dict[str, Any]]) -> Iterator[IamUser]:
    """Every user of the pages with its tags and what its policies grant.

    Groups and policies may come on any page, so a user's access is worked out once every page has been read.
    """
    users: list[dict[str, Any]] = []
    groups: dict[str, PolicyHolder] = {}
    managed: dict[str, tuple[str, Any]] = {}
    for page in pages:
        users.extend(page.get("UserDetailList", []))
        for group in page.get("GroupDetailList", []):
            groups[group["GroupName"]] = _holder(group["GroupName"], group, "GroupPolicyList")
        for policy in page.get("Policies", []):
            managed[policy["Arn"]] = _default_version(policy)
    for user in users:
        tags = {t["Key"]: t["Value"] for t in user.get("Tags", [])}
        holder = _holder(user["UserName"], user, "UserPolicyList")
        created = _utc(user["CreateDate"]) if user.get("CreateDate") else None
        access = user_access(holder, created, user.get("GroupList", []), groups, managed)
        # AWS's quarantine, every version by its prefix (V4 and later too), AWS-managed only.
        access = replace(access, quarantine=quarantine_policies(holder.attached))
        yield IamUser(user["UserName"], user["Arn"], tags, access)


def _holder(name: str, detail: dict[str, Any], inline_key: str) -> PolicyHolder:
    return PolicyHolder(
        name,
        tuple(AttachedPolicy(p["PolicyName"], p["PolicyArn"]) for p in detail.get("AttachedManagedPolicies", [])),
        tuple(InlinePolicy(p["PolicyName"], p.get("PolicyDocument")) for p in detail.get(inline_key, [])),
    )


def _default_version(policy: dict[str, Any]) -> tuple[str, Any]:
    """(version id, document) of a managed policy's default version."""
    for version in policy.get("PolicyVersionList", []):
        if version.get("IsDefaultVersion"):
            return version.get("VersionId", ""), version.get("Document")
    return policy.get("DefaultVersionId", ""), None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
