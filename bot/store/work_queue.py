"""The work after an ack, kept in the bot's own database until it is done.

An item is recorded before the ack goes back to Slack, held by the process doing it under a lease it renews,
and deleted when done. When the lease runs out (the process died), any process claims it with one conditional
UPDATE, so of several claiming at once exactly one gets it.

Every statement here is one that commits on its own (`Database.statements()`): the ack path's INSERT is one round
trip on PostgreSQL, and on SQLite it goes to the queue's own file, never waiting for the bot's other writes
(bot/store/sqlite.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from bot.store.db import Database
from bot.store.models import WorkItem

# Slack's response_url accepts answers for 30 minutes: work older than that can no longer be answered.
EXPIRES_AFTER = timedelta(minutes=30)
# Built once: the ack path's INSERT then costs SQLAlchemy no statement building and one cache look-up.
_INSERT = insert(WorkItem)
_DELETE = delete(WorkItem).where(WorkItem.id == bindparam("item_id"))


@dataclass(frozen=True)
class Claimed:
    id: int
    request_id: str
    kind: str
    function: str
    body: dict[str, Any]
    found: list[str] | None
    created_at: datetime
    expires_at: datetime
    attempts: int


@dataclass(frozen=True)
class Depth:
    items: int
    oldest_seconds: float | None  # None when empty

    def as_health(self) -> dict[str, Any]:
        oldest = None if self.oldest_seconds is None else round(self.oldest_seconds, 1)
        return {"depth": self.items, "oldest_seconds": oldest}


class WorkQueue:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        *,
        request_id: str,
        kind: str,
        function: str,
        body: dict[str, Any],
        found: Sequence[str] | None,
        owner: str | None,
        lease: timedelta,
    ) -> int:
        """Keep one item; held by `owner` for `lease`, or free for any process to claim at once (owner None)."""
        now = self._clock()
        values = {
            "request_id": request_id[:32],
            "kind": kind[:32],
            "function": function[:100],
            "body": json.dumps(body, separators=(",", ":")),
            "found": list(found) if found is not None else None,
            "created_at": now,
            "expires_at": now + EXPIRES_AFTER,
            "owner": owner,
            "lease_until": now + lease if owner else now,
            "attempts": 1 if owner else 0,
        }
        # In the ack path: one statement that commits on its own (no BEGIN, no COMMIT, no unit of work around it).
        for attempt in (1, 2):
            try:
                with self._db.statements() as conn:
                    key = conn.execute(_INSERT, values).inserted_primary_key
                break
            except DBAPIError as e:  # a connection the server closed (it restarted): once more, on a new one
                if attempt == 2 or not e.connection_invalidated:
                    raise
        assert key is not None  # one row inserted: its id
        return int(key[0])

    def finish(self, item_id: int) -> None:
        with self._db.statements() as conn:
            conn.execute(_DELETE, {"item_id": item_id})

    def claim(self, owner: str, lease: timedelta, limit: int) -> list[Claimed]:
        """Up to `limit` items whose lease ran out (or that nobody held), now held by `owner`, oldest first."""
        now = self._clock()
        claimed = []
        with self._db.statements() as conn:
            candidates = conn.scalars(
                select(WorkItem.id).where(WorkItem.lease_until <= now).order_by(WorkItem.id).limit(limit)
            ).all()
            for item_id in candidates:  # one UPDATE per item, each its own commit: a lost race costs only that item
                row = conn.execute(
                    update(WorkItem)
                    .where(WorkItem.id == item_id, WorkItem.lease_until <= now)
                    .values(owner=owner, lease_until=now + lease, attempts=WorkItem.attempts + 1)
                    .returning(*WorkItem.__table__.columns)
                ).one_or_none()
                if row is not None:
                    claimed.append(_claimed(row))
        return claimed

    def renew(self, owner: str, lease: timedelta) -> None:
        """Extend the lease of every item `owner` holds (the process is alive and still working on them)."""
        with self._db.statements() as conn:
            conn.execute(update(WorkItem).where(WorkItem.owner == owner).values(lease_until=self._clock() + lease))

    def release(self, owner: str) -> int:
        """Hand every item `owner` still holds to whoever claims next (a process shutting down); how many."""
        with self._db.statements() as conn:
            result = conn.execute(
                update(WorkItem).where(WorkItem.owner == owner).values(owner=None, lease_until=self._clock())
            )
            return int(result.rowcount or 0)

    def sync(self) -> None:
        """Put what was recorded on the disk now, where commits do not wait for it (SQLite's queue file)."""
        self._db.sync_statements()

    def depth(self) -> Depth:
        with self._db.statements() as conn:
            count, oldest = conn.execute(select(func.count(), func.min(WorkItem.created_at))).one()
        if oldest is None:
            return Depth(int(count), None)
        if oldest.tzinfo is None:  # min() bypasses the column type on some dialects
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        return Depth(int(count), max(0.0, (self._clock() - oldest).total_seconds()))


def _claimed(row: Row[Any]) -> Claimed:
    return Claimed(
        id=row.id,
        request_id=row.request_id,
        kind=row.kind,
        function=row.function,
        body=json.loads(row.body),
        found=row.found,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
    )
