"""The ownership index: which IAM users exist in which account, who owns them (IAM tag), and which Slack user
that owner is."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from bot.aws import AwsGateway
from bot.clock import Clock
from bot.domain.slack_ids import is_user_id
from bot.slack.client import SlackDirectory
from bot.store.iam_users import EXEMPT_TAG, IamUsers, IndexedUser, OwnedUser

__all__ = ["EXEMPT_REASON_TAG", "EXEMPT_TAG", "OwnedUser", "OwnershipIndex", "owner_in", "owner_slack_id"]

EXEMPT_REASON_TAG = "keywarden:exempt-reason"


@dataclass(kw_only=True, eq=False)
class OwnershipIndex:
    users: IamUsers
    aws: AwsGateway
    clock: Clock
    owner_tag: str
    ttl: timedelta  # OWNERSHIP_TTL_MINUTES: an account's rows older than this are read again
    _locks: dict[str, threading.Lock] = field(default_factory=dict, init=False)  # one per account, on first use
    _locks_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def ensure_fresh(self, account: str) -> None:
        """Rebuild one account's index when it is older than the configured age."""
        with self._lock_of(account):
            refreshed_at = self.users.refreshed_at(account)
            if refreshed_at is not None and self.clock() - refreshed_at < self.ttl:
                return
            self._refresh(account)

    def refresh(self, account: str) -> int:
        """Read every user with its tags (one paginated call) and replace the account's rows, whatever their age."""
        with self._lock_of(account):
            return self._refresh(account)

    def fresh_users(self, account: str) -> list[OwnedUser]:
        """Every user as AWS says now: the index is read again first (one paginated GetAccountAuthorizationDetails).

        A scan judges policy findings (`admin-key`, `aws-quarantine`) on these, never on an index up to
        OWNERSHIP_TTL_MINUTES old: a quarantine policy AWS attached a minute ago must show in the next scan."""
        self.refresh(account)
        return self.users.of_account(account)

    def _lock_of(self, account: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(account, threading.Lock())

    def _refresh(self, account: str) -> int:
        users = [
            IndexedUser(u.name, u.arn, owner_in(u.tags, self.owner_tag), u.tags, u.access)
            for u in self.aws.account(account).user_details()
        ]
        self.users.replace(account, users, self.clock())
        return len(users)

    def owned_by(self, identities: set[str], *, fresh: bool = True) -> list[OwnedUser]:
        """Users whose owner tag equals one of the identities (Slack id or email, case-insensitive).

        `fresh=False`: as the index holds them, without asking AWS (the App Home, published within 3 s)."""
        wanted = {_normalise(i) for i in identities if i}
        for account in self.aws.list_aliases() if fresh else ():
            self.ensure_fresh(account)
        return self.users.owned_by(wanted)

    def get(self, account: str, name: str, *, fresh: bool = True) -> OwnedUser | None:
        """`fresh=False`: as the index holds it, without asking AWS."""
        if fresh:
            self.ensure_fresh(account)
        return self.users.get(account, name)

    def accounts_with_user(self, name: str) -> list[str]:
        for account in self.aws.list_aliases():
            self.ensure_fresh(account)
        return self.users.accounts_with(name)


def owner_slack_id(
    index: OwnershipIndex, directory: SlackDirectory, account: str | None, user: str | None
) -> str | None:
    """The Slack user an IAM user's owner tag names (email or Slack id), or None."""
    if not account or not user:
        return None
    owned = index.get(account, user)
    if owned is None or not owned.owner:
        return None
    tag = owned.owner.upper() if is_user_id(owned.owner.upper()) else owned.owner  # the index keeps it lower-case
    return directory.user_id_for(tag)


def owner_in(tags: dict[str, str], owner_tag: str) -> str | None:
    """The owner a user's tags name, as the index keeps it (trimmed, lower-case)."""
    return _normalise(tags.get(owner_tag))


def _normalise(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None
