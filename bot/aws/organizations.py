"""AWS Organizations: listing its accounts and OUs, their aliases as Keywarden accounts, and what a refresh found."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.aws.account import AccountClient
from bot.aws.errors import AwsPermissionDenied

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
            lines.append("new account(s) found in the organisation: " + ", ".join(f"`{a}`" for a in self.added))
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
