"""Which IAM users' keys Keywarden changed (or may have changed) in AWS, read from what it recorded of its own acts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, union

from bot.domain.requests import Status
from bot.store.db import Database
from bot.store.models import AuditEvent, KeyRequest, RotationRow

# Request states in which Keywarden has called (or may have called) AWS.
_ACTED = (Status.EXECUTING.value, Status.SUCCEEDED.value, Status.FAILED.value)


class KeyChanges:
    def __init__(self, db: Database) -> None:
        self._db = db

    def changed_users_since(self, account: str, since: datetime, *, bookkeeping: Collection[str]) -> set[str]:
        """Users whose keys Keywarden changed (or may have changed) in AWS after `since`.

        Read from the audit log (every event but the `bookkeeping` ones: decisions and reminders), the requests
        that reached execution and the rotations that moved: a change shows in at least one of them.
        """
        audited = select(AuditEvent.iam_user).where(
            AuditEvent.account == account,
            AuditEvent.at > since,
            AuditEvent.iam_user.is_not(None),
            AuditEvent.action.not_in(bookkeeping),
        )
        executed = select(KeyRequest.iam_user).where(
            KeyRequest.account == account, KeyRequest.updated_at > since, KeyRequest.status.in_(_ACTED)
        )
        rotated = select(RotationRow.iam_user).where(RotationRow.account == account, RotationRow.updated_at > since)
        with self._db.session() as session:
            return {name for name in session.scalars(union(audited, executed, rotated)) if name}
