"""Delivered rotation: a machine user's new key written to every place LOCATIONS_FILE names, by Keywarden, seen by
nobody. Pure: what each location holds, when a refused delivery is tried again, when a scheduled rotation is due,
and the order the places are written in.

The rotation's own states are in bot/domain/rotation.py (`delivering`, `delivery-failed`, `delivered`, ...); the
old key is switched off by use (bot/domain/cutover.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

FIRST_RETRY = timedelta(minutes=5)  # a location that failed for a passing reason (timeout, 5xx, 429)
FIRST_RETRY_REFUSED = timedelta(hours=1)  # one a person must fix (403, 404, 422): tried again, less often
LONGEST_WAIT = timedelta(hours=6)
WATCH_EVERY = timedelta(hours=1)  # a delivered rotation's cut-over: both keys' last use read again
CLOCK_SKEW = timedelta(seconds=2)  # our clock against AWS's CreateDate


class Held(StrEnum):
    """What one location holds, as far as Keywarden wrote it."""

    VERIFIED = "verified"  # written, and read back: it holds the key
    WRITTEN = "written"  # written; the place cannot be read back (GitHub Actions secrets)
    FAILED = "failed"  # the last try failed (`error` says why); it holds whatever it held before


@dataclass(frozen=True)
class Delivery:
    """One location of one rotation: the key it holds (by id) and how it got there. Never a secret."""

    rotation_id: str
    position: int  # its place in the user's `deliver:` list
    place: str  # `SSM /ci/deployer/aws`
    key_id: str | None  # the key id written there last (None: nothing written yet)
    held: Held
    attempts: int  # tries that failed in a row
    error: str | None
    transient: bool
    updated_at: datetime

    def holds(self, key_id: str) -> bool:
        return self.held is not Held.FAILED and self.key_id == key_id


def retry_at(failures: int, transient: bool, now: datetime) -> datetime:
    """When a refused delivery is tried again: 5 min after a passing failure, an hour after a refusal, doubling
    with each failure in a row, at most 6 hours apart."""
    first = FIRST_RETRY if transient else FIRST_RETRY_REFUSED
    wait: timedelta = first * 2 ** max(0, min(failures, 12) - 1)
    return now + (wait if wait < LONGEST_WAIT else LONGEST_WAIT)


def rotation_due(created: datetime, every_days: int, now: datetime) -> bool:
    """A scheduled rotation (`rotate_every_days`) is due when the active key is that many days old."""
    return now - created >= timedelta(days=every_days)


Place = TypeVar("Place")


def write_order(places: Sequence[Place], readable: Sequence[bool]) -> list[Place]:
    """Places that can be read back first, in the file's order, then the others.

    A key lives only in its locations (Keywarden keeps no copy): once a readable place holds it, a crash or a refusal
    later can send it on from there. A place that cannot be read (GitHub) is written after one that can, so that a
    new key nothing readable holds was never given to any consumer, and can be deleted and made again."""
    first = [p for p, r in zip(places, readable, strict=True) if r]
    return first + [p for p, r in zip(places, readable, strict=True) if not r]


@dataclass(frozen=True)
class Pass:
    """The outcome of one delivery pass over a rotation's places."""

    delivered: tuple[str, ...]  # places that hold the new key now
    failed: tuple[tuple[str, str], ...]  # (place, why) that do not
    transient: bool  # every failure may pass by itself

    @property
    def complete(self) -> bool:
        return not self.failed
