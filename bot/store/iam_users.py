"""The ownership index's rows: the IAM users of each account with their tags, and when each account was read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from bot.domain.privilege import UserAccess
from bot.store.db import Database
from bot.store.models import AccountIndex, IamUserRecord

EXEMPT_TAG = "keywarden:exempt"
# The user's policy facts ride in the tags column under a key no IAM tag can have (`#` is not allowed
# in tag keys), so the index needs no schema change; they never show up as a tag.
_ACCESS_KEY = "#access"


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


@dataclass(frozen=True)
class IndexedUser:
    """One user as read from AWS, with the owner its tag names (as the index keeps it)."""

    name: str
    arn: str
    owner: str | None
    tags: dict[str, str]
    access: UserAccess | None


class IamUsers:
    def __init__(self, db: Database) -> None:
        self._db = db

    def refreshed_at(self, account: str) -> datetime | None:
        with self._db.session() as session:
            row = session.get(AccountIndex, account)
            return row.refreshed_at if row is not None else None

    def replace(self, account: str, users: Sequence[IndexedUser], now: datetime) -> None:
        """The account's users are exactly these now."""
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
                            "owner": u.owner,
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

    def owned_by(self, owners: set[str | None]) -> list[OwnedUser]:
        with self._db.session() as session:
            rows = session.scalars(
                select(IamUserRecord)
                .where(IamUserRecord.owner.in_(owners))
                .order_by(IamUserRecord.account, IamUserRecord.name)
            )
            return [_owned(r) for r in rows]

    def get(self, account: str, name: str) -> OwnedUser | None:
        with self._db.session() as session:
            row = session.get(IamUserRecord, (account, name))
            return _owned(row) if row else None

    def accounts_with(self, name: str) -> list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(IamUserRecord.account).where(IamUserRecord.name == name).order_by(IamUserRecord.account)
                )
            )

    def of_account(self, account: str) -> list[OwnedUser]:
        columns = (IamUserRecord.account, IamUserRecord.name, IamUserRecord.owner, IamUserRecord.tags)
        with self._db.session() as session:  # plain rows: a scan reads thousands, ORM objects cost 10x more
            rows = session.execute(select(*columns).where(IamUserRecord.account == account))
            return [OwnedUser(a, name, owner, *_unpack(tags)) for a, name, owner, tags in rows]


def _pack(tags: dict[str, str], access: UserAccess | None) -> dict:
    return {**tags, _ACCESS_KEY: access.to_json()} if access is not None else dict(tags)


def _unpack(stored: dict | None) -> tuple[dict[str, str], UserAccess | None]:
    tags = dict(stored or {})
    return tags, UserAccess.from_json(tags.pop(_ACCESS_KEY, None))


def _owned(row: IamUserRecord) -> OwnedUser:
    return OwnedUser(row.account, row.name, row.owner, *_unpack(row.tags))
