"""Administrator power and the routes of an IAM user's policies, decided from policy documents. Pure.

A user is an administrator when any policy that reaches it, by any route (attached to the user, inline
on the user, attached to one of its groups, inline on one of its groups), is `AdministratorAccess`,
`IAMFullAccess` (which can grant itself everything else), or has an Allow statement giving `*` or every IAM
action on every resource, however written (bot.domain.policy_grants). Customer-managed policies are judged
by their default version; AWS-managed ones by their name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from bot.domain.policy_grants import admin_grant

# AWS-managed policies that make a user an administrator, whatever their current document says.
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess")
# AWS-managed policies AWS attaches to a user, directly, when it believes one of the user's keys leaked.
QUARANTINE_POLICIES = ("AWSCompromisedKeyQuarantine", "AWSCompromisedKeyQuarantineV2", "AWSCompromisedKeyQuarantineV3")


@dataclass(frozen=True)
class AttachedPolicy:
    name: str
    arn: str


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: Any  # a dict, or the URL-encoded JSON text IAM sends when no SDK decoded it


@dataclass(frozen=True)
class PolicyHolder:
    """A user or a group: the policies attached to it and its inline policies."""

    name: str
    attached: tuple[AttachedPolicy, ...] = ()
    inline: tuple[InlinePolicy, ...] = ()


@dataclass(frozen=True)
class UserAccess:
    """What the ownership index keeps about a user's permissions (from GetAccountAuthorizationDetails)."""

    created: datetime | None = None
    admin_reason: str | None = None  # None: not an administrator
    direct_policies: tuple[str, ...] = ()  # attached to the user or inline on it, not through a group
    groups: tuple[str, ...] = ()
    quarantine: tuple[str, ...] = ()  # AWS's quarantine policies attached directly to the user

    @property
    def is_admin(self) -> bool:
        return self.admin_reason is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created.isoformat() if self.created else None,
            "admin": self.admin_reason,
            "direct": list(self.direct_policies),
            "groups": list(self.groups),
            "quarantine": list(self.quarantine),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> UserAccess | None:
        if not isinstance(data, Mapping):
            return None
        created = data.get("created")
        return cls(
            datetime.fromisoformat(created) if isinstance(created, str) else None,
            data.get("admin") or None,
            tuple(data.get("direct") or ()),
            tuple(data.get("groups") or ()),
            tuple(data.get("quarantine") or ()),
        )


def policy_document(raw: Any) -> Any:
    """A policy document as a dict (or None when it cannot be read)."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str):
        for text in (raw, unquote(raw)):
            try:
                return json.loads(text)
            except ValueError:
                continue
    return None


def admin_grant_of(raw: Any) -> str | None:
    """How a policy document gives administrator power ("allows `*` on `*`"), or None when it does not."""
    document = policy_document(raw)
    return admin_grant(document.get("Statement")) if isinstance(document, Mapping) else None


def _managed_name(arn: str) -> str | None:
    """The name of an AWS-managed policy (`arn:<partition>:iam::aws:policy/...`), else None."""
    head, sep, name = arn.partition(":iam::aws:policy/")
    return name.rsplit("/", 1)[-1] if sep and head.startswith("arn:aws") else None


def _policy_reasons(holder: PolicyHolder, route: str, managed: Mapping[str, tuple[str, Any]]) -> list[str]:
    reasons: list[str] = []
    for policy in holder.attached:
        aws_name = _managed_name(policy.arn)
        if aws_name in ADMIN_MANAGED_POLICIES:
            reasons.append(f"`{aws_name}` {route}")
            continue
        version, document = managed.get(policy.arn, ("", None))
        if aws_name is None and (grant := admin_grant_of(document)):
            at = f" (default version {version})" if version else ""
            reasons.append(f"customer-managed policy `{policy.name}`{at} {grant}, {route}")
    for inline in holder.inline:
        if grant := admin_grant_of(inline.document):
            reasons.append(f"inline policy `{inline.name}` {grant}, {route}")
    return reasons


def admin_reasons(
    user: PolicyHolder,
    groups: Iterable[PolicyHolder],
    managed: Mapping[str, tuple[str, Any]],
) -> list[str]:
    """Why the user is an administrator (empty: it is not). `managed`: policy ARN -> (default version, document)."""
    reasons = _policy_reasons(user, "attached directly", managed)
    for group in groups:
        reasons += _policy_reasons(group, f"through group `{group.name}`", managed)
    return reasons


def quarantine_policies(user: PolicyHolder) -> tuple[str, ...]:
    """AWS's quarantine policies attached directly to the user (where AWS attaches them), by name."""
    return tuple(name for p in user.attached if (name := _managed_name(p.arn)) in QUARANTINE_POLICIES)


def user_access(
    user: PolicyHolder,
    created: datetime | None,
    group_names: Iterable[str],
    groups: Mapping[str, PolicyHolder],
    managed: Mapping[str, tuple[str, Any]],
) -> UserAccess:
    """The index's view of one user from the authorization details of its account."""
    names = tuple(group_names)
    member_of = [groups.get(n, PolicyHolder(n)) for n in names]
    reasons = admin_reasons(user, member_of, managed)
    direct = tuple(p.name for p in user.attached) + tuple(p.name for p in user.inline)
    return UserAccess(created, "; ".join(reasons) or None, direct, names, quarantine_policies(user))
