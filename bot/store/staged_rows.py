"""Rows that walk through stages, one conditional UPDATE a step, audited in the same transaction (time-bound keys,
retirements). A move needs the row in its expected stage and its `next_at` unchanged since it was read: of two
runners that read the same row, one moves it and the other gets None.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select, update

from bot.clock import Clock
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database


class Staged(Protocol):
    @property
    def request_id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def iam_user(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def next_at(self) -> datetime: ...


S = TypeVar("S", bound=Staged)
E = TypeVar("E", bound=StrEnum)


class StagedRows(Generic[S, E]):
    """The reading and the conditional move both tables share; a subclass names its ORM class (`_row`), the states
    that end a row (`_final`), its audit actions' prefix (`_prefix`), how a row becomes its snapshot (`_snapshot`),
    which moves are allowed (`_check`) and when a moved row is next due (`_next_at`)."""

    _row: Any
    _final: Iterable[str]
    _prefix: str

    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def _snapshot(self, row: Any) -> S:
        raise NotImplementedError

    def _check(self, expected: E, new: E) -> None:
        raise NotImplementedError

    def _next_at(self, current: S, new: E, values: dict[str, Any], now: datetime) -> datetime:
        raise NotImplementedError

    # Reading
    def get(self, request_id: str) -> S | None:
        with self._db.session() as session:
            row = session.get(self._row, request_id)
            return self._snapshot(row) if row else None

    def due(self, now: datetime) -> list[S]:
        """The rows whose next step (or a claim's timeout) has come, soonest first."""
        return self._select(select(self._row).where(self._open(), self._row.next_at <= now).order_by(self._row.next_at))

    def of_keys(self, key_ids: Iterable[str]) -> dict[str, S]:
        """The rows among `key_ids` that have not ended yet, by key id."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        return {s.key_id: s for s in self._select(select(self._row).where(self._row.key_id.in_(wanted), self._open()))}

    def _open(self) -> Any:
        return self._row.state.not_in(list(self._final))

    def _select(self, query: Any) -> list[S]:
        with self._db.session() as session:
            return [self._snapshot(row) for row in session.scalars(query)]

    # Writing
    def move(
        self,
        current: S,
        expected: E,
        new: E,
        *,
        action: str | None = None,
        outcome: str = "ok",
        detail: str = "",
        audit: bool = True,
        **values: Any,
    ) -> S | None:
        """Move `current` from `expected` to `new` (also setting `values`), audited as `<prefix><new>` unless
        `action` says otherwise (or not at all: `audit` False); None when another runner moved it first. `next_at`
        follows the new state unless given."""
        self._check(expected, new)
        now = self._clock()
        values |= {"updated_at": now}
        if "next_at" not in values:
            values["next_at"] = self._next_at(current, new, values, now)
        query = (
            update(self._row)
            .where(
                self._row.request_id == current.request_id,
                self._row.state == expected.value,
                self._row.next_at == current.next_at,
            )
            .values(state=new.value, **values)
            .returning(self._row.request_id)
        )
        with self._db.session() as session:
            if session.execute(query).first() is None:
                return None
            row = session.get(self._row, current.request_id, populate_existing=True)
            assert row is not None
            moved = self._snapshot(row)
            if audit:
                self._audit.record(
                    session,
                    SYSTEM,
                    action or self._prefix + new.value,
                    outcome=outcome,
                    request_id=moved.request_id,
                    account=moved.account,
                    iam_user=moved.iam_user,
                    key_id=moved.key_id,
                    detail=detail,
                )
        return moved
