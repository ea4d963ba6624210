"""Retirements in the database. A row is made for each approved `retire` (`adopt`: an approved request without
one, so a crash between the approval and the row loses nothing); every later step is one conditional UPDATE,
audited in the same transaction. A move needs the row in its expected stage and its `next_at` unchanged since it was
read: of two runners that read the same row, one moves it and the other gets None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.domain.audit_events import RETIREMENT_PREFIX
from bot.domain.retirement import FINAL, Retirement, Stage, check_stage_move
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.models import KeyRequest
from bot.store.workload_models import KeyWorkloadRow, RetirementRow

_COLUMNS = [f.name for f in fields(Retirement)]
_OPEN = RetirementRow.state.not_in([s.value for s in FINAL])
PREFIX = RETIREMENT_PREFIX  # audit actions: retirement_<stage> and retirement_waiting (retirement.stage_changed)
RETIRE = "retire"
SUCCEEDED = "succeeded"

RoleOf = Callable[[str, str | None], tuple[str, bool]]  # (IAM user, kind profiled) -> (role name, permission set?)


class Retirements:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    # Reading
    def get(self, request_id: str) -> Retirement | None:
        with self._db.session() as session:
            row = session.get(RetirementRow, request_id)
            return _snapshot(row) if row else None

    def due(self, now: datetime) -> list[Retirement]:
        return self._select(
            select(RetirementRow).where(_OPEN, RetirementRow.next_at <= now).order_by(RetirementRow.next_at)
        )

    def of_keys(self, key_ids: Iterable[str]) -> dict[str, Retirement]:
        """The retirements under way among `key_ids`, by key id."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        return {r.key_id: r for r in self._select(select(RetirementRow).where(RetirementRow.key_id.in_(wanted), _OPEN))}

    def count_in(self, stage: Stage) -> int:
        with self._db.session() as session:
            return len(
                session.scalars(select(RetirementRow.request_id).where(RetirementRow.state == stage.value)).all()
            )

    # Writing
    def adopt(self, role_of: RoleOf) -> list[Retirement]:
        """A row, watching, for every approved `retire` that has none; the role is the one its requester named
        (`--role`), else the one `replace` suggested for the key (or, never profiled, the one it would suggest)."""
        now = self._clock()
        made: list[Retirement] = []
        with self._db.session() as session:
            known = select(RetirementRow.request_id)
            requests = session.scalars(
                select(KeyRequest).where(
                    KeyRequest.operation == RETIRE, KeyRequest.status == SUCCEEDED, KeyRequest.id.not_in(known)
                )
            ).all()
            for request in requests:
                assert request.key_id is not None
                if request.retire_role:  # named with `retire --role`
                    name, permission_set = request.retire_role, False
                else:
                    profiled = session.get(KeyWorkloadRow, request.key_id)
                    name, permission_set = role_of(request.iam_user, profiled.kind if profiled else None)
                row = RetirementRow(
                    request_id=request.id,
                    account=request.account,
                    iam_user=request.iam_user,
                    key_id=request.key_id,
                    owner=request.requester,
                    role_name=name,
                    permission_set=permission_set,
                    state=Stage.WATCHING.value,
                    created_at=now,
                    updated_at=now,
                    next_at=now,
                )
                try:
                    with session.begin_nested():  # another runner may adopt it at the same moment: one row wins
                        session.add(row)
                except IntegrityError:
                    continue
                what = "permission set" if permission_set else "role"
                self._audit.record(
                    session,
                    SYSTEM,
                    PREFIX + Stage.WATCHING.value,
                    request_id=request.id,
                    account=request.account,
                    iam_user=request.iam_user,
                    key_id=request.key_id,
                    detail=f"watching the {what} {name} and the key",
                )
                made.append(_snapshot(row))
        return made

    def move(
        self,
        r: Retirement,
        expected: Stage,
        new: Stage,
        *,
        action: str | None = None,
        outcome: str = "ok",
        detail: str = "",
        audit: bool = True,
        **values: Any,
    ) -> Retirement | None:
        """Move `r` from `expected` to `new` (also setting `values`); None when another runner moved it first."""
        check_stage_move(expected, new)
        now = self._clock()
        values |= {"updated_at": now}
        values.setdefault("next_at", now)
        query = (
            update(RetirementRow)
            .where(
                RetirementRow.request_id == r.request_id,
                RetirementRow.state == expected.value,
                RetirementRow.next_at == r.next_at,
            )
            .values(state=new.value, **values)
            .returning(RetirementRow.request_id)
        )
        with self._db.session() as session:
            if session.execute(query).first() is None:
                return None
            row = session.get(RetirementRow, r.request_id, populate_existing=True)
            assert row is not None
            moved = _snapshot(row)
            if audit:
                self._audit.record(
                    session,
                    SYSTEM,
                    action or PREFIX + new.value,
                    outcome=outcome,
                    request_id=moved.request_id,
                    account=moved.account,
                    iam_user=moved.iam_user,
                    key_id=moved.key_id,
                    detail=detail,
                )
        return moved

    def _select(self, query: Any) -> list[Retirement]:
        with self._db.session() as session:
            return [_snapshot(row) for row in session.scalars(query)]


def _snapshot(row: RetirementRow) -> Retirement:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["state"] = Stage(values["state"])
    return Retirement(**values)
