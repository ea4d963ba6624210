"""When an old credential may be switched off, now that its replacement exists. Pure.

The replacement may be a role (`retire`: the role that took over a key's work) or a new key (a rotation whose new
key Keywarden delivered itself): either way, what decides is use. The old key is switched off only when

1. AWS could be read (anything unknown: wait, and decide nothing),
2. the replacement exists and has been used since it appeared,
3. the old key has not been used since the replacement was last used (a key whose last use is later than the
   replacement's still does work the replacement does not: it is never switched off while that holds), and
4. the old key has been quiet for the quiet period, counted from its last use or, when it was not used after the
   replacement appeared, from that appearance (so a replacement a minute old never switches anything off).

IAM reports last use with a delay of up to a few hours (IAM User Guide, "Refining permissions using last accessed
information"): the quiet period (CUTOVER_QUIET_HOURS, 24 by default) is meant to be longer than that, and whoever
acts re-reads both last uses just before switching off.

While it waits for the key's own use to stop, or for the replacement to appear or be used, the owner is told what
still holds it up, at most once per `tell_every` (a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

TELL_EVERY = timedelta(days=1)


class Step(StrEnum):
    SWITCH_OFF = "switch-off"
    WAIT = "wait"


class Why(StrEnum):
    UNREADABLE = "unreadable"  # AWS could not be read: nothing is decided
    REPLACEMENT_MISSING = "replacement-missing"  # the replacement does not exist (yet)
    REPLACEMENT_UNUSED = "replacement-unused"  # it exists, nothing has used it since it appeared
    OLD_IN_USE = "old-in-use"  # the old key was used after the replacement's last use, or too recently
    SETTLING = "settling"  # the replacement is in use and the old key silent, not yet for the whole quiet period
    READY = "ready"


@dataclass(frozen=True)
class Uses:
    """What AWS says now. None for a last use: never used (as far as AWS reports)."""

    replacement_since: datetime | None  # when the replacement appeared (role created, key delivered); None: absent
    replacement_last_used: datetime | None
    old_last_used: datetime | None


@dataclass(frozen=True)
class Cutover:
    step: Step
    why: Why
    tell_owner: bool  # say what holds the switch-off up (at most once per `tell_every`)
    quiet_since: datetime | None = None  # since when the old key has been quiet, for the purpose of the cut-over
    not_before: datetime | None = None  # the earliest it can be switched off, if nothing changes


def decide(
    uses: Uses | None,
    *,
    quiet: timedelta,
    now: datetime,
    last_told: datetime | None = None,
    tell_every: timedelta = TELL_EVERY,
) -> Cutover:
    """Switch the old key off, or wait (and why). `uses` None: AWS could not be read."""
    due = last_told is None or now - last_told >= tell_every
    if uses is None:
        return Cutover(Step.WAIT, Why.UNREADABLE, tell_owner=False)
    since = uses.replacement_since
    if since is None:
        return Cutover(Step.WAIT, Why.REPLACEMENT_MISSING, tell_owner=due)
    used = uses.replacement_last_used
    if used is None or used < since:
        return Cutover(Step.WAIT, Why.REPLACEMENT_UNUSED, tell_owner=due)
    old = uses.old_last_used
    if old is not None and old >= used:
        return Cutover(Step.WAIT, Why.OLD_IN_USE, tell_owner=due, quiet_since=old)
    quiet_since = max(since, old) if old is not None else since
    not_before = quiet_since + quiet
    if now < not_before:
        in_use = old is not None and old >= since
        why = Why.OLD_IN_USE if in_use else Why.SETTLING
        return Cutover(Step.WAIT, why, tell_owner=in_use and due, quiet_since=quiet_since, not_before=not_before)
    return Cutover(Step.SWITCH_OFF, Why.READY, tell_owner=False, quiet_since=quiet_since, not_before=not_before)
