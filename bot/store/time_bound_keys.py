"""Time-bound keys in the database. A key's row is written in the transaction that records its creation (so a key
that exists always has its end); every later step is one conditional UPDATE, audited in the same transaction.

A move needs the row in its expected state and its `next_at` unchanged since it was read: of two runners (the
clock process and a cron `housekeeping`) that read the same row, one moves it and the other gets None.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.domain.time_bound import FINAL, KeyEnd, TimeBoundKey, check_transition, due_at, plan
from bot.store.audit import SYSTEM, AuditLog
from bot.store.models import KeyRequest
from bot.store.staged_rows import StagedRows
from bot.store.time_bound_models import TimeBoundKeyRow

_COLUMNS = [f.name for f in fields(TimeBoundKey)]
PREFIX = "time_bound_"  # audit actions: time_bound_<state>, and time_bound_retry


def start(session: Session, audit: AuditLog, row: KeyRequest, now: datetime) -> None:
    """In the caller's transaction: the end of the key `row` (a request whose key was just created) now has."""
    assert row.valid_for_hours and row.new_key_id
    dates = plan(now, row.valid_for_hours)
    row.key_ends_at = dates.ends_at
    session.add(
        TimeBoundKeyRow(
            request_id=row.id,
            account=row.account,
            iam_user=row.iam_user,
            key_id=row.new_key_id,
            owner=row.requester,
            state=KeyEnd.ACTIVE.value,
            created_at=now,
            updated_at=now,
            ends_at=dates.ends_at,
            warn_at=dates.warn_at,
            next_at=dates.warn_at,
        )
    )
    session.flush()
    audit.record(
        session,
        SYSTEM,
        PREFIX + "started",
        request_id=row.id,
        account=row.account,
        iam_user=row.iam_user,
        key_id=row.new_key_id,
        detail=f"switched off at {dates.ends_at:%Y-%m-%d %H:%M} UTC ({row.valid_for_hours} h), deleted a day later",
    )


class TimeBoundKeys(StagedRows[TimeBoundKey, KeyEnd]):
    """Time-bound keys' rows; `move` (StagedRows) checks the transition, and a moved row's `next_at` follows its new
    state (audited as `time_bound_<new>` unless told otherwise)."""

    _row = TimeBoundKeyRow
    _final = [s.value for s in FINAL]
    _prefix = PREFIX

    def _snapshot(self, row: TimeBoundKeyRow) -> TimeBoundKey:
        return _snapshot(row)

    def _check(self, expected: KeyEnd, new: KeyEnd) -> None:
        check_transition(expected, new)

    def _next_at(self, current: TimeBoundKey, new: KeyEnd, values: dict[str, Any], now: datetime) -> datetime:
        return now if new in FINAL else due_at(replace(current, state=new, **values))


def _snapshot(row: TimeBoundKeyRow) -> TimeBoundKey:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["state"] = KeyEnd(values["state"])
    return TimeBoundKey(**values)
