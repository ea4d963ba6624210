"""Where an account is: its AWS account id (sts:GetCallerIdentity through its role, asked once per process), the
region its findings go to, and the partition of that region."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.aws import AwsGateway, partition_of_region


@dataclass(frozen=True)
class Place:
    account_id: str
    region: str
    partition: str


@dataclass(kw_only=True, eq=False)
class AccountPlaces:
    aws: AwsGateway
    region: str | None = None  # SECURITY_HUB_REGION; otherwise each account's own region
    _ids: dict[str, str] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def of(self, alias: str) -> Place:
        """The account's place; AwsError when its id cannot be read."""
        client = self.aws.account(alias)
        with self._lock:
            account_id = self._ids.get(alias)
        if account_id is None:
            account_id = client.account_id()
            with self._lock:
                self._ids[alias] = account_id
        region = self.region or client.region
        return Place(account_id, region, partition_of_region(region))
