"""What the parts of the request store share: a session per call, snapshots of request rows with their
approvers, and audit events about a request recorded in the caller's transaction."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.operations import Operation
from bot.domain.requests import Request, Status
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.models import Approval, KeyRequest

_COLUMNS = [f.name for f in fields(Request) if f.name != "approvers"]


class RequestRows:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    @property
    def audit(self) -> AuditLog:
        return self._audit

    def _select(self, query: Any) -> list[Request]:
        with self._db.session() as session:
            return [snapshot(r, self._approvers(session, r.id)) for r in session.scalars(query)]

    @staticmethod
    def _approvers(session: Session, request_id: str) -> tuple[str, ...]:
        return tuple(
            session.scalars(select(Approval.approver).where(Approval.request_id == request_id).order_by(Approval.at))
        )

    def _record(self, session: Session, actor: str, action: str, row: KeyRequest, **kw: str) -> None:
        self._audit.record(
            session,
            actor,
            action,
            request_id=row.id,
            account=row.account,
            iam_user=row.iam_user,
            key_id=row.key_id or row.new_key_id,
            **kw,
        )


def snapshot(row: KeyRequest, approvers: tuple[str, ...]) -> Request:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["operation"] = Operation(values["operation"])
    values["status"] = Status(values["status"])
    return Request(**values, approvers=approvers)
