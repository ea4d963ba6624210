"""The AWS accounts to serve: ACCOUNTS, Organizations discovery (ORG_*), and the region their partition needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.settings.parsers import REGION, matching, pattern_list
from bot.settings.reader import Reader, SettingsError

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ROLE_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_OU_OR_ROOT = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# Regions of the partitions other than `aws` start with these; us-east-1 and friends exist only in `aws`.
_PARTITION_REGIONS = {"aws-us-gov": ("us-gov-", "us-gov-west-1"), "aws-cn": ("cn-", "cn-north-1")}


@dataclass(frozen=True)
class Account:
    alias: str
    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Organization:
    """AWS Organizations discovery: every ACTIVE account reached through the same role name."""

    role_name: str
    management_role_arn: str | None = None
    external_id: str | None = None
    include_ous: frozenset[str] = frozenset()
    exclude_accounts: frozenset[str] = frozenset()


def account_list(value: str) -> tuple[Account, ...]:
    """ACCOUNTS: comma-separated alias=role-arn[|external-id]."""
    accounts: list[Account] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        alias, sep, rest = part.partition("=")
        alias = alias.strip()
        if not sep or not _ALIAS.match(alias):
            raise ValueError(f"{part!r} has no valid alias")
        arn, _, external_id = rest.strip().partition("|")
        if not _ROLE_ARN.match(arn):
            raise ValueError(f"{arn!r} is not a role ARN")
        if alias in {a.alias for a in accounts}:
            raise ValueError(f"alias {alias!r} appears twice")
        accounts.append(Account(alias, arn, external_id or None))
    if not accounts:
        raise ValueError("no account given")
    return tuple(accounts)


def read_organization(r: Reader) -> Organization | None:
    """The ORG_* variables: discovery is on when ORG_ROLE_NAME is set, and the others need it."""
    role_name = r.optional("ORG_ROLE_NAME", matching(_ROLE_NAME), "an IAM role name such as keywarden")
    others = ["ORG_MANAGEMENT_ROLE_ARN", "ORG_EXTERNAL_ID", "ORG_INCLUDE_OUS", "ORG_EXCLUDE_ACCOUNTS"]
    if role_name is None:
        given = [name for name in others if r.env.get(name, "").strip()]
        if given:
            raise SettingsError(f"{given[0]} is set but ORG_ROLE_NAME is not: set ORG_ROLE_NAME to turn discovery on")
        return None
    return Organization(
        role_name=role_name,
        management_role_arn=r.optional(
            "ORG_MANAGEMENT_ROLE_ARN", matching(_ROLE_ARN), "a role ARN such as arn:aws:iam::123456789012:role/name"
        ),
        external_id=r.optional("ORG_EXTERNAL_ID", matching(_EXTERNAL_ID), "2 to 1224 characters of [\\w+=,.@:/-]"),
        include_ous=r.optional(
            "ORG_INCLUDE_OUS", pattern_list(_OU_OR_ROOT, "an OU id"), "comma-separated OU ids such as ou-ab12-cd34ef56"
        )
        or frozenset(),
        exclude_accounts=r.optional(
            "ORG_EXCLUDE_ACCOUNTS", pattern_list(_ACCOUNT_ID, "a 12-digit account id"), "comma-separated account ids"
        )
        or frozenset(),
    )


def partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]


def _region_partition(region: str) -> str:
    for partition, (prefix, _) in _PARTITION_REGIONS.items():
        if region.startswith(prefix):
            return partition
    return "aws"


def region_for(accounts: tuple[Account, ...], env: Mapping[str, str]) -> str | None:
    """AWS_REGION (or boto3's AWS_DEFAULT_REGION), required and checked when ACCOUNTS lie outside partition `aws`."""
    name = "AWS_REGION" if env.get("AWS_REGION", "").strip() else "AWS_DEFAULT_REGION"
    region = env.get(name, "").strip() or None
    if region is not None and not REGION.match(region):
        raise SettingsError(f"{name} is malformed: expected a region such as us-east-1 or us-gov-west-1")
    partitions = sorted({partition_of(a.role_arn) for a in accounts if a.role_arn})
    if len(partitions) > 1:
        raise SettingsError(
            f"ACCOUNTS is malformed (roles in partitions {' and '.join(partitions)}; one Keywarden serves one "
            "partition): expected role ARNs of one partition"
        )
    partition = partitions[0] if partitions else "aws"
    if partition == "aws":
        return region
    example = _PARTITION_REGIONS.get(partition, ("", "a region of that partition"))[1]
    if region is None:
        raise SettingsError(
            f"AWS_REGION is not set: the roles in ACCOUNTS are in partition {partition}, which needs a region of its "
            f"own such as {example}"
        )
    if partition in _PARTITION_REGIONS and _region_partition(region) != partition:
        raise SettingsError(
            f"{name} is malformed ({region} is not in partition {partition} of the roles in ACCOUNTS): "
            f"expected a region such as {example}"
        )
    return region
