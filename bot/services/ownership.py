"""The ownership index: which IAM users exist in which account, who owns them (IAM tag), and which Slack user
that owner is."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select

from bot.aws import AwsGateway
from bot.clock import Clock
from bot.domain.privilege import UserAccess
from bot.slack.client import SlackDirectory
from bot.store.db import Database
from bot.store.models import AccountIndex, IamUserRecord

EXEMPT_TAG = "keywarden:exempt"
EXEMPT_REASON_TAG = "keywarden:exempt-reason"
# The user's policy facts ride in the tags column under a key no IAM tag can have (`#` is not allowed
# in tag keys), so the index needs no schema change; they never show up as a tag.
_ACCESS_KEY = "#access"
_LOWER_SLACK_ID = re.compile(r"^[uw][a-z0-9]{2,}$")


@dataclass(frozen=True)
class OwnedUser:
    account: str
    name: str
    owner: str | None
    tags: dict[str, str]
    access: UserAccess | None = None  # groups, directly attached policies, administrator power

    @property
    def exempt(self) -> bool:
        return self.tags.get(EXEMPT_TAG, "").lower() == "true"


class OwnershipIndex:
    def __init__(self, db: Database, aws: AwsGateway, clock: Clock, owner_tag: str, ttl_minutes: int) -> None:
        self._db = db
        self._aws = aws
        self._clock = clock
        self._owner_tag = owner_tag
        self._ttl = timedelta(minutes=ttl_minutes)
        self._locks: dict[str, threading.Lock] = {}  # one per account, made on first use (accounts come and go)
        self._locks_lock = threading.Lock()

    def ensure_fresh(self, account: str) -> None:
        """Rebuild one account's index when it is older than the configured age."""
        with self._lock_of(account):
            with self._db.session() as session:
                row = session.get(AccountIndex, account)
                if row is not None and self._clock() - row.refreshed_at < self._ttl:
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
        return self._rows(account)

    def _lock_of(self, account: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(account, threading.Lock())

    def _refresh(self, account: str) -> int:
        users = list(self._aws.account(account).user_details())
        now = self._clock()
        with self._db.session() as session:
            session.execute(delete(IamUserRecord).where(IamUserRecord.account == account))
            if users:  # one executemany, not an ORM object per user
                session.execute(
                    insert(IamUserRecord),
                    [
                        {
                            "account": account,
                            "name": u.name,
                            "arn": u.arn,
                            "owner": owner_in(u.tags, self._owner_tag),
                            "tags": _pack(u.tags, u.access),
                            "refreshed_at": now,
                        }
                        for u in users
                    ],
                )
            index = session.get(AccountIndex, account) or AccountIndex(account=account)
            index.refreshed_at = now
            index.user_count = len(users)
            session.add(index)
        return len(users)

    def owned_by(self, identities: set[str], *, fresh: bool = True) -> list[OwnedUser]:
        """Users whose owner tag equals one of the identities (Slack id or email, case-insensitive).

        `fresh=False`: as the index holds them, without asking AWS (the App Home, published within 3 s)."""
        wanted = {_normalise(i) for i in identities if i}
        for account in self._aws.aliases if fresh else ():
            self.ensure_fresh(account)
        with self._db.session() as session:
            rows = session.scalars(
                select(IamUserRecord)
                .where(IamUserRecord.owner.in_(wanted))
                .order_by(IamUserRecord.account, IamUserRecord.name)
            )
            return [_owned(r) for r in rows]

    def get(self, account: str, name: str, *, fresh: bool = True) -> OwnedUser | None:
        """`fresh=False`: as the index holds it, without asking AWS."""
        if fresh:
            self.ensure_fresh(account)
        with self._db.session() as session:
            row = session.get(IamUserRecord, (account, name))
            return _owned(row) if row else None

    def accounts_with_user(self, name: str) -> list[str]:
        for account in self._aws.aliases:
            self.ensure_fresh(account)
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(IamUserRecord.account).where(IamUserRecord.name == name).order_by(IamUserRecord.account)
                )
            )

    def _rows(self, account: str) -> list[OwnedUser]:
        columns = (IamUserRecord.account, IamUserRecord.name, IamUserRecord.owner, IamUserRecord.tags)
        with self._db.session() as session:  # plain rows: a scan reads thousands, ORM objects cost 10x more
            rows = session.execute(select(*columns).where(IamUserRecord.account == account))
            return [OwnedUser(a, name, owner, *_unpack(tags)) for a, name, owner, tags in rows]


def owner_slack_id(
    index: OwnershipIndex, directory: SlackDirectory, account: str | None, user: str | None
) -> str | None:
    """The Slack user an IAM user's owner tag names (email or Slack id), or None."""
    if not account or not user:
        return None
    owned = index.get(account, user)
    if owned is None or not owned.owner:
        return None
    tag = owned.owner.upper() if _LOWER_SLACK_ID.match(owned.owner) else owned.owner  # the index keeps it lower-case
    return directory.user_id_for(tag)


def owner_in(tags: dict[str, str], owner_tag: str) -> str | None:
    """The owner a user's tags name, as the index keeps it (trimmed, lower-case)."""
    return _normalise(tags.get(owner_tag))


def _normalise(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def _pack(tags: dict[str, str], access: UserAccess | None) -> dict:
    return {**tags, _ACCESS_KEY: access.to_json()} if access is not None else dict(tags)


def _unpack(stored: dict | None) -> tuple[dict[str, str], UserAccess | None]:
    tags = dict(stored or {})
    return tags, UserAccess.from_json(tags.pop(_ACCESS_KEY, None))


def _owned(row: IamUserRecord) -> OwnedUser:
    return OwnedUser(row.account, row.name, row.owner, *_unpack(row.tags))
