"""Time-bound keys (`create <user> --for 8h|30d`): the duration typed, the dates of one key, its states and the
next step, decided from the stored key, what AWS shows now and `now`.

A time-bound key is switched off when its time is up and deleted a day after that. Its owner is told a day before
the end, or an hour before for keys shorter than two days. Keywarden only ever deactivates a key that is still
active at its end, and only deletes a key that it deactivated itself and that is still inactive: a key someone
else switched off, switched on again or deleted in the meantime is left alone (and that is said).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.keys import ACTIVE, INACTIVE, InputError
from bot.domain.transitions import check_move

MAX_VALID_FOR = timedelta(days=90)
DELETE_AFTER = timedelta(days=1)  # from the deactivation
SHORT = timedelta(days=2)  # keys shorter than this are announced an hour before their end, not a day
RETRY_AFTER = timedelta(minutes=5)  # after AWS refused a step

_DURATION = re.compile(r"^([0-9]+)([hd])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1)}


class DurationError(InputError):
    """A `--for` (or the form's field) that is not a duration Keywarden accepts."""


def parse_valid_for(text: str) -> int:
    """`8h` or `30d` as a whole number of hours, at least 1 and at most 90 days; DurationError saying why not."""
    shown = text[:20].replace("`", "'")
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise DurationError(
            f"`{shown}` is not a duration: give hours or days, such as `8h` or `30d` (at most 90 days)."
        )
    digits, unit = match.group(1).lstrip("0"), match.group(2)
    if not digits:
        raise DurationError(f"`{shown}` is no time at all: a time-bound key lasts at least `1h`.")
    if len(digits) > 6 or int(digits) * _UNITS[unit] > MAX_VALID_FOR:
        raise DurationError(f"`{shown}` is too long: a time-bound key lasts at most 90 days (`90d`, or `2160h`).")
    return int(int(digits) * _UNITS[unit] / timedelta(hours=1))


def describe_hours(hours: int) -> str:
    """`8 hours`, `1 hour`, `30 days` (whole days as days)."""
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def warning_lead(valid_for: timedelta) -> timedelta:
    """How long before its end the owner is told: a day, or an hour for keys shorter than two days."""
    return timedelta(hours=1) if valid_for < SHORT else timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    ends_at: datetime
    warn_at: datetime


def plan(created: datetime, hours: int) -> Plan:
    """The dates of a key made at `created` that lasts `hours`."""
    valid_for = timedelta(hours=hours)
    ends_at = created + valid_for
    return Plan(ends_at=ends_at, warn_at=max(created, ends_at - warning_lead(valid_for)))


class KeyEnd(StrEnum):
    ACTIVE = "active"  # before the warning
    WARNED = "warned"  # the owner was told
    DEACTIVATING = "deactivating"  # claim: the deactivation is under way
    DEACTIVATED = "deactivated"  # switched off by Keywarden at its end; deleted a day later
    DELETING = "deleting"  # claim: the deletion is under way
    DELETED = "deleted"  # deleted by Keywarden
    GONE = "gone"  # deleted by someone else first: nothing left to do
    LEFT_ALONE = "left_alone"  # changed by someone else (switched off early, or on again): not touched


E = KeyEnd

# `deactivating` and `deleting` are claims: taken before the AWS call, so a second runner (the clock process and
# a cron `housekeeping` at once) never repeats it; a claim goes back where it came from when AWS refuses, and to
# itself when a runner re-claims one left by a crash.
TRANSITIONS: dict[KeyEnd, frozenset[KeyEnd]] = {
    E.ACTIVE: frozenset({E.WARNED, E.DEACTIVATING, E.GONE, E.LEFT_ALONE}),
    E.WARNED: frozenset({E.DEACTIVATING, E.GONE, E.LEFT_ALONE}),
    E.DEACTIVATING: frozenset({E.DEACTIVATING, E.DEACTIVATED, E.WARNED, E.GONE, E.LEFT_ALONE}),
    E.DEACTIVATED: frozenset({E.DELETING, E.GONE, E.LEFT_ALONE}),
    E.DELETING: frozenset({E.DELETING, E.DELETED, E.DEACTIVATED, E.GONE, E.LEFT_ALONE}),
}
FINAL = frozenset({E.DELETED, E.GONE, E.LEFT_ALONE})
CLAIMS = frozenset({E.DEACTIVATING, E.DELETING})


def check_transition(current: KeyEnd, new: KeyEnd) -> None:
    check_move(TRANSITIONS, current, new, f"a time-bound key {current}")


@dataclass(frozen=True)
class TimeBoundKey:
    """A plain snapshot of one time-bound key: the request that made it, the key, and how far its end got."""

    request_id: str
    account: str
    iam_user: str
    key_id: str
    owner: str  # the requester's Slack user id
    state: KeyEnd
    created_at: datetime
    updated_at: datetime
    ends_at: datetime
    warn_at: datetime
    next_at: datetime  # when the next step is due (a claim: when it counts as left by a crash)
    deactivated_at: datetime | None = None
    delete_at: datetime | None = None
    note: str | None = None


class Step(StrEnum):
    WAIT = "wait"
    WARN = "warn"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    GONE = "gone"  # the key is no longer in AWS
    SWITCHED_OFF_BY_SOMEONE = "switched_off_by_someone"  # inactive at its end: not Keywarden's doing
    SWITCHED_ON_AGAIN = "switched_on_again"  # active again after Keywarden switched it off
    CONFIRMED = "confirmed"  # a claim's AWS call had happened: record it
    REPEAT = "repeat"  # a claim's AWS call had not happened: make it


def next_step(k: TimeBoundKey, live: str | None, now: datetime) -> Step:
    """What to do about `k` now, given its key's status in AWS (`live`; None: the key is gone)."""
    if k.state in CLAIMS:
        return reconcile_step(k.state, live)
    if k.state in FINAL:
        return Step.WAIT
    if live is None:
        return Step.GONE
    if k.state in (E.ACTIVE, E.WARNED):
        if now >= k.ends_at:
            return Step.DEACTIVATE if live == ACTIVE else Step.SWITCHED_OFF_BY_SOMEONE
        if k.state is E.ACTIVE and now >= k.warn_at:
            return Step.WARN
        return Step.WAIT
    # DEACTIVATED
    if live != INACTIVE:
        return Step.SWITCHED_ON_AGAIN
    return Step.DELETE if k.delete_at is not None and now >= k.delete_at else Step.WAIT


def reconcile_step(state: KeyEnd, live: str | None) -> Step:
    """A claim left by a crash, from the key's real status: had its AWS call happened?"""
    if state is E.DEACTIVATING:
        if live is None:
            return Step.GONE
        return Step.CONFIRMED if live == INACTIVE else Step.REPEAT
    # DELETING
    if live is None:
        return Step.CONFIRMED
    return Step.REPEAT if live == INACTIVE else Step.SWITCHED_ON_AGAIN


def due_at(k: TimeBoundKey) -> datetime:
    """When `k` next needs a look, in the state it is in (a claim's timeout is added by the store)."""
    if k.state is E.ACTIVE:
        return k.warn_at
    if k.state is E.WARNED:
        return k.ends_at
    if k.state is E.DEACTIVATED and k.delete_at is not None:
        return k.delete_at
    return k.next_at
