"""Delivered rotations: a machine user's new key written to every location of LOCATIONS_FILE by Keywarden and seen
by nobody, then the old key switched off by use (bot/services/delivered_cutover.py).

The new key lives only in its locations: Keywarden keeps no copy, in the database or anywhere. So a delivery that
must go on later (a refused location tried again, a crash) reads the key back from a readable location that already
holds it (`recover()`); when none does, that key can have reached no consumer (readable places are written first,
bot/domain/delivered.py), so it is deleted and a fresh one made. Every location ends with the same key, and the
user has exactly one new key.

A refused location never breaks anything: the old key stays active, the places already written keep the new key
(both work), and the rotation waits in `delivery-failed`, naming the place, until it is tried again (with backoff)
or rolled back. Every step claims the rotation's row (`delivering`, `switching-off`, `discarding`) with one
conditional UPDATE, so two runners never both act, and a claim left by a crash is finished from what AWS and the
locations show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.aws import AwsError, AwsGateway, AwsNotFound, AwsThrottled, AwsUnavailable, NewKey
from bot.clock import Clock
from bot.domain.delivered import CLOCK_SKEW, WATCH_EVERY, Pass, retry_at
from bot.domain.locations import Credentials
from bot.domain.outcomes import DeliveredRollBack, Discarded, MovedOn, RollBackFailed, RollBackPending
from bot.domain.requests import Request
from bot.domain.rotation import Rotation, RotationState
from bot.logs import remember_secret
from bot.services.delivered_cutover import Cutovers
from bot.services.delivery_writes import Places, Unsure, recover, write_all
from bot.services.rotation_steps import refused
from bot.slack.messages.common import AccountNames, Message
from bot.slack.messages.delivered import build_delivered_late, build_delivery_failed, build_discarded
from bot.slack.notifier import Notifier
from bot.store.audit import SYSTEM
from bot.store.deliveries import Deliveries
from bot.store.rotations import RotationStore

log = logging.getLogger(__name__)
S = RotationState


@dataclass(kw_only=True, eq=False)
class DeliveredRotations:
    rotations: RotationStore
    deliveries: Deliveries
    aws: AwsGateway
    clock: Clock
    places: Places
    notifier: Notifier
    alert_channel: str | None
    quiet: timedelta  # CUTOVER_QUIET_HOURS
    keep_switched_off: timedelta  # ROTATION_GRACE_DAYS: an old key switched off is deleted this long after
    claim_timeout: timedelta  # a claim older than this was left by a crash
    stage_changed: Callable[[str], None]
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts
    workers: int = 8  # rotations advanced at once (each waits on AWS and the locations)

    def __post_init__(self) -> None:
        self.cutovers = Cutovers(
            rotations=self.rotations,
            deliveries=self.deliveries,
            aws=self.aws,
            clock=self.clock,
            quiet=self.quiet,
            keep_switched_off=self.keep_switched_off,
            move=self._move,
            tell=self.tell,
            names=self.names,
        )

    # Who delivers
    def delivers(self, account: str, user: str) -> bool:
        """Keywarden delivers this user's keys itself (it is in LOCATIONS_FILE)."""
        return self.places.entry(account, user) is not None

    def where(self, account: str, user: str) -> list[str]:
        entry = self.places.entry(account, user)
        return [spec.describe() for spec in entry.deliver] if entry else []

    def get(self, rotation_id: str) -> Rotation | None:
        return self.rotations.get(rotation_id)

    def holding(self, r: Rotation) -> list[str]:
        """The places that hold the rotation's new key, as far as Keywarden wrote them."""
        return [d.place for d in self.deliveries.of(r.id) if d.holds(r.new_key_id)]

    # The first delivery, right after the key was made for an approved request
    def begin(self, request: Request, key: NewKey, owner: str, first: str = "") -> Rotation:
        """Store the rotation (claimed: `delivering`) with its new key's id, before anything is written anywhere."""
        now = self.clock()
        assert request.key_id is not None
        new = Rotation(
            id=request.id,
            account=request.account,
            iam_user=request.iam_user,
            old_key_id=request.key_id,
            new_key_id=key.key_id,
            owner=owner,
            state=S.DELIVERING,
            created_at=now,
            updated_at=now,
            grace_ends_at=now,
            next_check_at=now,
            stall_at=now,
        )
        where = ", ".join(self.where(request.account, request.iam_user))
        self.rotations.add(new, f"{first}new key {key.key_id} replaces {request.key_id}; delivered to {where}")
        stored = self.rotations.get(request.id)
        assert stored is not None
        return stored

    def first_pass(self, r: Rotation, key: NewKey, *, summarised: bool = False) -> Rotation | None:
        """Write the new key everywhere. `summarised` (a scheduled run, which posts one summary): a refusal is told to
        the owner alone, not also to the alert channel rotation by rotation."""
        remember_secret(key.secret)
        return self._deliver(r, Credentials(key.key_id, key.secret), retried=False, summarised=summarised)

    # Later passes: a refused location tried again, a claim left by a crash
    def resend(self, r: Rotation) -> Rotation | None:
        """Deliver again from `delivery-failed` (its retry is due) or from a `delivering` claim left by a crash."""
        if r.state is S.DELIVERY_FAILED:
            claimed = self._move(r, S.DELIVERY_FAILED, S.DELIVERING, action="rotation_delivering", detail="again")
        else:
            claimed = self._move(
                r, S.DELIVERING, S.DELIVERING, guard="updated_at", action="rotation_delivering", detail="resumed"
            )
        if claimed is None:
            return None  # another runner took it
        try:
            key = self._key(claimed)
        except Unsure as e:
            return self._finish(claimed, Pass((), tuple(e.failed), transient=True), retried=True, before=r.note)
        except AwsUnavailable as e:
            log.warning("rotation %s: %s; left for recovery", r.id, e.message)
            return None  # whether a key was made is unknown: the claim stays, and is settled later
        except AwsError as e:
            failed = (("IAM", e.message),)
            transient = isinstance(e, AwsThrottled)
            return self._finish(claimed, Pass((), failed, transient=transient), retried=True, before=r.note)
        if key is None:
            return None
        current, credentials = key
        return self._deliver(current, credentials, retried=True, before=r.note)

    def _key(self, r: Rotation) -> tuple[Rotation, Credentials] | None:
        """The rotation's new key, read back from a readable place that holds it; else (nothing readable holds it,
        so no consumer has it) a fresh key in its place. Unsure when a readable place could not be read."""
        client = self.aws.account(r.account)
        try:
            keys, aws_now = client.access_keys_and_time(r.iam_user)
        except AwsNotFound:
            raise AwsError(f"the IAM user `{r.iam_user}` no longer exists") from None
        if any(k.key_id == r.new_key_id for k in keys):
            found = recover(self.places, r)
            if found is not None:
                return r, found
        # Made for this rotation and held by no readable place: a crash left it, or only unreadable places got it.
        # Our clock stamped the rotation, AWS's the keys: their difference now (the listing's Date) is allowed for.
        since = r.created_at + ((aws_now - self.clock()) if aws_now is not None else timedelta(0)) - CLOCK_SKEW
        stale = [k for k in keys if k.key_id == r.new_key_id or (k.key_id != r.old_key_id and k.created >= since)]
        for k in stale:
            with suppress(AwsNotFound):  # a delete resent after a lost answer
                client.delete_access_key(r.iam_user, k.key_id)
        gone = ", ".join(k.key_id for k in stale) or "none"
        fresh = client.create_access_key(r.iam_user)
        remember_secret(fresh.secret)
        moved = self._move(
            r,
            S.DELIVERING,
            S.DELIVERING,
            guard="updated_at",
            action="rotation_delivering",
            detail=f"no readable place held {r.new_key_id}: deleted ({gone}); fresh key {fresh.key_id}",
            new_key_id=fresh.key_id,
        )
        if moved is None:  # taken over meanwhile: the other runner finds this key made for the rotation and deletes it
            log.warning("rotation %s was taken over while it made key %s", r.id, fresh.key_id)
            return None
        return moved, Credentials(fresh.key_id, fresh.secret)

    def _deliver(
        self, r: Rotation, key: Credentials, *, retried: bool, before: str | None = None, summarised: bool = False
    ) -> Rotation | None:
        """Write the key to every place that does not hold it yet, readable places first; then `delivered`, or
        `delivery-failed` naming the places that refused."""
        outcome = write_all(self.places, self.deliveries, r, key)
        return self._finish(r, outcome, retried=retried, before=before, summarised=summarised)

    def _finish(
        self, r: Rotation, outcome: Pass, *, retried: bool, before: str | None = None, summarised: bool = False
    ) -> Rotation | None:
        now = self.clock()
        if outcome.complete:
            moved = self._move(
                r,
                S.DELIVERING,
                S.DELIVERED,
                guard="updated_at",
                action="rotation_delivered",
                detail=f"{r.new_key_id} delivered to {', '.join(outcome.delivered)}",
                delivered_at=now,
                next_check_at=now + WATCH_EVERY,
                note=None,
            )
            if moved is not None and retried:
                self.tell(moved, build_delivered_late(moved, outcome.delivered, self.names))
            return moved
        failures = max([d.attempts for d in self.deliveries.of(r.id)] or [1])
        retry = retry_at(failures, outcome.transient, now)
        note = "; ".join(f"{place}: {why}" for place, why in outcome.failed)[:1000]
        moved = self._move(
            r,
            S.DELIVERING,
            S.DELIVERY_FAILED,
            guard="updated_at",
            action="rotation_delivery-failed",
            outcome="failed",
            detail=note,
            next_check_at=retry,
            note=note,
        )
        if moved is not None and note != before:  # told once for each new set of refusals, not at every retry
            message = build_delivery_failed(moved, outcome, retry, self.names)
            if not summarised:
                self.tell(moved, message, alert=True)
            elif moved.owner != SYSTEM:
                self.tell(moved, message)
        return moved

    # The schedule
    def advance_due(self) -> int:
        """Retry refused deliveries, check cut-overs, finish claims left by crashes; safe to run concurrently."""
        now = self.clock()
        work: list[Callable[[], object]] = []
        for r in self.deliveries.due(now):
            work.append(partial(self.resend if r.state is S.DELIVERY_FAILED else self.cutovers.check, r))
        for r in self.deliveries.claims_left_since(now - self.claim_timeout):
            work.append(partial(self._reconcile, r))
        if not work:
            return 0
        with ThreadPoolExecutor(max_workers=min(self.workers, len(work)), thread_name_prefix="deliveries") as pool:
            return sum(1 for moved in pool.map(_logged, work) if moved)

    def _reconcile(self, r: Rotation) -> object:
        if r.state is S.DELIVERING:
            return self.resend(r)
        if r.state is S.SWITCHING_OFF:
            return self.cutovers.reconcile(r)
        claimed = self._move(r, S.DISCARDING, S.DISCARDING, guard="updated_at", action="rotation_discarding")
        return self._discard(claimed, SYSTEM) if claimed else None

    # Roll-back of a delivery: the new key deleted, the old one kept
    def rollback(self, r: Rotation, user_id: str) -> DeliveredRollBack | None:
        """The Roll back button on a delivery (`delivered` or `delivery-failed`); None for any other state (the
        rotation service answers). The caller checked that `user_id` may roll back."""
        if r.state not in (S.DELIVERED, S.DELIVERY_FAILED):
            return None
        claimed = self._move(
            r, r.state, S.DISCARDING, actor=user_id, guard=None, action="rotation_discarding", detail=r.new_key_id
        )
        if claimed is None:
            return MovedOn(r)
        try:
            self.aws.account(r.account).delete_access_key(r.iam_user, r.new_key_id)
        except AwsNotFound:
            pass
        except AwsUnavailable as e:
            return RollBackPending(r, e.message)
        except AwsError as e:
            self._move(claimed, S.DISCARDING, r.state, **refused(e, actor=user_id))
            return RollBackFailed(r, e.message)
        return self._discarded(claimed, user_id)

    def _discard(self, r: Rotation, actor: str) -> Discarded | None:
        try:
            self.aws.account(r.account).delete_access_key(r.iam_user, r.new_key_id)
        except AwsNotFound:
            pass
        except AwsError as e:
            log.warning("rotation %s: the roll-back's deletion failed (%s); tried again later", r.id, e.message)
            return None
        return self._discarded(r, actor)

    def _discarded(self, r: Rotation, actor: str) -> Discarded:
        holding = self.holding(r)
        stale = f"; {', '.join(holding)} still hold it" if holding else ""
        moved = self._move(
            r,
            S.DISCARDING,
            S.ROLLED_BACK,
            actor=actor,
            action="rotation_rolled_back",
            detail=f"new key {r.new_key_id} deleted, {r.old_key_id} kept{stale}",
        )
        if moved is not None:
            self.tell(moved, build_discarded(moved, actor, holding, self.names), alert=bool(holding))
        return Discarded(r, tuple(holding))

    # Moves and words
    def _move(self, r: Rotation, expected: RotationState, new: RotationState, **change: object) -> Rotation | None:
        change.setdefault("guard", "next_check_at")
        moved = self.rotations.move(r, expected, new, **change)  # type: ignore[arg-type]
        if moved is not None and new is not expected:
            self.stage_changed(moved.owner)
        return moved

    def tell(self, r: Rotation, message: Message, *, alert: bool = False) -> None:
        """The rotation's owner (or, with nobody to DM, the alert channel); with `alert`, the alert channel too."""
        owner = r.owner if r.owner != SYSTEM else None
        if owner is not None and self.notifier.dm(owner, message) is None:
            log.warning("could not tell %s about rotation %s (%s)", owner, r.id, r.state.value)
        if (alert or owner is None) and self.alert_channel:
            self.notifier.post(self.alert_channel, message)


def _logged(work: Callable[[], object]) -> object:
    try:
        return work()
    except AwsError as e:  # nothing was changed: the next run looks again
        log.warning("delivered rotation: AWS could not be read (%s); tried again at the next run", e.message)
    except Exception:  # one rotation's failure does not stop the others
        log.exception("delivered rotation: a step failed")
    return None
