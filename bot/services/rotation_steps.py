"""The steps of a guided rotation: each moves the rotation's row once (a conditional UPDATE through the
rotation store), makes the AWS call that move claimed, and sends the step's notice.

Which step comes next is decided in bot/domain/rotation.py; the rotation service picks the method here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.aws import AwsError, AwsGateway, AwsNotFound, AwsUnavailable
from bot.clock import Clock
from bot.domain.keys import ACTIVE, INACTIVE
from bot.domain.rotation import (
    CHECK_EVERY,
    RETRY_AFTER,
    KeyUse,
    Live,
    NextStep,
    Rotation,
    RotationPolicy,
    RotationState,
    Step,
)
from bot.services.rotation_notices import RotationNotices
from bot.slack.messages.common import utc
from bot.slack.messages.rotations import use_text
from bot.store.audit import SYSTEM
from bot.store.rotations import RotationStore

S = RotationState
_CONFIRMED = "confirmed in AWS after an interruption"

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class RotationSteps:
    rotations: RotationStore
    aws: AwsGateway
    clock: Clock
    policy: RotationPolicy
    notices: RotationNotices
    stage_changed: Callable[[str], None]  # (the owner) a rotation moved to another state

    def move(self, r: Rotation, expected: RotationState, new: RotationState, **change: Any) -> Rotation | None:
        """The store's conditional move (None when someone else moved the row first); a new state is announced."""
        moved = self.rotations.move(r, expected, new, **change)
        if moved is not None and new is not expected:
            self.stage_changed(moved.owner)
        return moved

    # Scheduled: each takes the rotation, the domain's decision and what AWS showed; 1 when it moved the rotation
    def wait(self, r: Rotation, d: NextStep, live: Live) -> int:
        """Nothing to do yet: only the next check moves (no step was taken, so nothing is audited)."""
        self.rotations.reschedule(r, d.next_check_at, **_seen(live.old_use))
        return 0

    def start_grace(self, r: Rotation, d: NextStep, live: Live) -> int:
        return done(self.begin_grace(r, d.next_check_at))

    def remind(self, r: Rotation, d: NextStep, live: Live) -> int:
        use = live.old_use
        moved = self.move(
            r,
            S.GRACE,
            S.GRACE,
            action="rotation_reminder",
            detail=f"reminder {d.reminders_sent}: {r.old_key_id} {use_text(use, utc)}",
            next_check_at=d.next_check_at,
            reminders_sent=d.reminders_sent,
            **_seen(use),
        )
        if moved:
            self.notices.reminder(moved, use, self.clock())
        return done(moved)

    def in_use(self, r: Rotation, d: NextStep, live: Live) -> int:
        """The old key is still used after the grace period: it stays active; at the stall date, approvers hear."""
        use = live.old_use
        moved = self.move(
            r,
            r.state,
            d.state,
            action="rotation_stalled" if d.step is Step.STALL else "rotation_in_use",
            detail=f"{r.old_key_id} {use_text(use, utc)}; not deactivated",
            next_check_at=d.next_check_at,
            **_seen(use),
        )
        if moved and d.step is Step.STILL_IN_USE:
            self.notices.still_in_use(moved, use)
        elif moved and d.step is Step.STALL:
            self.notices.stalled(moved, use)
        return done(moved)

    def hold(self, r: Rotation, d: NextStep, live: Live) -> int:
        use = live.old_use
        moved = self.move(
            r,
            r.state,
            r.state,
            action="rotation_hold",
            detail=f"{r.old_key_id} {use_text(use, utc)} after it was deactivated; not deleted",
            next_check_at=d.next_check_at,
            **_seen(use),
        )
        return done(moved)

    def deactivate(self, r: Rotation, d: NextStep, live: Live) -> int:
        use = live.old_use
        claimed = self.move(
            r,
            r.state,
            S.DEACTIVATING,
            action="rotation_deactivating",
            detail=f"{r.old_key_id} {use_text(use, utc)}: not used since {utc(r.created_at)}",
            **_seen(use),
        )
        return self.run_deactivate(claimed) if claimed else 0

    def delete(self, r: Rotation, d: NextStep, live: Live) -> int:
        claimed = self.move(r, S.OLD_KEY_DEACTIVATED, S.DELETING, action="rotation_deleting", detail=r.old_key_id)
        return self.run_delete(claimed) if claimed else 0

    def old_inactive(self, r: Rotation, d: NextStep, live: Live) -> int:
        why = f"`{r.old_key_id}` was found inactive: it was deactivated outside this rotation"
        return self.cancel(r, why, guard="next_check_at")

    def old_reactivated(self, r: Rotation, d: NextStep, live: Live) -> int:
        moved = self.move(
            r, r.state, S.ROLLED_BACK, action="rotation_rolled_back", detail=f"{r.old_key_id} reactivated outside"
        )
        if moved:
            self.notices.rolled_back(moved, None)
        return done(moved)

    def old_key_gone(self, r: Rotation, d: NextStep, live: Live) -> int:
        return self.old_gone(r, r.state)

    def new_key_gone(self, r: Rotation, d: NextStep, live: Live) -> int:
        return self.new_gone(r, r.state, live)

    # Claimed: the AWS call, then its record; also what finishes a claim left by a crash
    def run_deactivate(self, r: Rotation) -> int:
        try:
            self.aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, INACTIVE)
        except AwsNotFound:
            return self.old_gone(r, S.DEACTIVATING)
        except AwsUnavailable as e:
            return _keep_claim(r, e)
        except AwsError as e:
            self._retry_later(r, S.GRACE, e)
            return 0
        return self._deactivated(r, "deactivated; pre-approved by the rotation's approval")

    def confirm_deactivated(self, r: Rotation) -> int:
        return self._deactivated(r, f"deactivation {_CONFIRMED}")

    def run_delete(self, r: Rotation) -> int:
        try:
            self.aws.account(r.account).delete_access_key(r.iam_user, r.old_key_id)
        except AwsNotFound:
            # Gone either way; most likely this very call, retried by boto3 after its first answer was lost.
            return self._deleted(r, f"{r.old_key_id} deletion answered: already gone in AWS; rotation complete")
        except AwsUnavailable as e:
            return _keep_claim(r, e)
        except AwsError as e:
            self._retry_later(r, S.OLD_KEY_DEACTIVATED, e)
            return 0
        return self._deleted(r, f"{r.old_key_id} deleted; rotation complete")

    def confirm_deleted(self, r: Rotation) -> int:
        return self._deleted(r, f"{r.old_key_id} deletion {_CONFIRMED}")

    def run_reactivate(self, r: Rotation) -> int:
        """A roll-back claimed by someone's click whose AWS call did not happen (a crash) is made by the bot."""
        try:
            self.aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, ACTIVE)
        except AwsNotFound:
            return self.old_gone(r, S.ROLLING_BACK)
        return self.confirm_rolled_back(r)

    def confirm_rolled_back(self, r: Rotation) -> int:
        return self.rolled_back(r, SYSTEM)

    # Moves with their notices; 1 when the rotation moved, 0 when someone else moved it first
    def begin_grace(self, r: Rotation, next_check_at: datetime) -> Rotation | None:
        moved = self.move(
            r,
            S.NEW_KEY_CREATED,
            S.GRACE,
            action="rotation_grace",
            detail=f"grace until {utc(r.grace_ends_at)}",
            next_check_at=next_check_at,
        )
        if moved:
            self.notices.grace_started(moved)
        return moved

    def _deactivated(self, r: Rotation, detail: str) -> int:
        change = switched_off(r, detail, self.clock(), timedelta(days=self.policy.delete_days))
        moved = self.move(r, S.DEACTIVATING, S.OLD_KEY_DEACTIVATED, **change)
        if moved:
            self.notices.deactivated(moved)
        return done(moved)

    def _deleted(self, r: Rotation, detail: str) -> int:
        moved = self.move(r, S.DELETING, S.OLD_KEY_DELETED, action="rotation_deleted", detail=detail)
        if moved:
            self.notices.finished(moved)
        return done(moved)

    def _retry_later(self, r: Rotation, back_to: RotationState, error: AwsError) -> None:
        """AWS refused a step: give the claim back and try again later, not at once."""
        self.move(r, r.state, back_to, **refused(error, next_check_at=self.clock() + RETRY_AFTER))

    def rolled_back(self, r: Rotation, actor: str) -> int:
        moved = self.move(
            r,
            S.ROLLING_BACK,
            S.ROLLED_BACK,
            actor=actor,
            action="rotation_rolled_back",
            detail=f"{r.old_key_id} active again; {r.new_key_id} kept",
        )
        if moved and actor != r.owner:
            self.notices.rolled_back(moved, actor)
        return done(moved)

    def old_gone(self, r: Rotation, expected: RotationState) -> int:
        moved = self.move(
            r,
            expected,
            S.OLD_KEY_DELETED,
            action="rotation_deleted",
            detail=f"{r.old_key_id} was already gone in AWS; recorded",
        )
        if moved:
            self.notices.finished(moved, outside=True)
        return done(moved)

    def new_gone(self, r: Rotation, expected: RotationState, live: Live) -> int:
        old = {None: "gone", ACTIVE: "active"}.get(live.old_status, "inactive")
        moved = self.move(
            r,
            expected,
            S.CANCELLED,
            action="rotation_cancelled",
            outcome="cancelled",
            detail=f"new key {r.new_key_id} is {live.new_status or 'gone'} in AWS; old key {r.old_key_id} is {old}",
        )
        if moved:
            self.notices.cancelled(moved)
        return done(moved)

    def cancel(self, r: Rotation, why: str, *, guard: str | None) -> int:
        """End the rotation because its old key was turned off by someone else; the reason is kept in `note`."""
        moved = self.move(
            r, r.state, S.CANCELLED, action="rotation_cancelled", outcome="cancelled", detail=why, guard=guard, note=why
        )
        if moved:
            self.notices.cancelled(moved)
        return done(moved)


def _seen(use: KeyUse) -> dict[str, Any]:
    """The old key's last use, as the rotation row keeps it."""
    return {"old_last_used": use.date, "old_last_used_where": use.where}


def done(moved: Rotation | None) -> int:
    """1 when the rotation moved, 0 when someone else moved it first."""
    return 1 if moved is not None else 0


def switched_off(r: Rotation, detail: str, now: datetime, keep: timedelta) -> dict[str, Any]:
    """The move's change for `r`'s old key switched off `now` and deleted `keep` later (audited with `detail`)."""
    delete_after = now + keep
    return {
        "action": "rotation_deactivated",
        "detail": f"{r.old_key_id} {detail}; deleted from {utc(delete_after)}",
        "deactivated_at": now,
        "delete_after": delete_after,
        "next_check_at": min(now + CHECK_EVERY, delete_after),
    }


def refused(error: AwsError, **change: Any) -> dict[str, Any]:
    """The move's change that gives a claim back after AWS refused its step (also setting `change`)."""
    return {"action": "rotation_retry", "outcome": "retry", "detail": error.message, **change}


def _keep_claim(r: Rotation, error: AwsUnavailable) -> int:
    """The answer was lost: the call may have changed the key. The claim stays, and crash recovery settles it
    from the key's state in AWS once it is old enough; giving it back would read a done step as done by hand."""
    log.warning("rotation %s: %s (%s); left for recovery", r.id, r.state.value, error.message)
    return 0
