"""Keys whose alerts are silenced until a time (the owner's Snooze button)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.models import Snooze


class Snoozes:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def snooze(self, account: str, key_id: str, by: str, until: datetime) -> None:
        """Silence the key until `until` (replacing an earlier snooze), audited."""
        with self._db.session() as session:
            row = session.get(Snooze, (account, key_id)) or Snooze(account=account, key_id=key_id)
            row.until, row.by = until, by
            session.add(row)
            self._audit.record(session, by, "snoozed", account=account, key_id=key_id, detail=f"until {until:%Y-%m-%d}")

    def active(self, account: str, now: datetime) -> set[str]:
        """The ids of the account's keys snoozed at `now`."""
        with self._db.session() as session:
            return set(session.scalars(select(Snooze.key_id).where(Snooze.account == account, Snooze.until > now)))
