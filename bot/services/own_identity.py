"""Keywarden's own identity (the hub: the IAM user or role its own credentials belong to, sts:GetCallerIdentity
with the base credentials) and the rule that follows from it: Keywarden never changes the keys of the IAM user it
runs as, in whichever configured account has the hub's account id, whatever alias or member role serves it.

Unknown is not "no": when the hub's identity (or, for a user named like the hub user, the account's id) cannot be
read, IdentityUnknown is raised and the caller refuses (filing) or does nothing (enforcement)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from bot.aws import AwsError, AwsGateway
from bot.domain.requests import account_id_of_arn, iam_user_of
from bot.services.inventory import InventoryService

log = logging.getLogger(__name__)


class IdentityUnknown(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Hub:
    arn: str
    account_id: str | None
    user: str | None  # None when Keywarden runs as a role (it has no keys of its own)


@dataclass(kw_only=True, eq=False)
class OwnIdentity:
    aws: AwsGateway
    inventory: InventoryService
    _hub: Hub | None = field(default=None, init=False)  # read once it answers; a failure is asked again next time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def hub(self) -> Hub:
        with self._lock:
            if self._hub is not None:
                return self._hub
        try:
            arn = self.aws.caller_arn()
        except AwsError as e:
            log.warning("could not read Keywarden's own identity (sts:GetCallerIdentity): %s", e.message)
            raise IdentityUnknown(f"sts:GetCallerIdentity failed: {e.message}") from None
        hub = Hub(arn, account_id_of_arn(arn), iam_user_of(arn))
        if hub.user is not None and hub.account_id is None:
            raise IdentityUnknown(f"no account id in Keywarden's own identity `{arn}`")
        with self._lock:
            self._hub = hub
        return hub

    def is_own_user(self, account: str, iam_user: str) -> bool:
        """Whether `account:iam_user` is the IAM user Keywarden runs as. IdentityUnknown when that cannot be told."""
        hub = self.hub()
        if hub.user is None or iam_user.lower() != hub.user.lower():  # IAM user names are unique case-insensitively
            return False
        account_id = self.inventory.account_id_of(account)
        if account_id is None:
            raise IdentityUnknown(f"the AWS account id of `{account}` could not be read")
        return account_id == hub.account_id
