"""Reading requests: one by id or by its open target, and the lists the schedule and the App Home work through."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.domain.operations import Operation
from bot.domain.requests import MAKES_KEY, OPEN, Request, Status
from bot.store.models import KeyRequest
from bot.store.request_rows import RequestRows, snapshot


class RequestQueries(RequestRows):
    def get(self, request_id: str) -> Request | None:
        with self._db.session() as session:
            row = session.get(KeyRequest, request_id)
            return snapshot(row, self._approvers(session, request_id)) if row else None

    def find_open(self, target: str) -> Request | None:
        """The open request on `target` (see `open_target`), without its approvers."""
        with self._db.session() as session:
            row = session.scalar(select(KeyRequest).where(KeyRequest.open_target == target))
            return snapshot(row, ()) if row else None

    def pending(self, now: datetime) -> list[Request]:
        """Pending requests not yet expired, oldest first."""
        return self._select(
            select(KeyRequest)
            .where(KeyRequest.status == Status.PENDING.value, KeyRequest.expires_at > now)
            .order_by(KeyRequest.created_at)
        )

    def open_for(self, requester: str) -> list[Request]:
        return self._select(
            select(KeyRequest)
            .where(KeyRequest.requester == requester, KeyRequest.status.in_([s.value for s in OPEN]))
            .order_by(KeyRequest.created_at)
        )

    def keys_made_since(self, since: datetime) -> list[Request]:
        """`create` requests whose key was made since `since` (succeeded, with the new key's id), oldest first."""
        return self._select(
            select(KeyRequest)
            .where(
                KeyRequest.operation == Operation.CREATE.value,
                KeyRequest.status == Status.SUCCEEDED.value,
                KeyRequest.new_key_id.is_not(None),
                KeyRequest.updated_at >= since,
            )
            .order_by(KeyRequest.updated_at)
        )

    def due_to_expire(self, now: datetime, reveal_ttl: timedelta | None = None) -> list[Request]:
        """Pending requests past their expiry, and approved keys not revealed by their deadline. A key approved
        without a deadline (written by an older version, or lost in a crash) gets `reveal_ttl` from its decision."""
        pending = (KeyRequest.status == Status.PENDING.value) & (KeyRequest.expires_at <= now)
        unrevealed = (KeyRequest.status == Status.APPROVED.value) & (KeyRequest.reveal_expires_at <= now)
        if reveal_ttl is not None:
            decided = func.coalesce(KeyRequest.decided_at, KeyRequest.updated_at)
            unrevealed |= (
                (KeyRequest.status == Status.APPROVED.value)
                & KeyRequest.operation.in_([o.value for o in MAKES_KEY])
                & KeyRequest.reveal_expires_at.is_(None)
                & (decided <= now - reveal_ttl)
            )
        return self._select(select(KeyRequest).where(pending | unrevealed))

    def stale_approved(self, before: datetime, key_making: bool = False) -> list[Request]:
        """Approved before `before` and never run (a crash): requests that run without a Reveal, and with
        `key_making` also those that make a key (delivered without a Reveal, to Secrets Manager)."""
        query = select(KeyRequest).where(KeyRequest.status == Status.APPROVED.value, KeyRequest.updated_at <= before)
        if not key_making:
            query = query.where(KeyRequest.operation.not_in([o.value for o in MAKES_KEY]))
        return self._select(query)

    def stuck(self, before: datetime) -> list[Request]:
        return self._select(
            select(KeyRequest).where(KeyRequest.status == Status.EXECUTING.value, KeyRequest.updated_at <= before)
        )

    def unsynced(self, before: datetime) -> list[Request]:
        """Requests whose Slack messages do not yet show their status."""
        return self._select(
            select(KeyRequest).where(
                (KeyRequest.notified_status.is_(None)) | (KeyRequest.notified_status != KeyRequest.status),
                KeyRequest.status != Status.EXECUTING.value,
                KeyRequest.updated_at <= before,
            )
        )
