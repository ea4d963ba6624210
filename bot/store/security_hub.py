"""What each account's Security Hub was sent: the active findings (to archive when a scan no longer sees them) and
the archived ones (kept 90 days, as Security Hub keeps a finding nobody updates)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from bot.store.db import Database
from bot.store.models import IamUserRecord
from bot.store.reporting_models import HubFinding

ACTIVE, ARCHIVED = "ACTIVE", "ARCHIVED"


@dataclass(frozen=True)
class SentFinding:
    finding_id: str
    record_state: str
    payload: dict[str, Any]
    first_sent_at: datetime


class HubRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    def sent(self, account: str) -> dict[str, SentFinding]:
        """Every finding of the account Security Hub holds from Keywarden, by id."""
        with self._db.session() as session:
            rows = session.scalars(select(HubFinding).where(HubFinding.account == account))
            return {
                r.finding_id: SentFinding(r.finding_id, r.record_state, json.loads(r.payload), r.first_sent_at)
                for r in rows
            }

    def accepted(
        self,
        account: str,
        aws_account_id: str,
        findings: Iterable[Mapping[str, Any]],
        now: datetime,
    ) -> None:
        """Security Hub took these findings (active or archived) as they are."""
        wanted = {str(f["Id"]): f for f in findings}
        if not wanted:
            return
        with self._db.session() as session:
            rows = {r.finding_id: r for r in session.scalars(select(HubFinding).where(HubFinding.account == account))}
            for finding in wanted.values():
                row = rows.get(finding["Id"])
                if row is None:
                    row = HubFinding(account=account, finding_id=finding["Id"], first_sent_at=now)
                    session.add(row)
                row.aws_account_id = aws_account_id
                row.record_state = str(finding.get("RecordState", ACTIVE))
                row.payload = json.dumps(finding, sort_keys=True)
                row.sent_at = now

    def forget_archived(self, before: datetime) -> int:
        """Drop archived findings last sent before `before`: Security Hub has deleted them too."""
        with self._db.session() as session:
            result = session.execute(
                delete(HubFinding).where(HubFinding.record_state == ARCHIVED, HubFinding.sent_at < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def user_arns(self, account: str) -> dict[str, str]:
        """{IAM user name: ARN} as the ownership index read them (the scan refreshed it just before)."""
        with self._db.session() as session:
            rows = session.execute(
                select(IamUserRecord.name, IamUserRecord.arn).where(IamUserRecord.account == account)
            )
            return {name: arn for name, arn in rows}
