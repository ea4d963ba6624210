"""What Keywarden has seen of access keys: ids, owners and creation dates, kept between calls.

`check` uses it to explain a key that has since disappeared; the scan uses it to name the keys of a
flagged user without calling ListAccessKeys again when the report's creation dates match.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.domain.keys import AccessKey
from bot.domain.report import SeenKey
from bot.store.db import Database
from bot.store.models import KnownKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresentKey:
    """A key that was present on its user when last listed."""

    account: str
    iam_user: str
    key_id: str
    created: datetime | None


class KeyMemory:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def get(self, key_id: str) -> KnownKey | None:
        with self._db.session() as session:
            return session.get(KnownKey, key_id)

    def seen(self, account: str) -> dict[str, list[SeenKey]]:
        """{user: keys} of the account that were present when last listed and whose creation date is known."""
        with self._db.session() as session:
            rows = session.execute(
                select(KnownKey.iam_user, KnownKey.key_id, KnownKey.created).where(
                    KnownKey.account == account, KnownKey.gone.is_(False)
                )
            )
            seen: dict[str, list[SeenKey]] = defaultdict(list)
            for user, key_id, created in rows:
                if created is not None:
                    seen[user].append(SeenKey(key_id, created))
        return dict(seen)

    def present_on(self, users: Iterable[str]) -> list[PresentKey]:
        """The keys present when last listed on users of these names (in any account)."""
        names = set(users)
        if not names:
            return []
        with self._db.session() as session:
            rows = session.scalars(select(KnownKey).where(KnownKey.iam_user.in_(names), KnownKey.gone.is_(False)))
            return [PresentKey(k.account, k.iam_user, k.key_id, k.created) for k in rows]

    def remember(self, account: str, listed: Mapping[str, Iterable[AccessKey]]) -> None:
        """Record each user's keys as just listed; keys of those users that were not listed are gone."""
        if not listed:
            return
        now = self._clock()
        try:
            with self._db.session() as session:
                present = {key.key_id for keys in listed.values() for key in keys}
                # The rows of these users (to mark what is gone) and of these keys, in a few queries.
                known: dict[str, KnownKey] = {}
                for chunk in _chunks(list(listed)):
                    query = select(KnownKey).where(KnownKey.account == account, KnownKey.iam_user.in_(chunk))
                    known.update((k.key_id, k) for k in session.scalars(query))
                for chunk in _chunks(sorted(present - known.keys())):
                    known.update(
                        (k.key_id, k) for k in session.scalars(select(KnownKey).where(KnownKey.key_id.in_(chunk)))
                    )
                for user, keys in listed.items():
                    for key in keys:
                        row = known.get(key.key_id)
                        if row is None:
                            session.add(
                                KnownKey(
                                    key_id=key.key_id,
                                    account=account,
                                    iam_user=user,
                                    created=key.created,
                                    first_seen=now,
                                    last_seen=now,
                                )
                            )
                        else:
                            row.last_seen, row.gone, row.created = now, False, key.created
                for key_id, row in known.items():
                    if key_id not in present:  # only rows of the listed users can be missing
                        row.gone = True
        except IntegrityError:
            log.debug("concurrent sighting of keys in %s; the other writer's rows stand", account)

    def note_created(self, account: str, user: str, key_id: str, created: datetime | None) -> None:
        """A key created outside Keywarden (CloudTrail), remembered before the next scan lists it."""
        now = self._clock()
        try:
            with self._db.session() as session:
                row = session.get(KnownKey, key_id)
                if row is None:
                    session.add(
                        KnownKey(
                            key_id=key_id,
                            account=account,
                            iam_user=user,
                            created=created,
                            first_seen=now,
                            last_seen=now,
                        )
                    )
                else:
                    row.last_seen, row.gone = now, False
        except IntegrityError:
            log.debug("concurrent sighting of key %s; the other writer's row stands", key_id)

    def note_gone(self, key_id: str) -> None:
        """A key deleted outside Keywarden (CloudTrail)."""
        with self._db.session() as session:
            row = session.get(KnownKey, key_id)
            if row is not None:
                row.gone, row.last_seen = True, self._clock()


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices short enough for an IN list on every database."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
