"""Sessions: assumed-role credentials refreshed by botocore, shared service models, fast timestamps, partitions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import botocore.utils
from botocore.credentials import CredentialProvider, CredentialResolver, DeferredRefreshableCredentials
from botocore.exceptions import (
    ClientError,
    UnknownRegionError,
)

from bot.settings.accounts import Account

log = logging.getLogger(__name__)

_PARTITION_PREFIXES = (("us-gov-", "aws-us-gov"), ("cn-", "aws-cn"))


def partition_of_region(region: str) -> str:
    """The partition (aws, aws-us-gov, aws-cn) of an account's region: ARNs in advice must name it."""
    try:
        return str(boto3.Session().get_partition_for_region(region))
    except UnknownRegionError:  # a region newer than botocore's data: its prefix says
        return next((p for prefix, p in _PARTITION_PREFIXES if region.startswith(prefix)), "aws")


class _AssumedRole(CredentialProvider):
    """botocore's seam for where a session's credentials come from: the assumed role's, which botocore
    refreshes before they expire (and never the environment, a profile or instance metadata)."""

    METHOD = "keywarden-assume-role"
    CANONICAL_NAME = "custom-keywarden-assume-role"

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self._credentials


def session_with(base: boto3.Session, credentials: DeferredRefreshableCredentials) -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("credential_provider", CredentialResolver([_AssumedRole(credentials)]))
    # Share the parsed service models: loading them again costs ~200 ms of CPU and memory per account.
    core.register_component("data_loader", base._session.get_component("data_loader"))
    return with_fast_timestamps(boto3.Session(botocore_session=core, region_name=base.region_name))


def assume_denied(account: Account, error: ClientError) -> str:
    said = error.response.get("Error", {}).get("Message", "")
    return (
        f"Keywarden could not assume `{account.role_arn}` for account `{account.alias}`"
        + (f" (AWS denied `sts:AssumeRole`: {said})" if said else " (AWS denied `sts:AssumeRole`)")
        + ": the role is missing in that account, or its trust policy does not trust Keywarden's identity"
        + (", or the external id differs" if account.external_id else "")
        + "."
    )


def with_fast_timestamps(session: boto3.Session) -> boto3.Session:
    """Parse response timestamps with `datetime.fromisoformat`: dateutil's parser, botocore's default, costs
    about 0.1 ms per value, a third of the client's CPU when reading 5,000 users' details."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=_parse_timestamp)
    return session


def _parse_timestamp(value: Any) -> datetime:
    """AWS's ISO 8601 timestamps as aware datetimes; anything else (epoch seconds, odd forms) as botocore does."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return botocore.utils.parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
