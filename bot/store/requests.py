"""Filing requests and changing their status. Every status change is one conditional UPDATE, audited in the
same transaction; at most one request is open per target (a unique column), so a duplicate is refused."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain.operations import Operation
from bot.domain.requests import FINAL, MAKES_KEY, Request, Status, check_transition, new_request_id
from bot.store import time_bound_keys
from bot.store.approval_votes import ApprovalVotes
from bot.store.models import KeyRequest
from bot.store.request_queries import RequestQueries
from bot.store.request_rows import snapshot


class DuplicateRequest(Exception):
    def __init__(self, existing: str) -> None:
        super().__init__(existing)
        self.existing = existing


def open_target(operation: Operation, account: str, user: str, key_id: str | None) -> str:
    """What may have only one open request: a key, or a user for requests that make a key."""
    if key_id and operation not in MAKES_KEY:
        return f"key:{account}:{key_id}"
    return f"user:{account}:{user}"


class RequestStore(RequestQueries, ApprovalVotes):
    """Requests in the database: filing, status changes and delivery facts here; reads in RequestQueries,
    approval counting in ApprovalVotes."""

    def add(
        self,
        *,
        operation: Operation,
        account: str,
        iam_user: str,
        key_id: str | None,
        requester: str,
        reason: str,
        approvals_needed: int,
        expires_at: datetime,
        details: str,
        owner_ok: bool,
        status: Status = Status.PENDING,
        action: str = "requested",
        policy_rule: str | None = None,
        policy: str | None = None,
        valid_for_hours: int | None = None,
        retire_role: str | None = None,
    ) -> Request:
        """Store a new request; DuplicateRequest when one is already open for the same target."""
        fields = {
            "operation": operation,
            "account": account,
            "iam_user": iam_user,
            "key_id": key_id,
            "requester": requester,
            "reason": reason,
            "approvals_needed": approvals_needed,
            "expires_at": expires_at,
            "details": details,
            "owner_ok": owner_ok,
            "status": status,
            "action": action,
            "policy_rule": policy_rule,
            "policy": policy,
            "valid_for_hours": valid_for_hours,
            "retire_role": retire_role,
        }
        request, _ = self._add(fields, supersede=False)
        return request

    def add_break_glass(self, **fields: Any) -> tuple[Request, list[Request]]:
        """Store a break-glass request (approved at once, `add`'s fields) and, in the same transaction, cancel
        every pending or approved request on its key: a suspected compromise does not wait behind them.
        Returns the new request and the superseded ones (their messages need updating)."""
        return self._add(fields, supersede=True)

    def _add(self, fields: dict[str, Any], *, supersede: bool) -> tuple[Request, list[Request]]:
        operation, account, iam_user, key_id = (fields[k] for k in ("operation", "account", "iam_user", "key_id"))
        requester, reason, status = fields["requester"], fields["reason"], fields["status"]
        now = self._clock()
        target = open_target(operation, account, iam_user, key_id)
        for _ in range(5):  # a fresh id on the (rare) id collision
            row = KeyRequest(
                id=new_request_id(),
                operation=operation.value,
                account=account,
                iam_user=iam_user,
                key_id=key_id,
                requester=requester,
                reason=reason,
                status=status.value,
                open_target=target,
                approvals_needed=fields["approvals_needed"],
                created_at=now,
                updated_at=now,
                expires_at=fields["expires_at"],
                details=fields["details"],
                owner_ok=fields["owner_ok"],
                valid_for_hours=fields.get("valid_for_hours"),
                retire_role=fields.get("retire_role"),
                policy_rule=fields.get("policy_rule"),
                policy=fields.get("policy"),
                # A break-glass is decided by the one who files it (domain.requests.is_break_glass).
                decided_by=requester if supersede else None,
                decided_at=now if supersede else None,
            )
            try:
                with self._db.session() as session:
                    superseded = self._supersede(session, row, now) if supersede else []
                    if supersede and session.scalar(select(KeyRequest.id).where(KeyRequest.open_target == target)):
                        row.open_target = None  # a request on this key is running right now; this one acts anyway
                    session.add(row)
                    session.flush()
                    self._record(session, requester, fields["action"], row, detail=reason)
                return snapshot(row, ()), superseded
            except IntegrityError:
                existing = self.find_open(target)
                if existing is not None and not supersede:
                    raise DuplicateRequest(existing.id) from None
        raise RuntimeError("could not allocate a request id")

    def _supersede(self, session: Session, new: KeyRequest, now: datetime) -> list[Request]:
        """Cancel the pending or approved requests on `new`'s key (not those already running)."""
        why = f"superseded by break-glass {new.id}"
        waiting = [Status.PENDING.value, Status.APPROVED.value]
        ids = session.scalars(
            select(KeyRequest.id).where(
                KeyRequest.account == new.account, KeyRequest.key_id == new.key_id, KeyRequest.status.in_(waiting)
            )
        ).all()
        superseded = []
        check_transition(Status.PENDING, Status.CANCELLED)
        check_transition(Status.APPROVED, Status.CANCELLED)
        for request_id in ids:
            won = session.execute(
                update(KeyRequest)
                .where(KeyRequest.id == request_id, KeyRequest.status.in_(waiting))
                .values(
                    status=Status.CANCELLED.value,
                    open_target=None,
                    updated_at=now,
                    decided_by=new.requester,
                    decided_at=now,
                    result=why,
                )
                .returning(KeyRequest.id)
            ).first()
            if won is None:
                continue
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            self._record(session, new.requester, "superseded", row, outcome="cancelled", detail=why)
            superseded.append(snapshot(row, self._approvers(session, request_id)))
        return superseded

    def transition(
        self,
        request_id: str,
        expected: Status | Iterable[Status],
        new: Status,
        *,
        actor: str,
        action: str,
        outcome: str = "ok",
        detail: str = "",
        **values: Any,
    ) -> Request | None:
        """Move a request from one of `expected` to `new` atomically; None when it was not in `expected`.

        A time-bound key's success (`new_key_id` of a request with `valid_for_hours`) stores the key's end in the
        same transaction: a key that exists always has its end."""
        expected = {expected} if isinstance(expected, Status) else set(expected)
        for status in expected:
            check_transition(status, new)
        values |= {"status": new.value, "updated_at": self._clock()}
        if new in FINAL:
            values["open_target"] = None
        with self._db.session() as session:
            won = session.execute(
                update(KeyRequest)
                .where(KeyRequest.id == request_id, KeyRequest.status.in_([s.value for s in expected]))
                .values(**values)
                .returning(KeyRequest.id)
            ).first()
            if won is None:
                return None
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            if new is Status.SUCCEEDED and row.valid_for_hours and row.new_key_id and row.key_ends_at is None:
                time_bound_keys.start(session, self._audit, row, values["updated_at"])
            self._record(session, actor, action, row, outcome=outcome, detail=detail)
            return snapshot(row, self._approvers(session, request_id))

    def record_delivery(self, request_id: str, **values: Any) -> None:
        """Record delivery facts (message ts, notified status); never the status itself."""
        assert "status" not in values
        with self._db.session() as session:
            session.execute(update(KeyRequest).where(KeyRequest.id == request_id).values(**values))

    def stamp_pending(
        self,
        request_id: str,
        column: str,
        *,
        actor: str,
        action: str,
        detail: str = "",
        not_since: datetime | None = None,
        requester: str | None = None,
    ) -> Request | None:
        """Set `column` (reminded_at, escalated_at, nudged_at) to now on a pending request, once: only when it is
        unset (or, with `not_since`, older than it), in one transaction with its audit event; None otherwise."""
        now = self._clock()
        stamp = getattr(KeyRequest, column)
        when = stamp.is_(None) if not_since is None else (stamp.is_(None) | (stamp <= not_since))
        query = update(KeyRequest).where(
            KeyRequest.id == request_id, KeyRequest.status == Status.PENDING.value, KeyRequest.expires_at > now, when
        )
        if requester is not None:
            query = query.where(KeyRequest.requester == requester)
        with self._db.session() as session:
            if session.execute(query.values({column: now}).returning(KeyRequest.id)).first() is None:
                return None
            row = session.get(KeyRequest, request_id, populate_existing=True)
            assert row is not None
            self._record(session, actor, action, row, detail=detail)
            return snapshot(row, self._approvers(session, request_id))

    def note(self, request_id: str, actor: str, action: str, outcome: str = "ok", detail: str = "") -> None:
        """Audit something about a request that changes nothing in it (a refusal, a policy's approval)."""
        with self._db.session() as session:
            row = session.get(KeyRequest, request_id)
            if row is not None:
                self._record(session, actor, action, row, outcome=outcome, detail=detail)
