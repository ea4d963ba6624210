"""Guided rotations after the new key is revealed: grace, reminders, deactivation, deletion, roll-back.

Every state change is one conditional UPDATE of the rotation row (`WHERE id = :id AND state = :expected`),
audited in the same transaction. A step that calls AWS first claims the row (deactivating, deleting,
rolling_back), so concurrent runners and restarts never repeat a call; a claim left by a crash is finished
from the key's real status in AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.domain.keys import ACTIVE, INACTIVE
from bot.domain.requests import Operation, Request, Status
from bot.domain.rotation import (
    CANCELLABLE,
    CHECK_EVERY,
    CLAIMS,
    FINAL,
    RETRY_AFTER,
    SCHEDULED,
    KeyUse,
    Live,
    Rotation,
    RotationPolicy,
    RotationState,
    Step,
    check_transition,
    next_event,
    next_step,
    reconcile_step,
    schedule,
)
from bot.settings import Settings
from bot.slack.messages.common import Message
from bot.slack.messages.requests import who
from bot.slack.messages.rotations import (
    build_cancelled,
    build_deactivated,
    build_finished,
    build_grace_started,
    build_reminder,
    build_rolled_back,
    build_stalled,
    build_stalled_owner,
    build_still_in_use,
    day,
    use_text,
    when,
)
from bot.slack.notifier import Notifier
from bot.store.audit import SYSTEM, AuditLog
from bot.store.db import Database
from bot.store.models import KeyRequest
from bot.store.models import Rotation as RotationRow
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)
S = RotationState
_COLUMNS = [f.name for f in fields(Rotation)]


def rotation_policy(settings: Settings) -> RotationPolicy:
    return RotationPolicy(settings.rotation_grace_days, settings.rotation_stall_days, settings.rotation_delete_days)


class RotationService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        db: Database,
        store: RequestStore,
        audit: AuditLog,
        aws: AwsGateway,
        notifier: Notifier,
        is_approver: Callable[[str], bool],
    ) -> None:
        self._settings = settings
        self._policy = rotation_policy(settings)
        self._clock = clock
        self._db = db
        self._store = store
        self._audit = audit
        self._aws = aws
        self._notifier = notifier
        self._is_approver = is_approver
        self.on_change: Callable[..., None] | None = None  # (Slack user ids) whose App Home to refresh
        # A claim older than this was left by a crash (the same setting as for requests).
        self._claim_timeout = timedelta(minutes=settings.reconcile_after_minutes)

    # Start
    def start(
        self, request: Request, new_key_id: str, old_key_id: str, created: datetime | None = None
    ) -> Rotation | None:
        """Store the rotation of an approved, revealed rotate request and begin its grace period (idempotent)."""
        created = created or self._clock()
        plan = schedule(created, self._policy)
        row = RotationRow(
            id=request.id,
            account=request.account,
            iam_user=request.iam_user,
            old_key_id=old_key_id,
            new_key_id=new_key_id,
            owner=request.requester,
            state=S.NEW_KEY_CREATED.value,
            created_at=created,
            updated_at=self._clock(),
            grace_ends_at=plan.grace_ends,
            next_check_at=self._clock(),
            stall_at=plan.stall_at,
            reminders_sent=0,
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.flush()
                self._record(
                    session, SYSTEM, "rotation_started", _snapshot(row), f"new key {new_key_id} replaces {old_key_id}"
                )
        except IntegrityError:
            log.info("rotation %s was already started", request.id)
        rotation = self.get(request.id)
        if rotation is not None and rotation.state is S.NEW_KEY_CREATED:
            return self._begin_grace(rotation, next_event(rotation, 0, self._clock())) or self.get(request.id)
        return rotation

    def _begin_grace(self, r: Rotation, next_check_at: datetime) -> Rotation | None:
        moved = self._move(
            r,
            S.NEW_KEY_CREATED,
            S.GRACE,
            action="rotation_grace",
            detail=f"grace until {when(r.grace_ends_at)}",
            next_check_at=next_check_at,
        )
        if moved:
            self._tell_owner(moved, build_grace_started(moved, self._policy.delete_days))
        return moved

    # Reading
    def get(self, rotation_id: str) -> Rotation | None:
        with self._db.session() as session:
            row = session.get(RotationRow, rotation_id)
            return _snapshot(row) if row else None

    def open_for(self, user_id: str) -> list[Rotation]:
        """The rotations in progress that this Slack user owns."""
        return self._select(
            select(RotationRow)
            .where(RotationRow.owner == user_id, RotationRow.state.not_in([s.value for s in FINAL]))
            .order_by(RotationRow.created_at)
        )

    def state_for_key(self, key_id: str) -> Rotation | None:
        """The rotation in progress that replaces this key or introduced it, if any."""
        found = self._select(
            select(RotationRow)
            .where(
                (RotationRow.old_key_id == key_id) | (RotationRow.new_key_id == key_id),
                RotationRow.state.not_in([s.value for s in FINAL]),
            )
            .order_by(RotationRow.created_at.desc())
            .limit(1)
        )
        return found[0] if found else None

    def in_progress_for_user(self, account: str, iam_user: str) -> Rotation | None:
        found = self._select(
            select(RotationRow)
            .where(
                RotationRow.account == account,
                RotationRow.iam_user == iam_user,
                RotationRow.state.not_in([s.value for s in FINAL]),
            )
            .limit(1)
        )
        return found[0] if found else None

    def check_key_now(self, key_id: str) -> Rotation | None:
        """A key of a rotation in progress changed outside Keywarden: take the rotation's next step now, not
        at its next check (a new key deleted by hand cancels it at once). Returns the rotation as it is after."""
        rotation = self.state_for_key(key_id)
        if rotation is None or rotation.state not in SCHEDULED:
            return rotation
        try:
            self._advance(rotation)
        except AwsError as e:  # the schedule looks again at its next check
            log.warning("rotation %s could not be checked: %s", rotation.id, e.message)
        return self.get(rotation.id)

    # The schedule
    def advance_due(self) -> int:
        """Take every rotation whose time has come one step further; safe to run concurrently and repeatedly."""
        now = self._clock()
        self._adopt_orphans()
        done = 0
        for rotation in self._select(
            select(RotationRow).where(
                RotationRow.state.in_([s.value for s in SCHEDULED]), RotationRow.next_check_at <= now
            )
        ):
            try:
                done += self._advance(rotation)
            except AwsError as e:  # read failures: the next run tries again
                log.warning("rotation %s could not be checked: %s", rotation.id, e.message)
        for rotation in self._select(
            select(RotationRow).where(
                RotationRow.state.in_([s.value for s in CLAIMS]), RotationRow.updated_at <= now - self._claim_timeout
            )
        ):
            try:
                done += self._reconcile(rotation)
            except AwsError as e:
                log.warning("rotation %s could not be reconciled yet: %s", rotation.id, e.message)
        return done

    def _adopt_orphans(self) -> None:
        """Rotate requests revealed just before a crash, whose rotation was never stored."""
        with self._db.session() as session:
            orphans = list(
                session.scalars(
                    select(KeyRequest.id)
                    .outerjoin(RotationRow, RotationRow.id == KeyRequest.id)
                    .where(
                        KeyRequest.operation == Operation.ROTATE.value,
                        KeyRequest.status == Status.SUCCEEDED.value,
                        KeyRequest.new_key_id.is_not(None),
                        KeyRequest.key_id.is_not(None),
                        RotationRow.id.is_(None),
                    )
                )
            )
        for request_id in orphans:
            request = self._store.get(request_id)
            if request is None or request.new_key_id is None or request.key_id is None:
                continue
            log.warning("rotation %s was revealed but not stored; starting it now", request.id)
            self.start(request, request.new_key_id, request.key_id, created=request.updated_at)

    def _live(self, r: Rotation) -> Live:
        client = self._aws.account(r.account)
        try:
            statuses = {k.key_id: k.status for k in client.list_access_keys(r.iam_user)}
        except AwsNotFound:  # the IAM user itself is gone
            statuses = {}
        old = statuses.get(r.old_key_id)
        use = KeyUse(None)
        if old is not None:
            try:
                used = client.key_last_used(r.old_key_id)
                use = KeyUse(used.date, used.service, used.region)
            except AwsNotFound:
                old = None
        return Live(old, statuses.get(r.new_key_id), use)

    def _advance(self, r: Rotation) -> int:
        live = self._live(r)
        now = self._clock()
        decision = next_step(r, live, now, self._policy)
        use = live.old_use
        seen = {"old_last_used": use.date, "old_last_used_where": use.where}
        step, state, next_at = decision.step, decision.state, decision.next_check_at
        if step is Step.WAIT:
            self._reschedule(r, next_at, **seen)
            return 0
        if step is Step.START_GRACE:
            return self._done(self._begin_grace(r, next_at))
        if step is Step.REMIND:
            moved = self._move(
                r,
                S.GRACE,
                S.GRACE,
                action="rotation_reminder",
                detail=f"reminder {decision.reminders_sent}: {r.old_key_id} {use_text(use)}",
                next_check_at=next_at,
                reminders_sent=decision.reminders_sent,
                **seen,
            )
            if moved:
                self._tell_owner(moved, build_reminder(moved, use, now))
            return self._done(moved)
        if step is Step.DEACTIVATE:
            return self._deactivate(r, use)
        if step in (Step.STILL_IN_USE, Step.RECHECK, Step.STALL):
            moved = self._move(
                r,
                r.state,
                state,
                action="rotation_stalled" if step is Step.STALL else "rotation_in_use",
                detail=f"{r.old_key_id} {use_text(use)}; not deactivated",
                next_check_at=next_at,
                **seen,
            )
            if moved and step is Step.STILL_IN_USE:
                self._tell_owner(moved, build_still_in_use(moved, use))
            elif moved and step is Step.STALL:
                self._tell_owner(moved, build_stalled_owner(moved))
                if self._settings.approval_channel:
                    self._notifier.post(self._settings.approval_channel, build_stalled(moved, use))
            return self._done(moved)
        if step is Step.DELETE:
            return self._delete(r)
        if step is Step.HOLD:
            moved = self._move(
                r,
                r.state,
                r.state,
                action="rotation_hold",
                detail=f"{r.old_key_id} {use_text(use)} after it was deactivated; not deleted",
                next_check_at=next_at,
                **seen,
            )
            return self._done(moved)
        if step is Step.OLD_INACTIVE:
            why = f"`{r.old_key_id}` was found inactive: it was deactivated outside this rotation"
            return self._done(self._cancel(r, r.state, why, guard="next_check_at"))
        if step is Step.OLD_REACTIVATED:
            moved = self._move(
                r, r.state, S.ROLLED_BACK, action="rotation_rolled_back", detail=f"{r.old_key_id} reactivated outside"
            )
            if moved:
                self._tell_owner(moved, build_rolled_back(moved, None))
            return self._done(moved)
        if step is Step.OLD_GONE:
            return self._done(self._old_gone(r, r.state))
        assert step is Step.NEW_GONE, step
        return self._done(self._new_gone(r, r.state, live))

    # Steps that call AWS: claim, call, record
    def _deactivate(self, r: Rotation, use: KeyUse) -> int:
        claimed = self._move(
            r,
            r.state,
            S.DEACTIVATING,
            action="rotation_deactivating",
            detail=f"{r.old_key_id} {use_text(use)}: not used since {when(r.created_at)}",
            old_last_used=use.date,
            old_last_used_where=use.where,
        )
        if claimed is None:
            return 0
        return self._run_deactivate(claimed)

    def _run_deactivate(self, r: Rotation, actor: str = SYSTEM) -> int:
        try:
            self._aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, INACTIVE)
        except AwsNotFound:
            return self._done(self._old_gone(r, S.DEACTIVATING))
        except AwsError as e:
            self._retry_later(r, S.GRACE, e)
            return 0
        return self._done(self._deactivated(r, actor, "deactivated; pre-approved by the rotation's approval"))

    def _deactivated(self, r: Rotation, actor: str, detail: str) -> Rotation | None:
        now = self._clock()
        delete_after = now + timedelta(days=self._policy.delete_days)
        moved = self._move(
            r,
            S.DEACTIVATING,
            S.OLD_KEY_DEACTIVATED,
            actor=actor,
            action="rotation_deactivated",
            detail=f"{r.old_key_id} {detail}; deleted from {when(delete_after)}",
            deactivated_at=now,
            delete_after=delete_after,
            next_check_at=min(now + CHECK_EVERY, delete_after),
        )
        if moved:
            self._tell_owner(moved, build_deactivated(moved))
        return moved

    def _delete(self, r: Rotation) -> int:
        claimed = self._move(r, S.OLD_KEY_DEACTIVATED, S.DELETING, action="rotation_deleting", detail=r.old_key_id)
        if claimed is None:
            return 0
        return self._run_delete(claimed)

    def _run_delete(self, r: Rotation) -> int:
        try:
            self._aws.account(r.account).delete_access_key(r.iam_user, r.old_key_id)
        except AwsNotFound:
            return self._done(self._old_gone(r, S.DELETING))
        except AwsError as e:
            self._retry_later(r, S.OLD_KEY_DEACTIVATED, e)
            return 0
        return self._done(self._deleted(r, f"{r.old_key_id} deleted; rotation complete"))

    def _deleted(self, r: Rotation, detail: str) -> Rotation | None:
        moved = self._move(r, S.DELETING, S.OLD_KEY_DELETED, action="rotation_deleted", detail=detail)
        if moved:
            self._tell_owner(moved, build_finished(moved))
        return moved

    def _retry_later(self, r: Rotation, back_to: RotationState, error: AwsError) -> None:
        """AWS refused a step: give the claim back and try again later, not at once."""
        self._move(
            r,
            r.state,
            back_to,
            action="rotation_retry",
            outcome="retry",
            detail=error.message,
            next_check_at=self._clock() + RETRY_AFTER,
        )

    def _old_gone(self, r: Rotation, expected: RotationState) -> Rotation | None:
        moved = self._move(
            r,
            expected,
            S.OLD_KEY_DELETED,
            action="rotation_deleted",
            detail=f"{r.old_key_id} was already gone in AWS; recorded",
        )
        if moved:
            self._tell_owner(moved, build_finished(moved, outside=True))
        return moved

    def _new_gone(self, r: Rotation, expected: RotationState, live: Live) -> Rotation | None:
        old = {None: "gone", ACTIVE: "active"}.get(live.old_status, "inactive")
        moved = self._move(
            r,
            expected,
            S.CANCELLED,
            action="rotation_cancelled",
            outcome="cancelled",
            detail=f"new key {r.new_key_id} is {live.new_status or 'gone'} in AWS; old key {r.old_key_id} is {old}",
        )
        if moved:
            self._tell_owner(moved, build_cancelled(moved))
        return moved

    def _cancel(
        self, r: Rotation, expected: RotationState, why: str, actor: str = SYSTEM, guard: str | None = None
    ) -> Rotation | None:
        """End the rotation because its old key was turned off by someone else; the reason is kept in `note`."""
        moved = self._move(
            r,
            expected,
            S.CANCELLED,
            actor=actor,
            action="rotation_cancelled",
            outcome="cancelled",
            detail=why,
            guard=guard,
            note=why,
        )
        if moved:
            self._tell_owner(moved, build_cancelled(moved))
        return moved

    def old_key_deactivated_by(self, request: Request) -> int:
        """A deactivate request (break-glass or approved) turned off a rotation's old key: that rotation ends.

        Roll-back reverses only the rotation's own deactivation; re-enabling this key is a `reactivate` request.
        """
        by = f"request {request.id} of {who(request.requester)}"
        why = f"`{request.key_id}` was deactivated outside this rotation, by {by}"
        ended = 0
        for r in self._select(
            select(RotationRow).where(
                RotationRow.account == request.account,
                RotationRow.old_key_id == request.key_id,
                RotationRow.state.in_([s.value for s in CANCELLABLE]),
            )
        ):
            ended += self._done(self._cancel(r, r.state, why))
        return ended

    # Roll-back
    def rollback(self, rotation_id: str, user_id: str) -> str:
        """The Reactivate button: the old key active again, the rotation rolled back. Returns the reply."""
        r = self.get(rotation_id)
        if r is None:
            return f"There is no rotation {rotation_id}."
        if user_id != r.owner and not self._is_approver(user_id):
            self._audit.refused(
                user_id,
                "roll back",
                "neither the rotation's owner nor an approver",
                request_id=r.id,
                account=r.account,
                iam_user=r.iam_user,
                key_id=r.old_key_id,
            )
            return "Only the rotation's owner or an approver can roll it back. Nothing was changed."
        if r.state is not S.OLD_KEY_DEACTIVATED:
            return _cannot_roll_back(r)
        claimed = self._move(
            r,
            S.OLD_KEY_DEACTIVATED,
            S.ROLLING_BACK,
            actor=user_id,
            action="rotation_rolling_back",
            detail=r.old_key_id,
            guard=None,  # a click acts on the row as it is now, whatever the schedule did meanwhile
        )
        if claimed is None:
            latest = self.get(rotation_id)
            return _cannot_roll_back(latest) if latest else f"There is no rotation {rotation_id}."
        try:
            self._aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, ACTIVE)
        except AwsNotFound:
            self._old_gone(claimed, S.ROLLING_BACK)
            return f"`{r.old_key_id}` was already deleted in AWS, so it cannot be reactivated. Use `{r.new_key_id}`."
        except AwsError as e:
            self._move(
                claimed,
                S.ROLLING_BACK,
                S.OLD_KEY_DEACTIVATED,
                actor=user_id,
                action="rotation_retry",
                outcome="retry",
                detail=e.message,
            )
            return f"{e.message} Nothing was changed; click Reactivate again."
        self._rolled_back(claimed, user_id)
        return f"Rotation {r.id} is rolled back: `{r.old_key_id}` is active again; `{r.new_key_id}` stays."

    def _rolled_back(self, r: Rotation, actor: str) -> Rotation | None:
        moved = self._move(
            r,
            S.ROLLING_BACK,
            S.ROLLED_BACK,
            actor=actor,
            action="rotation_rolled_back",
            detail=f"{r.old_key_id} active again; {r.new_key_id} kept",
        )
        if moved and actor != r.owner:
            self._tell_owner(moved, build_rolled_back(moved, actor))
        return moved

    # After a crash
    def _reconcile(self, r: Rotation) -> int:
        """Finish a claim left by a crash from the key's real status in AWS; no AWS call runs twice."""
        reclaimed = self._move(
            r, r.state, r.state, action="rotation_reconciling", detail="interrupted step resumed", guard="updated_at"
        )
        if reclaimed is None:  # another runner took it over
            return 0
        live = self._live(reclaimed)
        step = reconcile_step(reclaimed.state, live)
        confirmed = "confirmed in AWS after an interruption"
        if step is Step.OLD_GONE:
            return self._done(self._old_gone(reclaimed, reclaimed.state))
        if step is Step.NEW_GONE:
            return self._done(self._new_gone(reclaimed, reclaimed.state, live))
        if reclaimed.state is S.DEACTIVATING:
            if step is Step.CONFIRMED:
                return self._done(self._deactivated(reclaimed, SYSTEM, f"deactivation {confirmed}"))
            return self._run_deactivate(reclaimed)
        if reclaimed.state is S.DELETING:
            if step is Step.CONFIRMED:
                return self._done(self._deleted(reclaimed, f"{reclaimed.old_key_id} deletion {confirmed}"))
            return self._run_delete(reclaimed)
        if step is Step.REACTIVATE:
            try:
                self._aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, ACTIVE)
            except AwsNotFound:
                return self._done(self._old_gone(reclaimed, reclaimed.state))
        return self._done(self._rolled_back(reclaimed, SYSTEM))

    # Database
    def _move(
        self,
        r: Rotation,
        expected: RotationState,
        new: RotationState,
        *,
        action: str,
        actor: str = SYSTEM,
        outcome: str = "ok",
        detail: str = "",
        guard: str | None = "next_check_at",
        **values: Any,
    ) -> Rotation | None:
        """Move `r` from `expected` to `new` atomically; None when someone else moved it first.

        The row must also be unchanged since it was read (`guard`): a step that stays in its state (a
        reminder, a daily check) is taken once too, and a decision made on a stale read is dropped.
        """
        check_transition(expected, new)
        now = self._clock()
        values |= {"state": new.value, "updated_at": now}
        if new in FINAL:
            values["next_check_at"] = now
        query = update(RotationRow).where(RotationRow.id == r.id, RotationRow.state == expected.value)
        if guard:
            query = query.where(getattr(RotationRow, guard) == getattr(r, guard))
        with self._db.session() as session:
            won = session.execute(query.values(**values).returning(RotationRow.id)).first()
            if won is None:
                return None
            row = session.get(RotationRow, r.id, populate_existing=True)
            assert row is not None
            moved = _snapshot(row)
            self._record(session, actor, action, moved, detail, outcome)
        if self.on_change is not None and new is not expected:
            self.on_change(moved.owner)  # the owner's App Home shows the rotation's stage
        return moved

    def _reschedule(self, r: Rotation, next_check_at: datetime, **values: Any) -> None:
        """Only the next check moves (no step was taken, so nothing is audited)."""
        with self._db.session() as session:
            session.execute(
                update(RotationRow)
                .where(
                    RotationRow.id == r.id,
                    RotationRow.state == r.state.value,
                    RotationRow.next_check_at == r.next_check_at,
                )
                .values(next_check_at=next_check_at, **values)
            )

    def _record(
        self, session: Session, actor: str, action: str, r: Rotation, detail: str = "", outcome: str = "ok"
    ) -> None:
        self._audit.record(
            session,
            actor,
            action,
            outcome=outcome,
            request_id=r.id,
            account=r.account,
            iam_user=r.iam_user,
            key_id=r.old_key_id,
            detail=detail,
        )

    def _select(self, query: Any) -> list[Rotation]:
        with self._db.session() as session:
            return [_snapshot(row) for row in session.scalars(query)]

    # Slack
    def _tell_owner(self, r: Rotation, message: Message) -> None:
        if self._notifier.dm(r.owner, message) is None:
            log.warning("could not tell %s about rotation %s (%s)", r.owner, r.id, r.state.value)

    @staticmethod
    def _done(moved: Rotation | None) -> int:
        return 1 if moved is not None else 0


def _cannot_roll_back(r: Rotation) -> str:
    if r.state is S.ROLLED_BACK:
        return f"Rotation {r.id} was already rolled back ({when(r.updated_at)}): `{r.old_key_id}` is active."
    if r.state in (S.OLD_KEY_DELETED, S.DELETING):
        return f"`{r.old_key_id}` was deleted on {day(r.updated_at)}; it cannot be reactivated. Use `{r.new_key_id}`."
    if r.state is S.ROLLING_BACK:
        return f"Rotation {r.id} is being rolled back right now."
    if r.state is S.CANCELLED:
        why = f" ({r.note})" if r.note else ""
        return (
            f"Rotation {r.id} was cancelled{why}, so it has nothing to roll back. To use `{r.old_key_id}` again, "
            f"file `reactivate {r.old_key_id}`: it goes to approval."
        )
    return f"`{r.old_key_id}` is still active (rotation {r.id}: {r.state.value}); there is nothing to roll back."


def _snapshot(row: RotationRow) -> Rotation:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["state"] = RotationState(values["state"])
    return Rotation(**values)
