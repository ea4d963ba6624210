"""The AWS accounts to serve: ACCOUNTS, Organizations discovery (ORG_*), and the region their partition needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.settings.parsers import REGION
from bot.settings.reader import Malformed, SettingsError

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
ROLE_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
OU_OR_ROOT = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
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
        if not ROLE_ARN.match(arn):
            raise ValueError(f"{arn!r} is not a role ARN")
        if alias in {a.alias for a in accounts}:
            raise ValueError(f"alias {alias!r} appears twice")
        accounts.append(Account(alias, arn, external_id or None))
    if not accounts:
        raise ValueError("no account given")
    return tuple(accounts)


def partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]


def _region_partition(region: str) -> str:
    for partition, (prefix, _) in _PARTITION_REGIONS.items():
        if region.startswith(prefix):
            return partition
    return "aws"


def one_partition(accounts: tuple[Account, ...]) -> tuple[Account, ...]:
    """ACCOUNTS' roles all in one partition: one Keywarden serves one."""
    partitions = sorted({partition_of(a.role_arn) for a in accounts if a.role_arn})
    if len(partitions) > 1:
        why = f"roles in partitions {' and '.join(partitions)}; one Keywarden serves one partition"
        raise Malformed(why, "role ARNs of one partition")
    return accounts


def region_for(region: str | None, accounts: tuple[Account, ...]) -> str | None:
    """AWS_REGION (or boto3's AWS_DEFAULT_REGION), required and checked when ACCOUNTS lie outside partition `aws`."""
    if region is not None and not REGION.match(region):
        raise ValueError("")
    partition = next((partition_of(a.role_arn) for a in accounts if a.role_arn), "aws")
    if partition == "aws":
        return region
    example = _PARTITION_REGIONS.get(partition, ("", "a region of that partition"))[1]
    if region is None:
        raise SettingsError(
            f"AWS_REGION is not set: the roles in ACCOUNTS are in partition {partition}, which needs a region of its "
            f"own such as {example}"
        )
    if partition in _PARTITION_REGIONS and _region_partition(region) != partition:
        why = f"{region} is not in partition {partition} of the roles in ACCOUNTS"
        raise Malformed(why, f"a region such as {example}")
    return region
