"""Deliveries in the database: for each location of a delivered rotation, the key id written there last and how it
went, each change audited in the same transaction (by place, never the value); and the delivered rotations whose
time has come. The rotation rows themselves move through bot/store/rotations.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select

from bot.clock import Clock
from bot.domain.delivered import Delivery, Held
from bot.domain.rotation import DELIVERY_CLAIMS, Rotation, RotationState
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.delivery_models import LocationDeliveryRow
from bot.store.models import RotationRow
from bot.store.rotations import RotationStore

S = RotationState
_WAITING = (S.DELIVERY_FAILED.value, S.DELIVERED.value)


class Deliveries:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog, rotations: RotationStore) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._rotations = rotations

    # Reading
    def of(self, rotation_id: str) -> list[Delivery]:
        """Every location of a rotation that was tried, in the file's order."""
        with self._db.session() as session:
            rows = session.scalars(
                select(LocationDeliveryRow)
                .where(LocationDeliveryRow.rotation_id == rotation_id)
                .order_by(LocationDeliveryRow.position)
            )
            return [_snapshot(row) for row in rows]

    def due(self, now: datetime) -> list[Rotation]:
        """Delivered rotations waiting (a refused delivery to try again, a cut-over to check) whose time has come."""
        return self._rotations_where(RotationRow.state.in_(_WAITING), RotationRow.next_check_at <= now)

    def claims_left_since(self, before: datetime) -> list[Rotation]:
        """Delivered rotations whose claim (delivering, switching off, discarding) nobody touched since `before`."""
        claims = [s.value for s in DELIVERY_CLAIMS]
        return self._rotations_where(RotationRow.state.in_(claims), RotationRow.updated_at <= before)

    def _rotations_where(self, *conditions: ColumnElement[bool]) -> list[Rotation]:
        with self._db.session() as session:
            ids = list(session.scalars(select(RotationRow.id).where(*conditions).order_by(RotationRow.next_check_at)))
        return [r for r in map(self._rotations.get, ids) if r is not None]

    # Writing
    def record(
        self,
        r: Rotation,
        position: int,
        place: str,
        key_id: str,
        held: Held,
        *,
        error: str | None = None,
        transient: bool = False,
    ) -> Delivery:
        """What one location holds now, with its audit event: `key_delivered` (the place, the key id, whether it was
        read back) or `key_delivery_failed` (the place and why)."""
        now = self._clock()
        with self._db.session() as session:
            row = session.get(LocationDeliveryRow, (r.id, position))
            if row is None:
                row = LocationDeliveryRow(rotation_id=r.id, position=position, attempts=0)
                session.add(row)
            failed = held is Held.FAILED
            row.place = place[:300]
            row.held = held.value
            row.error = error
            row.transient = transient
            row.updated_at = now
            row.attempts = (row.attempts or 0) + 1 if failed else 0
            if not failed:
                row.key_id = key_id  # a failed write leaves whatever the place held before
            session.flush()
            if failed:
                detail = f"{place}: {key_id} not delivered: {error}"
            elif held is Held.VERIFIED:
                detail = f"{place}: {key_id} written and read back"
            else:
                detail = f"{place}: {key_id} written (this place cannot be read back)"
            self._audit.record(
                session,
                SYSTEM,
                "key_delivery_failed" if failed else "key_delivered",
                outcome="failed" if failed else "ok",
                request_id=r.id,
                account=r.account,
                iam_user=r.iam_user,
                key_id=key_id,
                detail=detail,
            )
            return _snapshot(row)


def _snapshot(row: LocationDeliveryRow) -> Delivery:
    return Delivery(
        rotation_id=row.rotation_id,
        position=row.position,
        place=row.place,
        key_id=row.key_id,
        held=Held(row.held),
        attempts=row.attempts,
        error=row.error,
        transient=row.transient,
        updated_at=row.updated_at,
    )
