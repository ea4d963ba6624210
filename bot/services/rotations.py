"""Guided rotations after the new key is revealed: the schedule that takes each one step further, roll-back,
and the reads other services make.

The domain (bot/domain/rotation.py) decides the next step from the stored rotation and what AWS shows now;
the table in `RotationService.__init__` names the method of bot/services/rotation_steps.py that takes it. A
step that calls AWS first claims the row (deactivating, deleting, rolling_back), so concurrent runners and
restarts never repeat a call; a claim left by a crash is finished from the key's real status in AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta

from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.domain.keys import ACTIVE
from bot.domain.outcomes import (
    CannotRollBack,
    DeliveredRollBack,
    NoRotation,
    NotOwnerOrApprover,
    OldKeyGone,
    RollBack,
    RollBackFailed,
    RolledBack,
)
from bot.domain.requests import Request
from bot.domain.rotation import (
    DELIVERY,
    SCHEDULED,
    KeyUse,
    Live,
    NextStep,
    Rotation,
    RotationPolicy,
    RotationState,
    Step,
    next_event,
    next_step,
    reconcile_step,
    schedule,
)
from bot.services.rotation_notices import RotationNotices
from bot.services.rotation_steps import RotationSteps, refused
from bot.settings import Settings
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames
from bot.slack.messages.requests import who
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.requests import RequestStore
from bot.store.rotations import RotationStore

log = logging.getLogger(__name__)
S = RotationState
ScheduledStep = Callable[[Rotation, NextStep, Live], int]  # 1 when it moved the rotation
ClaimStep = Callable[[Rotation], int]


def rotation_policy(settings: Settings) -> RotationPolicy:
    return RotationPolicy(settings.rotation_grace_days, settings.rotation_stall_days, settings.rotation_delete_days)


@dataclass(kw_only=True, eq=False)
class RotationService:
    settings: InitVar[Settings]
    clock: Clock
    rotations: RotationStore
    store: RequestStore
    audit: AuditLog
    aws: AwsGateway
    notifier: InitVar[Notifier]
    approves_for: Callable[[str, str, str], bool]  # (Slack user, account, IAM user): an approver for that user now
    names: AccountNames = SEVERAL_ACCOUNTS  # its DMs name users `ci`, or `prod:ci` with several accounts
    on_change: Callable[..., None] | None = None  # (Slack user ids) whose App Home to refresh
    # A delivered rotation's roll-back (bot/services/delivered_rotations.py): its new key deleted, the old kept.
    delivered_rollback: Callable[[Rotation, str], DeliveredRollBack | None] | None = None
    _policy: RotationPolicy = field(init=False)
    _claim_timeout: timedelta = field(init=False)
    _steps: RotationSteps = field(init=False)
    _scheduled: dict[Step, ScheduledStep] = field(init=False)
    _claims: dict[RotationState, tuple[ClaimStep, ClaimStep]] = field(init=False)

    def __post_init__(self, settings: Settings, notifier: Notifier) -> None:
        self._policy = rotation_policy(settings)
        # A claim older than this was left by a crash (the same setting as for requests).
        self._claim_timeout = timedelta(minutes=settings.reconcile_after_minutes)
        notices = RotationNotices(
            notifier=notifier,
            approval_channel=settings.approval_channel,
            delete_days=self._policy.delete_days,
            names=self.names,
        )
        steps = RotationSteps(
            rotations=self.rotations,
            aws=self.aws,
            clock=self.clock,
            policy=self._policy,
            notices=notices,
            stage_changed=self._stage_changed,
        )
        self._steps = steps
        # The method that takes each step the domain decides for a scheduled rotation (`next_step`).
        self._scheduled = {
            Step.WAIT: steps.wait,
            Step.START_GRACE: steps.start_grace,
            Step.REMIND: steps.remind,
            Step.DEACTIVATE: steps.deactivate,
            Step.STILL_IN_USE: steps.in_use,
            Step.STALL: steps.in_use,
            Step.RECHECK: steps.in_use,
            Step.DELETE: steps.delete,
            Step.HOLD: steps.hold,
            Step.OLD_INACTIVE: steps.old_inactive,
            Step.OLD_REACTIVATED: steps.old_reactivated,
            Step.OLD_GONE: steps.old_key_gone,
            Step.NEW_GONE: steps.new_key_gone,
        }
        # A claim left by a crash, by its state: (its AWS call had happened: record it, it had not: make it).
        self._claims = {
            S.DEACTIVATING: (steps.confirm_deactivated, steps.run_deactivate),
            S.DELETING: (steps.confirm_deleted, steps.run_delete),
            S.ROLLING_BACK: (steps.confirm_rolled_back, steps.run_reactivate),
        }

    def _stage_changed(self, owner: str) -> None:
        if self.on_change is not None:
            self.on_change(owner)  # the owner's App Home shows the rotation's stage

    # Start
    def start(
        self, request: Request, new_key_id: str, old_key_id: str, created: datetime | None = None
    ) -> Rotation | None:
        """Store the rotation of an approved, revealed rotate request and begin its grace period (idempotent)."""
        created = created or self.clock()
        plan = schedule(created, self._policy)
        now = self.clock()
        new = Rotation(
            id=request.id,
            account=request.account,
            iam_user=request.iam_user,
            old_key_id=old_key_id,
            new_key_id=new_key_id,
            owner=request.requester,
            state=S.NEW_KEY_CREATED,
            created_at=created,
            updated_at=now,
            grace_ends_at=plan.grace_ends,
            next_check_at=now,
            stall_at=plan.stall_at,
        )
        if not self.rotations.add(new, f"new key {new_key_id} replaces {old_key_id}"):
            log.info("rotation %s was already started", request.id)
        rotation = self.get(request.id)
        if rotation is not None and rotation.state is S.NEW_KEY_CREATED:
            return self._steps.begin_grace(rotation, next_event(rotation, 0, self.clock())) or self.get(request.id)
        return rotation

    # Reading
    def get(self, rotation_id: str) -> Rotation | None:
        return self.rotations.get(rotation_id)

    def open_for(self, user_id: str) -> list[Rotation]:
        """The rotations in progress that this Slack user owns."""
        return self.rotations.open_for(user_id)

    def state_for_key(self, key_id: str) -> Rotation | None:
        """The rotation in progress that replaces this key or introduced it, if any."""
        return self.rotations.in_progress_for_key(key_id)

    def in_progress_for_user(self, account: str, iam_user: str) -> Rotation | None:
        return self.rotations.in_progress_for_user(account, iam_user)

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
        now = self.clock()
        self._adopt_orphans()
        done = 0
        for rotation in self.rotations.due(now):
            try:
                done += self._advance(rotation)
            except AwsError as e:  # read failures: the next run tries again
                log.warning("rotation %s could not be checked: %s", rotation.id, e.message)
        for rotation in self.rotations.claims_left_since(now - self._claim_timeout):
            try:
                done += self._reconcile(rotation)
            except AwsError as e:
                log.warning("rotation %s could not be reconciled yet: %s", rotation.id, e.message)
        return done

    def _adopt_orphans(self) -> None:
        """Rotate requests revealed just before a crash, whose rotation was never stored."""
        for request_id in self.rotations.revealed_without_rotation():
            request = self.store.get(request_id)
            if request is None or request.new_key_id is None or request.key_id is None:
                continue
            log.warning("rotation %s was revealed but not stored; starting it now", request.id)
            self.start(request, request.new_key_id, request.key_id, created=request.updated_at)

    def _live(self, r: Rotation) -> Live:
        client = self.aws.account(r.account)
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
        decision = next_step(r, live, self.clock(), self._policy)
        return self._scheduled[decision.step](r, decision, live)

    def _reconcile(self, r: Rotation) -> int:
        """Finish a claim left by a crash from the key's real status in AWS; no AWS call runs twice."""
        reclaimed = self._steps.move(
            r, r.state, r.state, action="rotation_reconciling", detail="interrupted step resumed", guard="updated_at"
        )
        if reclaimed is None:  # another runner took it over
            return 0
        live = self._live(reclaimed)
        step = reconcile_step(reclaimed.state, live)
        if step is Step.OLD_GONE:
            return self._steps.old_gone(reclaimed, reclaimed.state)
        if step is Step.NEW_GONE:
            return self._steps.new_gone(reclaimed, reclaimed.state, live)
        record, repeat = self._claims[reclaimed.state]
        return record(reclaimed) if step is Step.CONFIRMED else repeat(reclaimed)

    def old_key_deactivated_by(self, request: Request) -> int:
        """A deactivate request (break-glass or approved) turned off a rotation's old key: that rotation ends.

        Roll-back reverses only the rotation's own deactivation; re-enabling this key is a `reactivate` request.
        """
        if request.key_id is None:
            return 0
        by = f"request {request.id} of {who(request.requester)}"
        why = f"`{request.key_id}` was deactivated outside this rotation, by {by}"
        rotations = self.rotations.cancellable_with_old_key(request.account, request.key_id)
        return sum(self._steps.cancel(r, why, guard=None) for r in rotations)

    # Roll-back
    def rollback(self, rotation_id: str, user_id: str) -> RollBack:
        """The Reactivate button: the old key active again, the rotation rolled back."""
        r = self.get(rotation_id)
        if r is None:
            return NoRotation(rotation_id)
        if user_id != r.owner and not self.approves_for(user_id, r.account, r.iam_user):
            self.audit.refused(
                user_id,
                "roll back",
                "neither the rotation's owner nor an approver for the user",
                request_id=r.id,
                account=r.account,
                iam_user=r.iam_user,
                key_id=r.old_key_id,
            )
            return NotOwnerOrApprover(r)
        if r.state in DELIVERY and self.delivered_rollback is not None:
            delivered = self.delivered_rollback(r, user_id)
            if delivered is not None:
                return delivered
        if r.state is not S.OLD_KEY_DEACTIVATED:
            return CannotRollBack(r)
        claimed = self._steps.move(
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
            return CannotRollBack(latest) if latest else NoRotation(rotation_id)
        try:
            self.aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, ACTIVE)
        except AwsNotFound:
            self._steps.old_gone(claimed, S.ROLLING_BACK)
            return OldKeyGone(r)
        except AwsError as e:
            self._steps.move(claimed, S.ROLLING_BACK, S.OLD_KEY_DEACTIVATED, **refused(e, actor=user_id))
            return RollBackFailed(r, e.message)
        self._steps.rolled_back(claimed, user_id)
        return RolledBack(r)
