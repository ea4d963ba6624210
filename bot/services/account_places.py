"""Where an account is: its AWS account id (sts:GetCallerIdentity through its role, asked once per process), the
region its findings go to, and the partition of that region."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.aws import AwsGateway, partition_of_region


@dataclass(frozen=True)
class Place:
    account_id: str
    region: str
    partition: str


class AccountPlaces:
    def __init__(self, aws: AwsGateway, region: str | None = None) -> None:
        self._aws = aws
        self._region = region  # SECURITY_HUB_REGION; otherwise each account's own region
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def of(self, alias: str) -> Place:
        """The account's place; AwsError when its id cannot be read."""
        client = self._aws.account(alias)
        with self._lock:
            account_id = self._ids.get(alias)
        if account_id is None:
            account_id = client.account_id()
            with self._lock:
                self._ids[alias] = account_id
        region = self._region or client.region
        return Place(account_id, region, partition_of_region(region))
