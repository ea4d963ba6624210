"""Each key's last workload profile (bot/domain/workload.py): its verdict, kept so that scans, `list` and `retire`
read it without CloudTrail, and so that the weekly sample profiles the keys it has not seen for longest first."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.clock import Clock
from bot.store.db import Database
from bot.store.workload_models import KeyWorkloadRow

WORKLOAD_FRESH = timedelta(days=14)  # a profile older than this no longer makes a finding (the sample runs weekly)


@dataclass(frozen=True)
class KnownWorkload:
    key_id: str
    account: str
    iam_user: str
    profiled_at: datetime
    days: int
    calls: int
    runner: str | None
    confidence: str
    replaceable: bool
    summary: str
    kind: str
    role_name: str
    lookups: int


class KeyWorkloads:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def save(self, known: KnownWorkload) -> None:
        with self._db.session() as session:
            session.merge(KeyWorkloadRow(**known.__dict__))

    def get(self, key_id: str) -> KnownWorkload | None:
        with self._db.session() as session:
            row = session.get(KeyWorkloadRow, key_id)
            return _known(row) if row else None

    def of_keys(self, key_ids: Iterable[str]) -> dict[str, KnownWorkload]:
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        with self._db.session() as session:
            rows = session.scalars(select(KeyWorkloadRow).where(KeyWorkloadRow.key_id.in_(wanted)))
            return {row.key_id: _known(row) for row in rows}

    def replaceable_in(self, account: str, since: datetime) -> dict[str, dict[str, str]]:
        """{IAM user: {key id: verdict}} of the account's keys profiled since `since` whose work a role can take."""
        found: dict[str, dict[str, str]] = {}
        with self._db.session() as session:
            rows = session.execute(
                select(KeyWorkloadRow.iam_user, KeyWorkloadRow.key_id, KeyWorkloadRow.summary).where(
                    KeyWorkloadRow.account == account,
                    KeyWorkloadRow.replaceable.is_(True),
                    KeyWorkloadRow.profiled_at >= since,
                )
            )
            for user, key_id, summary in rows:
                found.setdefault(user, {})[key_id] = summary
        return found

    def replaceable_since(self, age: timedelta) -> Callable[[str], dict[str, dict[str, str]]]:
        """`replaceable_in` over profiles younger than `age`, for the scan."""
        return lambda account: self.replaceable_in(account, self._clock() - age)

    def profiled_users(self, account: str) -> dict[str, datetime]:
        """{IAM user: when the least recently profiled of its keys was profiled} in the account."""
        with self._db.session() as session:
            rows = session.execute(
                select(KeyWorkloadRow.iam_user, func.min(KeyWorkloadRow.profiled_at))
                .where(KeyWorkloadRow.account == account)
                .group_by(KeyWorkloadRow.iam_user)
            )
            return {user: at for user, at in rows}


def _known(row: KeyWorkloadRow) -> KnownWorkload:
    return KnownWorkload(**{name: getattr(row, name) for name in KnownWorkload.__dataclass_fields__})
