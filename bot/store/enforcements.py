"""ENFORCE's memory per key: its deadline, the warnings delivered before it, and the deactivation made."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import delete, select

from bot.domain.enforcement import Warnings
from bot.store.db import Database
from bot.store.models import Enforcement

Key = tuple[str, str]  # (account, key id)


class Enforcements:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start_over(self, scanned: Collection[str], enforceable: Collection[Key], dry_run: bool) -> None:
        """Forget the warnings of the scanned accounts' keys that are no longer `enforceable` (unless deactivated),
        and of enforceable keys deactivated before (since reactivated) or warned in the other dry-run mode."""
        with self._db.session() as session:
            rows = session.scalars(select(Enforcement).where(Enforcement.account.in_(scanned))).all()
            for row in rows:
                key = (row.account, row.key_id)
                if key not in enforceable:
                    if row.deactivated_at is None:
                        session.execute(
                            delete(Enforcement).where(
                                Enforcement.account == row.account, Enforcement.key_id == row.key_id
                            )
                        )
                elif row.deactivated_at is not None or (row.dry_run is not None and row.dry_run != dry_run):
                    row.deadline = row.warned_3_at = row.warned_1_at = row.deactivated_at = None
                    row.request_id = row.dry_run = None

    def warnings(self, key_ids: Iterable[str]) -> dict[Key, Warnings]:
        with self._db.session() as session:
            rows = session.scalars(select(Enforcement).where(Enforcement.key_id.in_(list(key_ids))))
            return {(r.account, r.key_id): Warnings(r.deadline, r.warned_3_at, r.warned_1_at) for r in rows}

    def warned(self, account: str, key_id: str, stage: int, at: datetime, deadline: datetime, dry_run: bool) -> None:
        """The warning of this `stage` (3 or 1 days before) was delivered `at`, for this deadline."""
        with self._db.session() as session:
            row = session.get(Enforcement, (account, key_id)) or Enforcement(account=account, key_id=key_id)
            if stage == 3:
                row.warned_3_at = at
            else:
                row.warned_1_at = at
            row.deadline, row.dry_run = deadline, dry_run
            session.add(row)

    def deactivated(self, account: str, key_id: str, at: datetime, request_id: str) -> None:
        with self._db.session() as session:
            row = session.get(Enforcement, (account, key_id)) or Enforcement(account=account, key_id=key_id)
            row.deactivated_at, row.request_id = at, request_id
            session.add(row)
