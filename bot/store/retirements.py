"""Retirements in the database. A row is made for each approved `retire` (`adopt`: an approved request without
one, so a crash between the approval and the row loses nothing); every later step is one conditional UPDATE,
audited in the same transaction. A move needs the row in its expected stage and its `next_at` unchanged since it was
read: of two runners that read the same row, one moves it and the other gets None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.domain.audit_events import RETIREMENT_PREFIX
from bot.domain.retirement import FINAL, Retirement, Stage, check_stage_move
from bot.store.audit import SYSTEM
from bot.store.models import KeyRequest
from bot.store.staged_rows import StagedRows
from bot.store.workload_models import KeyWorkloadRow, RetirementRow

_COLUMNS = [f.name for f in fields(Retirement)]
PREFIX = RETIREMENT_PREFIX  # audit actions: retirement_<stage> and retirement_waiting (retirement.stage_changed)
RETIRE = "retire"
SUCCEEDED = "succeeded"

RoleOf = Callable[[str, str | None], tuple[str, bool]]  # (IAM user, kind profiled) -> (role name, permission set?)


class Retirements(StagedRows[Retirement, Stage]):
    """Retirements' rows; `move` (StagedRows) checks the stage move, and a moved row is due at once unless told."""

    _row = RetirementRow
    _final = [s.value for s in FINAL]
    _prefix = PREFIX

    def _snapshot(self, row: RetirementRow) -> Retirement:
        return _snapshot(row)

    def _check(self, expected: Stage, new: Stage) -> None:
        check_stage_move(expected, new)

    def _next_at(self, current: Retirement, new: Stage, values: dict[str, Any], now: datetime) -> datetime:
        return now

    # Reading (get, due, of_keys: StagedRows)
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


def _snapshot(row: RetirementRow) -> Retirement:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["state"] = Stage(values["state"])
    return Retirement(**values)
