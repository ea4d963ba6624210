"""Guided rotation: its states, the allowed transitions, the plan and its dates, and the next step.

Everything here is a pure function of plain values and `now`; the service reads AWS and the database
and applies what these functions decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.keys import ACTIVE, InputError, KeyFacts
from bot.domain.transitions import TransitionError, check_move


class RotationState(StrEnum):
    NEW_KEY_CREATED = "new_key_created"
    GRACE = "grace"
    DEACTIVATING = "deactivating"
    OLD_KEY_DEACTIVATED = "old_key_deactivated"
    DELETING = "deleting"
    OLD_KEY_DELETED = "old_key_deleted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    STALLED = "stalled"
    CANCELLED = "cancelled"
    # Delivered rotations (a machine user of LOCATIONS_FILE: bot/services/delivered_rotations.py)
    DELIVERING = "delivering"  # claim: the new key is being written to its locations
    DELIVERY_FAILED = "delivery-failed"  # a location refused: tried again with backoff, or rolled back
    DELIVERED = "delivered"  # every location holds the new key: the cut-over by use switches the old one off
    SWITCHING_OFF = "switching-off"  # claim: the cut-over's deactivation of the old key
    DISCARDING = "discarding"  # claim: a delivery rolled back, its new key being deleted


S = RotationState

# The only transitions a rotation may make. `deactivating`, `deleting` and `rolling_back` are claims: a
# step moves there before its AWS call, so a second runner (or a restart) never repeats the call; a
# claim goes back to where it came from when AWS refuses, and to itself when a restart re-claims it.
# `old_key_deactivated` is reached only through the rotation's own `deactivating` claim: roll-back
# (Reactivate without approval) may reverse that deactivation and no other. An old key turned off by
# anyone else (break-glass, an approved request, by hand) ends the rotation: `cancelled`.
TRANSITIONS: dict[RotationState, frozenset[RotationState]] = {
    S.NEW_KEY_CREATED: frozenset({S.GRACE, S.CANCELLED}),
    S.GRACE: frozenset({S.GRACE, S.DEACTIVATING, S.OLD_KEY_DELETED, S.STALLED, S.CANCELLED}),
    S.STALLED: frozenset({S.STALLED, S.DEACTIVATING, S.OLD_KEY_DELETED, S.CANCELLED}),
    S.DEACTIVATING: frozenset({S.DEACTIVATING, S.OLD_KEY_DEACTIVATED, S.OLD_KEY_DELETED, S.GRACE, S.CANCELLED}),
    S.OLD_KEY_DEACTIVATED: frozenset(
        {S.OLD_KEY_DEACTIVATED, S.DELETING, S.ROLLING_BACK, S.ROLLED_BACK, S.OLD_KEY_DELETED, S.CANCELLED}
    ),
    S.DELETING: frozenset({S.DELETING, S.OLD_KEY_DELETED, S.OLD_KEY_DEACTIVATED}),
    S.ROLLING_BACK: frozenset({S.ROLLING_BACK, S.ROLLED_BACK, S.OLD_KEY_DELETED, S.OLD_KEY_DEACTIVATED}),
    # A delivered rotation's own way to `old_key_deactivated`; from there on it is a guided rotation's.
    S.DELIVERING: frozenset({S.DELIVERING, S.DELIVERED, S.DELIVERY_FAILED}),
    S.DELIVERY_FAILED: frozenset({S.DELIVERY_FAILED, S.DELIVERING, S.DISCARDING}),
    S.DELIVERED: frozenset({S.DELIVERED, S.SWITCHING_OFF, S.DISCARDING, S.OLD_KEY_DELETED, S.CANCELLED}),
    S.SWITCHING_OFF: frozenset({S.SWITCHING_OFF, S.OLD_KEY_DEACTIVATED, S.DELIVERED, S.OLD_KEY_DELETED}),
    S.DISCARDING: frozenset({S.DISCARDING, S.ROLLED_BACK, S.DELIVERED, S.DELIVERY_FAILED}),
}
FINAL = frozenset({S.OLD_KEY_DELETED, S.ROLLED_BACK, S.CANCELLED})
CLAIMS = frozenset({S.DEACTIVATING, S.DELETING, S.ROLLING_BACK})
# Taken further by the delivered rotations' service only: its claims, and the states it waits in.
DELIVERY_CLAIMS = frozenset({S.DELIVERING, S.SWITCHING_OFF, S.DISCARDING})
DELIVERY = DELIVERY_CLAIMS | {S.DELIVERY_FAILED, S.DELIVERED}
SCHEDULED = frozenset(RotationState) - FINAL - CLAIMS - DELIVERY  # advanced when their next check is due
# Where a deactivation of the old key by someone else (break-glass, an approved request) ends the rotation.
CANCELLABLE = frozenset(s for s in RotationState if S.CANCELLED in TRANSITIONS.get(s, frozenset()))

CHECK_EVERY = timedelta(days=1)  # at least daily: faults (a key deleted outside) are noticed within a day
RETRY_AFTER = timedelta(hours=1)  # after AWS refused a step
CLOCK_SKEW = timedelta(minutes=1)


class PlanChanged(ValueError):
    """The keys in AWS no longer match the approved plan."""


def check_transition(current: RotationState, new: RotationState) -> None:
    check_move(TRANSITIONS, current, new, f"a rotation in {current}")


@dataclass(frozen=True)
class RotationPolicy:
    grace_days: int = 7
    stall_days: int = 14
    delete_days: int = 7


@dataclass(frozen=True)
class Schedule:
    """The dates of one rotation, all from the new key's creation."""

    created: datetime
    reminders: tuple[datetime, ...]
    grace_ends: datetime
    stall_at: datetime
    delete_earliest: datetime  # if the old key is deactivated when the grace period ends


def reminder_times(created: datetime, grace_ends: datetime) -> tuple[datetime, ...]:
    """Halfway through the grace period and the day before it ends (once each, inside the period)."""
    candidates = {created + (grace_ends - created) / 2, grace_ends - timedelta(days=1)}
    return tuple(sorted(t for t in candidates if created < t < grace_ends))


def schedule(created: datetime, policy: RotationPolicy) -> Schedule:
    grace_ends = created + timedelta(days=policy.grace_days)
    return Schedule(
        created=created,
        reminders=reminder_times(created, grace_ends),
        grace_ends=grace_ends,
        stall_at=created + timedelta(days=policy.stall_days),
        delete_earliest=grace_ends + timedelta(days=policy.delete_days),
    )


# Filing: which key is replaced, and what must happen first
def choose_keys(user: str, keys: Sequence[KeyFacts], key_id: str | None) -> tuple[str, str | None]:
    """(the key to replace, an inactive key to delete first or None); InputError with guidance when refused."""
    if key_id is not None:
        old = next((k for k in keys if k.key_id == key_id), None)
        if old is None:
            raise InputError(f"`{key_id}` is not a key of `{user}` any more. `list {user}` shows its keys.")
        if not old.active:
            raise InputError(
                f"`{key_id}` is inactive: only an active key is rotated. `reactivate {key_id}` if it is still "
                f"needed, or `create {user}` for a fresh key."
            )
    else:
        active = [k for k in keys if k.active]
        if not keys:
            raise InputError(f"`{user}` has no access keys, so there is nothing to rotate: `create {user}` makes one.")
        if not active:
            raise InputError(
                f"`{user}` has no active key to rotate. `create {user}` makes a new one; "
                f"`delete {keys[0].key_id}` removes the inactive one."
            )
        old = active[0]
        if len(active) > 1:
            _refuse_two_active(user, keys)
    others = [k for k in keys if k.key_id != old.key_id]
    if any(k.active for k in others):
        _refuse_two_active(user, keys)
    return str(old.key_id), (str(others[0].key_id) if others else None)


def _refuse_two_active(user: str, keys: Sequence[KeyFacts]) -> None:
    ids = " and ".join(f"`{k.key_id}`" for k in keys)
    raise InputError(
        f"`{user}` has two active keys ({ids}), the AWS limit, so there is no room for a new one. "
        f"Find the one nothing uses any more (`list {user}` shows their last use), `deactivate` it, then "
        "`delete` it; then rotate the other."
    )


def confirm_pre_step(keys: Sequence[KeyFacts], old_key_id: str, filed_at: datetime) -> str | None:
    """Right before the new key is created: the inactive key the plan deletes first, or None.

    PlanChanged when AWS no longer matches what was approved: the old key gone or inactive, another
    active key, or a second key that appeared after the request was filed.
    """
    old = next((k for k in keys if k.key_id == old_key_id), None)
    if old is None:
        raise PlanChanged(f"the key to replace, `{old_key_id}`, no longer exists")
    if not old.active:
        raise PlanChanged(f"the key to replace, `{old_key_id}`, is no longer active")
    other = next((k for k in keys if k.key_id != old_key_id), None)
    if other is None:
        return None
    if other.active:
        raise PlanChanged(f"`{other.key_id}` is active now, so the user has two active keys")
    if other.created > filed_at + CLOCK_SKEW:
        raise PlanChanged(f"`{other.key_id}` was created after the request was filed and is not part of the plan")
    return other.key_id


# Running: what to do next
@dataclass(frozen=True)
class Rotation:
    """A plain snapshot of a rotation row."""

    id: str
    account: str
    iam_user: str
    old_key_id: str
    new_key_id: str
    owner: str
    state: RotationState
    created_at: datetime
    updated_at: datetime
    grace_ends_at: datetime
    next_check_at: datetime
    stall_at: datetime
    # A new rotation has switched nothing off, sent no reminder and seen no use yet
    deactivated_at: datetime | None = None
    delete_after: datetime | None = None
    reminders_sent: int = 0
    old_last_used: datetime | None = None
    old_last_used_where: str | None = None
    note: str | None = None
    delivered_at: datetime | None = None  # a delivered rotation: when every location held the new key
    told_at: datetime | None = None  # ... and when its owner was last told what holds the cut-over up

    @property
    def reminders(self) -> tuple[datetime, ...]:
        return reminder_times(self.created_at, self.grace_ends_at)


@dataclass(frozen=True)
class KeyUse:
    """An access key's last use, as GetAccessKeyLastUsed reports it."""

    date: datetime | None
    service: str | None = None
    region: str | None = None

    @property
    def where(self) -> str | None:
        return ", ".join(p for p in (self.service, self.region) if p) or None


@dataclass(frozen=True)
class Live:
    """What AWS shows now: each key's status (None when the key is gone) and the old key's last use."""

    old_status: str | None
    new_status: str | None
    old_use: KeyUse


class Step(StrEnum):
    WAIT = "wait"  # nothing to do yet: look again at next_check_at
    START_GRACE = "start_grace"
    REMIND = "remind"
    DEACTIVATE = "deactivate"
    STILL_IN_USE = "still_in_use"
    STALL = "stall"
    RECHECK = "recheck"  # stalled and still in use
    DELETE = "delete"
    HOLD = "hold"  # deactivated, yet used since: do not delete
    OLD_INACTIVE = "old_inactive"  # deactivated outside the rotation: it ends (cancelled)
    OLD_REACTIVATED = "old_reactivated"  # reactivated outside Keywarden
    OLD_GONE = "old_gone"  # deleted outside Keywarden
    NEW_GONE = "new_gone"  # the new key was deleted or deactivated outside Keywarden
    CONFIRMED = "confirmed"  # a claim whose AWS call had already happened
    REACTIVATE = "reactivate"  # a roll-back whose AWS call had not happened yet


@dataclass(frozen=True)
class NextStep:
    """What `next_step` decided: the step to take, the state it leads to and when to look again."""

    step: Step
    state: RotationState  # where the rotation goes (for an AWS step: the claim)
    next_check_at: datetime
    reminders_sent: int = 0


def used_since(use: KeyUse, since: datetime) -> bool:
    return use.date is not None and use.date >= since


def next_step(r: Rotation, live: Live, now: datetime, policy: RotationPolicy) -> NextStep:
    """The one next step of a scheduled rotation, from its stored facts and what AWS shows now."""
    daily = now + CHECK_EVERY
    if r.state not in SCHEDULED:
        raise TransitionError(f"a rotation in {r.state} is not advanced by the schedule")
    if live.new_status != ACTIVE:
        return NextStep(Step.NEW_GONE, S.CANCELLED, now)
    if r.state is S.NEW_KEY_CREATED:
        return NextStep(Step.START_GRACE, S.GRACE, next_event(r, 0, now))
    if live.old_status is None:
        return NextStep(Step.OLD_GONE, S.OLD_KEY_DELETED, now)
    if r.state is S.OLD_KEY_DEACTIVATED:
        assert r.deactivated_at is not None and r.delete_after is not None
        if live.old_status == ACTIVE:
            return NextStep(Step.OLD_REACTIVATED, S.ROLLED_BACK, now)
        if used_since(live.old_use, r.deactivated_at):
            return NextStep(Step.HOLD, r.state, daily)
        if now < r.delete_after:
            return NextStep(Step.WAIT, r.state, min(r.delete_after, daily))
        return NextStep(Step.DELETE, S.DELETING, now)
    if live.old_status != ACTIVE:  # not the rotation's own deactivation (that one holds a claim first)
        return NextStep(Step.OLD_INACTIVE, S.CANCELLED, now)
    if now < r.grace_ends_at:
        due = [t for t in r.reminders[r.reminders_sent :] if t <= now]
        if due:
            sent = r.reminders_sent + len(due)  # one reminder, even when several fell due while the bot was down
            return NextStep(Step.REMIND, S.GRACE, next_event(r, sent, now), sent)
        return NextStep(Step.WAIT, r.state, next_event(r, r.reminders_sent, now), r.reminders_sent)
    if not used_since(live.old_use, r.created_at):
        return NextStep(Step.DEACTIVATE, S.DEACTIVATING, now)
    if r.state is S.STALLED:
        return NextStep(Step.RECHECK, S.STALLED, daily)
    if now >= r.stall_at:
        return NextStep(Step.STALL, S.STALLED, daily)
    return NextStep(Step.STILL_IN_USE, S.GRACE, min(daily, r.stall_at))


def next_event(r: Rotation, reminders_sent: int, now: datetime) -> datetime:
    """The next reminder or the end of grace, but at least daily."""
    upcoming = [t for t in (*r.reminders[reminders_sent:], r.grace_ends_at) if t > now]
    return min([now + CHECK_EVERY, *upcoming])


def reconcile_step(state: RotationState, live: Live) -> Step:
    """A claim left by a crash, from the key's real status: confirm it, or repeat the AWS call that did not happen."""
    if state is S.DEACTIVATING:
        if live.old_status is None:
            return Step.OLD_GONE
        if live.old_status != ACTIVE:
            return Step.CONFIRMED
        return Step.DEACTIVATE if live.new_status == ACTIVE else Step.NEW_GONE
    if state is S.DELETING:
        return Step.CONFIRMED if live.old_status is None else Step.DELETE
    if state is S.ROLLING_BACK:
        if live.old_status is None:
            return Step.OLD_GONE
        return Step.CONFIRMED if live.old_status == ACTIVE else Step.REACTIVATE
    raise TransitionError(f"{state} is not a claim")
