"""Rotation rows in the database. Every state change is one conditional UPDATE, audited in the same transaction.

A move needs the row in its expected state (`WHERE id = :id AND state = :expected`) and, through its guard
column, unchanged since it was read: a step that stays in its state (a reminder, a daily check) is taken
once too, and a decision made on a stale read is dropped.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.operations import Operation
from bot.domain.requests import Status
from bot.domain.rotation import CANCELLABLE, CLAIMS, FINAL, SCHEDULED, Rotation, RotationState, check_transition
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.models import KeyRequest, RotationRow

_COLUMNS = [f.name for f in fields(Rotation)]
_IN_PROGRESS = RotationRow.state.not_in([s.value for s in FINAL])


class RotationStore:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def add(self, rotation: Rotation, detail: str) -> bool:
        """Store a new rotation with its `rotation_started` event; False when it was stored already."""
        values = {name: getattr(rotation, name) for name in _COLUMNS} | {"state": rotation.state.value}
        row = RotationRow(**values)
        try:
            with self._db.session() as session:
                session.add(row)
                session.flush()
                self._record(session, SYSTEM, "rotation_started", _snapshot(row), detail)
        except IntegrityError:
            return False
        return True

    # Reading
    def get(self, rotation_id: str) -> Rotation | None:
        with self._db.session() as session:
            row = session.get(RotationRow, rotation_id)
            return _snapshot(row) if row else None

    def open_for(self, owner: str) -> list[Rotation]:
        """The rotations in progress that this Slack user owns, oldest first."""
        return self._select(
            select(RotationRow).where(RotationRow.owner == owner, _IN_PROGRESS).order_by(RotationRow.created_at)
        )

    def in_progress(self) -> list[Rotation]:
        """Every rotation in progress (at most one per IAM user), oldest first."""
        return self._select(select(RotationRow).where(_IN_PROGRESS).order_by(RotationRow.created_at))

    def in_progress_for_key(self, key_id: str) -> Rotation | None:
        """The latest rotation in progress that replaces this key or introduced it, if any."""
        found = self._select(
            select(RotationRow)
            .where((RotationRow.old_key_id == key_id) | (RotationRow.new_key_id == key_id), _IN_PROGRESS)
            .order_by(RotationRow.created_at.desc())
            .limit(1)
        )
        return found[0] if found else None

    def last_replacing(self, key_id: str) -> Rotation | None:
        """The latest rotation, in any state, that replaced this key (its old key), if any."""
        found = self._select(
            select(RotationRow).where(RotationRow.old_key_id == key_id).order_by(RotationRow.created_at.desc()).limit(1)
        )
        return found[0] if found else None

    def in_progress_for_user(self, account: str, iam_user: str) -> Rotation | None:
        found = self._select(
            select(RotationRow)
            .where(RotationRow.account == account, RotationRow.iam_user == iam_user, _IN_PROGRESS)
            .limit(1)
        )
        return found[0] if found else None

    def due(self, now: datetime) -> list[Rotation]:
        """Scheduled rotations whose next check has come."""
        return self._select(
            select(RotationRow).where(
                RotationRow.state.in_([s.value for s in SCHEDULED]), RotationRow.next_check_at <= now
            )
        )

    def claims_left_since(self, before: datetime) -> list[Rotation]:
        """Claims (an AWS step under way) not touched since `before`: left by a crash."""
        return self._select(
            select(RotationRow).where(
                RotationRow.state.in_([s.value for s in CLAIMS]), RotationRow.updated_at <= before
            )
        )

    def cancellable_with_old_key(self, account: str, key_id: str) -> list[Rotation]:
        """The rotations replacing this key that a deactivation by someone else ends."""
        return self._select(
            select(RotationRow).where(
                RotationRow.account == account,
                RotationRow.old_key_id == key_id,
                RotationRow.state.in_([s.value for s in CANCELLABLE]),
            )
        )

    def revealed_without_rotation(self) -> list[str]:
        """The ids of rotate requests whose new key was revealed but whose rotation was never stored (a crash)."""
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(KeyRequest.id)
                    .outerjoin(RotationRow, RotationRow.id == KeyRequest.id)
                    .where(
                        KeyRequest.operation == Operation.ROTATE.value,
                        KeyRequest.status == Status.SUCCEEDED.value,
                        KeyRequest.new_key_id.is_not(None),
                        KeyRequest.key_id.is_not(None),
                        RotationRow.id.is_(None),
                    )
                )
            )

    # Writing
    def move(
        self,
        r: Rotation,
        expected: RotationState,
        new: RotationState,
        *,
        action: str,
        actor: str = SYSTEM,
        outcome: str = "ok",
        detail: str = "",
        guard: str | None = "next_check_at",
        **values: Any,
    ) -> Rotation | None:
        """Move `r` from `expected` to `new` atomically, also setting `values`; None when someone else moved it
        first. With `guard`, that column must still hold what `r` read; a final state ends the schedule."""
        check_transition(expected, new)
        now = self._clock()
        values |= {"state": new.value, "updated_at": now}
        if new in FINAL:
            values["next_check_at"] = now
        query = update(RotationRow).where(RotationRow.id == r.id, RotationRow.state == expected.value)
        if guard:
            query = query.where(getattr(RotationRow, guard) == getattr(r, guard))
        with self._db.session() as session:
            won = session.execute(query.values(**values).returning(RotationRow.id)).first()
            if won is None:
                return None
            row = session.get(RotationRow, r.id, populate_existing=True)
            assert row is not None
            moved = _snapshot(row)
            self._record(session, actor, action, moved, detail, outcome)
        return moved

    def reschedule(self, r: Rotation, next_check_at: datetime, **values: Any) -> None:
        """Only the next check moves (no step was taken, so nothing is audited)."""
        with self._db.session() as session:
            session.execute(
                update(RotationRow)
                .where(
                    RotationRow.id == r.id,
                    RotationRow.state == r.state.value,
                    RotationRow.next_check_at == r.next_check_at,
                )
                .values(next_check_at=next_check_at, **values)
            )

    def _record(
        self, session: Session, actor: str, action: str, r: Rotation, detail: str = "", outcome: str = "ok"
    ) -> None:
        self._audit.record(
            session,
            actor,
            action,
            outcome=outcome,
            request_id=r.id,
            account=r.account,
            iam_user=r.iam_user,
            key_id=r.old_key_id,
            detail=detail,
        )

    def _select(self, query: Any) -> list[Rotation]:
        with self._db.session() as session:
            return [_snapshot(row) for row in session.scalars(query)]


def _snapshot(row: RotationRow) -> Rotation:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["state"] = RotationState(values["state"])
    return Rotation(**values)
