"""ENFORCE's rules, on plain data: when a key's owner is warned, and when its deadline has truly come.

A warning is a precondition, not a courtesy: a key is due only once both warnings (3 days and 1 day before) were
delivered and its deadline passed after the second. A warning sent late (the first scan after ENFORCE was switched
on, a clock that jumped, a scan that did not run) moves the deadline so that the owner still gets the full notice:
at least 3 days after the first warning, 1 day after the second."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

WARN_DAYS = (3, 1)


class StepKind(Enum):
    WAIT = "wait"  # nothing to do this scan
    WARN = "warn"  # send the warning of `stage` days; the deadline becomes `deadline`
    DUE = "due"  # both warnings delivered and the deadline passed: deactivate


@dataclass(frozen=True)
class Warnings:
    """What was recorded for one key: its deadline once warned, and when each warning was delivered."""

    deadline: datetime | None = None
    warned_3_at: datetime | None = None
    warned_1_at: datetime | None = None


@dataclass(frozen=True)
class Step:
    kind: StepKind
    deadline: datetime
    stage: int = 0  # days of the warning to send (WARN)


def next_step(natural: datetime, warnings: Warnings, now: datetime) -> Step:
    """What to do with a key whose finding reached (or will reach) its configured age at `natural`."""
    deadline = max(warnings.deadline, natural) if warnings.deadline else natural
    first, second = WARN_DAYS
    if warnings.warned_3_at is None:
        if now >= deadline - timedelta(days=first):
            return Step(StepKind.WARN, max(deadline, now + timedelta(days=first)), first)
        return Step(StepKind.WAIT, deadline)
    if warnings.warned_1_at is None:
        if now >= deadline - timedelta(days=second):
            return Step(StepKind.WARN, max(deadline, now + timedelta(days=second)), second)
        return Step(StepKind.WAIT, deadline)
    return Step(StepKind.DUE if now >= deadline else StepKind.WAIT, deadline)


@dataclass
class EnforcementRun:
    """What one scan's enforcement did, by key id."""

    warned: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    would_deactivate: list[str] = field(default_factory=list)  # dry run
    waiting: list[str] = field(default_factory=list)  # over the cap
    failed: dict[str, str] = field(default_factory=dict)
    left_alone: dict[str, str] = field(default_factory=dict)  # key -> why it is not touched
    not_warned: dict[str, str] = field(default_factory=dict)  # key -> why its warning could not be delivered
    stopped: str | None = None  # why enforcement did nothing at all this scan
