"""AWS Organizations: listing its accounts and OUs, their aliases as Keywarden accounts, and what a refresh found."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.aws.account import AccountClient
from bot.aws.errors import AwsPermissionDenied
from bot.settings.accounts import Account, Organization

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrgAccount:
    id: str
    name: str
    status: str


@dataclass
class AccountChanges:
    """What the last refresh of the account set found: accounts that appeared or left, and why it failed."""

    added: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)  # alias -> why it is no longer scanned
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def digest_lines(self) -> list[str]:
        lines = [f"account `{alias}` is no longer scanned: {why}" for alias, why in self.removed.items()]
        if self.added:
            found = "a new account" if len(self.added) == 1 else f"{len(self.added)} new accounts"
            lines.append(f"{found} found in the organisation: " + ", ".join(f"`{a}`" for a in self.added))
        if self.error:
            lines.append(
                f"the organisation's account list could not be read (the last known one was used): {self.error}"
            )
        return lines + self.warnings


def slug(name: str) -> str:
    """An account name as an alias: lower case letters, digits and dashes, at most 63 characters."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:63].rstrip("-")


def org_aliases(accounts: list[OrgAccount], taken: set[str]) -> dict[str, OrgAccount]:
    """Aliases for discovered accounts: the slug of the name; the id appended on a collision (with another
    discovered account or an ACCOUNTS alias), for every account that shares the name, so none depends on order."""
    slugs = [(slug(a.name) or "account", a) for a in accounts]
    counts = Counter(s for s, _ in slugs)
    result: dict[str, OrgAccount] = {}
    for name, account in slugs:
        alias = name if counts[name] == 1 and name not in taken else f"{name[: 62 - len(account.id)]}-{account.id}"
        result[alias] = account
    return result


def diff_accounts(
    configured: tuple[Account, ...],
    before: Mapping[str, Account],
    listed: list[OrgAccount],
    org: Organization,
    partition: str,
    *,
    first: bool,
) -> tuple[dict[str, Account], AccountChanges]:
    """The accounts to scan once the organisation is listed (ACCOUNTS first, then every ACTIVE account it does not
    name or exclude, reached through ORG_ROLE_NAME), and what changed since `before` (nothing is "added" by the
    `first` listing)."""
    configured_ids = {role_account_id(a.role_arn) for a in configured} - {None}
    active = [
        a for a in listed if a.status == "ACTIVE" and a.id not in org.exclude_accounts and a.id not in configured_ids
    ]
    accounts = {a.alias: a for a in configured}
    for alias, found in org_aliases(active, taken=set(accounts)).items():
        accounts[alias] = Account(alias, f"arn:{partition}:iam::{found.id}:role/{org.role_name}", org.external_id)
    changes = AccountChanges(added=[] if first else [a for a in accounts if a not in before])
    statuses = {a.id: a.status for a in listed}
    for alias, account in before.items():
        if alias not in accounts:
            changes.removed[alias] = _why_gone(role_account_id(account.role_arn), statuses)
    if not active and not configured:
        changes.warnings.append(
            "the organisation has no ACTIVE account to scan"
            + (" in ORG_INCLUDE_OUS" if org.include_ous else "")
            + (" outside ORG_EXCLUDE_ACCOUNTS" if org.exclude_accounts else "")
        )
    return accounts, changes


def _why_gone(account_id: str | None, statuses: Mapping[str, str]) -> str:
    status = statuses.get(account_id or "")
    if status is None:
        return f"account {account_id} has left the organisation or was filtered out"
    if status != "ACTIVE":
        return f"account {account_id} is {status.lower().replace('_', ' ')} in AWS Organizations"
    return f"account {account_id} is excluded by ORG_INCLUDE_OUS / ORG_EXCLUDE_ACCOUNTS"


_ROLE_ACCOUNT_ID = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/")


def role_account_id(arn: str | None) -> str | None:
    """The account id in a role ARN (None for anything else)."""
    match = _ROLE_ACCOUNT_ID.match(arn or "")
    return match.group(1) if match else None


def list_accounts(client: AccountClient, include_ous: frozenset[str]) -> list[OrgAccount]:
    """Every account of the organisation (or of the `include_ous` subtrees), whatever its status.

    With `include_ous` the tree of OUs is read once (ListRoots, then ListOrganizationalUnitsForParent per
    unit), and each unit of the included subtrees is asked for its accounts once, however the included OUs
    nest.
    """
    if not include_ous:
        return [_org_account(a) for a in client._pages("organizations", "list_accounts", "Accounts")]
    tree = unit_tree(client)
    accounts: dict[str, OrgAccount] = {}
    for parent in _subtrees(tree, include_ous):
        for a in client._pages("organizations", "list_accounts_for_parent", "Accounts", ParentId=parent):
            accounts[a["Id"]] = _org_account(a)
    return list(accounts.values())


def unit_tree(client: AccountClient) -> dict[str, list[str]]:
    """Every root and OU id of the organisation, each with the ids of the OUs right under it, top down."""
    tree: dict[str, list[str]] = {}
    pending = [r["Id"] for r in client._pages("organizations", "list_roots", "Roots")]
    while pending:
        parent = pending.pop(0)
        tree[parent] = _child_units(client, parent)
        pending += tree[parent]
    return tree


def organization_units(client: AccountClient) -> list[str]:
    """Every root and OU id of the organisation (for checking ORG_INCLUDE_OUS)."""
    return list(unit_tree(client))


def _subtrees(tree: dict[str, list[str]], include_ous: frozenset[str]) -> list[str]:
    """The units of the included subtrees, each once (an included OU inside another is not walked twice)."""
    found: dict[str, None] = {}
    pending = [ou for ou in sorted(include_ous) if ou in tree]
    while pending:
        unit = pending.pop()
        if unit not in found:
            found[unit] = None
            pending += tree[unit]
    return list(found)


def _child_units(client: AccountClient, parent: str) -> list[str]:
    return [
        ou["Id"]
        for ou in client._pages(
            "organizations", "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
        )
    ]


def _org_account(a: dict[str, Any]) -> OrgAccount:
    return OrgAccount(a["Id"], a.get("Name") or a["Id"], a.get("State") or a.get("Status") or "ACTIVE")


def org_denied(error: AwsPermissionDenied, who: str) -> str:
    return (
        f"AWS denied `{error.permission}` to {who}: Organizations discovery needs `organizations:ListAccounts` "
        "(and, with ORG_INCLUDE_OUS, `organizations:ListRoots`, `organizations:ListOrganizationalUnitsForParent` "
        "and `organizations:ListAccountsForParent`) in the management account or a delegated administrator "
        "(set ORG_MANAGEMENT_ROLE_ARN to a role there)."
    )
