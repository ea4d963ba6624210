"""The cut-over of a delivered rotation: its old key is switched off by use, not by date.

Each check reads both keys' status and last use from AWS (automation that acts alone re-reads just before it acts)
and asks bot/domain/cutover.py: the old key is switched off only once the new key has been used since it was
delivered and the old one has been quiet for CUTOVER_QUIET_HOURS; it is deleted ROTATION_GRACE_DAYS later by the
guided rotation's own steps (`old_key_deactivated`, with its Reactivate). While the old key keeps being used, its
owner is told what still uses it (its last use: service and region), a day after delivery and then at most daily.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.aws import AwsError, AwsGateway, AwsNotFound, AwsUnavailable
from bot.clock import Clock
from bot.domain.cutover import Step, Uses, decide
from bot.domain.delivered import WATCH_EVERY
from bot.domain.keys import ACTIVE, INACTIVE
from bot.domain.rotation import RETRY_AFTER, KeyUse, Rotation, RotationState
from bot.services.rotation_steps import done, refused, switched_off
from bot.slack.messages.common import AccountNames, utc
from bot.slack.messages.delivered import build_new_key_gone, build_old_key_in_use, build_switched_off
from bot.slack.messages.rotations import build_cancelled, build_finished, use_text
from bot.store.deliveries import Deliveries
from bot.store.rotations import RotationStore

log = logging.getLogger(__name__)
S = RotationState
Move = Callable[..., Rotation | None]


@dataclass(kw_only=True, eq=False)
class Cutovers:
    rotations: RotationStore
    deliveries: Deliveries
    aws: AwsGateway
    clock: Clock
    quiet: timedelta
    keep_switched_off: timedelta
    move: Move  # the delivered rotations' move (announces a new stage)
    tell: Callable[..., None]  # (rotation, message, alert=False)
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts

    def check(self, r: Rotation) -> int:
        """One cut-over check of a `delivered` rotation whose time has come; 1 when it moved."""
        client = self.aws.account(r.account)
        try:
            statuses = {k.key_id: k.status for k in client.list_access_keys(r.iam_user)}
        except AwsNotFound:
            statuses = {}
        old, new = statuses.get(r.old_key_id), statuses.get(r.new_key_id)
        if new != ACTIVE:
            return self._new_key_gone(r, new)
        if old is None:
            return self._old_gone(r, r.state)
        if old != ACTIVE:
            why = f"`{r.old_key_id}` was found inactive: it was switched off outside this rotation"
            moved = self.move(
                r, r.state, S.CANCELLED, action="rotation_cancelled", outcome="cancelled", detail=why, note=why
            )
            if moved:
                self.tell(moved, build_cancelled(moved, self.names))
            return done(moved)
        old_use, new_use = self._use(client, r.old_key_id), self._use(client, r.new_key_id)
        now = self.clock()
        uses = Uses(r.delivered_at, new_use.date, old_use.date)
        cut = decide(uses, quiet=self.quiet, now=now, last_told=r.told_at or r.delivered_at)
        seen: dict[str, Any] = {"old_last_used": old_use.date, "old_last_used_where": old_use.where}
        if cut.step is Step.SWITCH_OFF:
            claimed = self.move(
                r,
                S.DELIVERED,
                S.SWITCHING_OFF,
                action="rotation_switching-off",
                detail=(
                    f"new key {r.new_key_id} {use_text(new_use, utc)}; {r.old_key_id} {use_text(old_use, utc)}: "
                    f"quiet since {utc(cut.quiet_since)}"
                ),
                **seen,
            )
            return self._switch_off(claimed, new_use) if claimed else 0
        later = now + WATCH_EVERY
        if cut.not_before is not None and now < cut.not_before < later:
            later = cut.not_before
        if not cut.tell_owner:
            self.rotations.reschedule(r, later, **seen)
            return 0
        moved = self.move(
            r,
            S.DELIVERED,
            S.DELIVERED,
            action="rotation_in_use",
            detail=f"{cut.why.value}: {r.old_key_id} {use_text(old_use, utc)}; new key {use_text(new_use, utc)}",
            next_check_at=later,
            told_at=now,
            **seen,
        )
        if moved:
            holding = [d.place for d in self.deliveries.of(r.id) if d.holds(r.new_key_id)]
            self.tell(moved, build_old_key_in_use(moved, old_use, new_use, cut.why, holding, self.names))
        return done(moved)

    def reconcile(self, r: Rotation) -> int:
        """A `switching-off` claim left by a crash, finished from the old key's status in AWS."""
        claimed = self.move(r, S.SWITCHING_OFF, S.SWITCHING_OFF, guard="updated_at", action="rotation_switching-off")
        if claimed is None:
            return 0
        client = self.aws.account(r.account)
        try:
            statuses = {k.key_id: k.status for k in client.list_access_keys(r.iam_user)}
        except AwsNotFound:
            statuses = {}
        old = statuses.get(r.old_key_id)
        if old is None:
            return self._old_gone(claimed, S.SWITCHING_OFF)
        new_use = self._use(client, r.new_key_id) if r.new_key_id in statuses else KeyUse(None)
        if old != ACTIVE:
            return self._switched_off(claimed, new_use, "switched off (confirmed in AWS after an interruption)")
        return self._switch_off(claimed, new_use)

    def _switch_off(self, r: Rotation, new_use: KeyUse) -> int:
        try:
            self.aws.account(r.account).set_key_status(r.iam_user, r.old_key_id, INACTIVE)
        except AwsNotFound:
            return self._old_gone(r, S.SWITCHING_OFF)
        except AwsUnavailable as e:  # it may have happened: the claim stays, and is settled from AWS later
            log.warning("rotation %s: switching off %s: %s; left for recovery", r.id, r.old_key_id, e.message)
            return 0
        except AwsError as e:
            self.move(r, S.SWITCHING_OFF, S.DELIVERED, **refused(e, next_check_at=self.clock() + RETRY_AFTER))
            return 0
        return self._switched_off(r, new_use, "switched off: its consumers use the new key")

    def _switched_off(self, r: Rotation, new_use: KeyUse, detail: str) -> int:
        change = switched_off(r, detail, self.clock(), self.keep_switched_off)
        moved = self.move(r, S.SWITCHING_OFF, S.OLD_KEY_DEACTIVATED, **change)
        if moved:
            self.tell(moved, build_switched_off(moved, new_use, int(self.quiet.total_seconds() // 3600), self.names))
        return done(moved)

    def _old_gone(self, r: Rotation, expected: RotationState) -> int:
        moved = self.move(
            r, expected, S.OLD_KEY_DELETED, action="rotation_deleted", detail=f"{r.old_key_id} was already gone in AWS"
        )
        if moved:
            self.tell(moved, build_finished(moved, outside=True, names=self.names))
        return done(moved)

    def _new_key_gone(self, r: Rotation, status: str | None) -> int:
        why = f"the delivered key {r.new_key_id} is {status or 'gone'} in AWS, outside this rotation"
        moved = self.move(
            r, S.DELIVERED, S.CANCELLED, action="rotation_cancelled", outcome="cancelled", detail=why, note=why
        )
        if moved:
            holding = [d.place for d in self.deliveries.of(r.id) if d.holds(r.new_key_id)]
            self.tell(moved, build_new_key_gone(moved, holding, self.names), alert=True)
        return done(moved)

    @staticmethod
    def _use(client: Any, key_id: str) -> KeyUse:
        try:
            used = client.key_last_used(key_id)
        except AwsNotFound:
            return KeyUse(None)
        return KeyUse(used.date, used.service, used.region)
