"""EventBridge event ids from the events queue, each claimed before it is handled and kept 14 days after."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.models import AwsEventSeen

Claim = Literal["claimed", "done", "busy"]


class EventIds:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ping(self) -> None:
        """Raises when the database does not answer now."""
        self._db.ping()

    def claim(self, event_id: str, kind: str, now: datetime, claim_timeout: timedelta) -> Claim:
        """'claimed' (handle it now), 'done' (handled before) or 'busy' (being handled elsewhere); a claim older
        than `claim_timeout` was left by a crash and is taken over."""
        try:
            with self._db.session() as session:
                session.execute(
                    insert(AwsEventSeen).values(event_id=event_id, kind=kind, received_at=now, claimed_at=now)
                )
            return "claimed"
        except IntegrityError:
            pass
        with self._db.session() as session:
            row = session.get(AwsEventSeen, event_id)
            if row is not None and row.done_at is not None:
                return "done"
            taken = session.execute(
                update(AwsEventSeen)
                .where(
                    AwsEventSeen.event_id == event_id,
                    AwsEventSeen.done_at.is_(None),
                    or_(AwsEventSeen.claimed_at.is_(None), AwsEventSeen.claimed_at < now - claim_timeout),
                )
                .values(claimed_at=now)
                .returning(AwsEventSeen.event_id)
            ).first()
        return "claimed" if taken else "busy"

    def done(self, event_id: str, at: datetime) -> None:
        with self._db.session() as session:
            session.execute(update(AwsEventSeen).where(AwsEventSeen.event_id == event_id).values(done_at=at))

    def release(self, event_id: str) -> None:
        """Give up the claim on an event not handled yet, for a later try."""
        with self._db.session() as session:
            session.execute(
                update(AwsEventSeen)
                .where(AwsEventSeen.event_id == event_id, AwsEventSeen.done_at.is_(None))
                .values(claimed_at=None)
            )

    def forget_received_before(self, before: datetime) -> None:
        with self._db.session() as session:
            session.execute(delete(AwsEventSeen).where(AwsEventSeen.received_at < before))
