"""Fill a moto IAM backend with many users and keys quickly, by calling the backend in this process.

The mix (per user, from a seeded generator, so every run builds the same estate):

- 5%: no access key (a console user); no finding.
- 10%: two keys, an older one (20-88 days) and a new one (1-30 days); in 60% of them both are active
  (finding: two active keys), in 40% the older one is inactive (finding: inactive key).
- 15%: one active key older than 90 days (91-1000 days), 70% of them used in the last 30 days,
  30% not for 46-400 days (findings: too old, and unused).
- 10%: one active key never used, 1-85 days old (finding: unused, from 45 days on: about half).
- 3%: one inactive key, 10-88 days old, never used (finding: inactive key).
- 57%: one active key 1-79 days old, used in the last 30 days; no finding.

90% of users carry the owner tag (an email out of a pool of about one owner per 25 users).
`Estate.next_day()` adds a day's churn: a new key on about 1% of the users with one key.

Keys are created inside `time_machine.travel(past, tick=False)`, so the backend stamps their
creation date in the past; last use is set on the key as AWS would record it.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine

DEFAULT_ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def iam_backend(account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["global"]


@dataclass
class EstateStats:
    users: int = 0
    keys: int = 0
    active_keys: int = 0
    no_keys: int = 0
    two_keys: int = 0
    older_than_90: int = 0
    never_used: int = 0
    inactive_keys: int = 0
    owner_tagged: int = 0
    owners: set[str] = field(default_factory=set)

    def add(self, other: EstateStats) -> None:
        for name in (
            "users",
            "keys",
            "active_keys",
            "no_keys",
            "two_keys",
            "older_than_90",
            "never_used",
            "inactive_keys",
            "owner_tagged",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.owners |= other.owners


def default_owner(index: int, rng: random.Random) -> str:
    return f"owner{rng.randrange(max(1, index // 25 + 40)):04d}@example.com"


class Estate:
    """Users named `<prefix>-00000`, `<prefix>-00001`, ... added in batches to one account's backend."""

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        *,
        prefix: str = "svc",
        seed: int = 20251128,
        now: datetime | None = None,
        owner_for: Callable[[int, random.Random], str] = default_owner,
    ) -> None:
        self.account_id = account_id
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.owner_for = owner_for
        self.stats = EstateStats()
        self._next = 0

    def grow_to(self, total: int) -> EstateStats:
        """Add users until the account has `total` of them; returns what this batch added."""
        batch = EstateStats()
        backend = iam_backend(self.account_id)
        while self._next < total:
            self._add_user(backend, self._next, batch)
            self._next += 1
        self.stats.add(batch)
        return batch

    def _at(self, days_ago: float) -> datetime:
        return self.now - timedelta(days=days_ago)

    def _add_user(self, backend: Any, index: int, stats: EstateStats) -> None:
        from moto.iam.models import AccessKeyLastUsed

        rng = self.rng
        name = f"{self.prefix}-{index:05d}"
        tags = []
        if rng.random() < 0.9:
            owner = self.owner_for(index, rng)
            tags.append({"Key": "owner", "Value": owner})
            stats.owner_tagged += 1
            stats.owners.add(owner)
        draw = rng.random()
        # (age in days, status, days since last use or None) for each key, oldest first
        if draw < 0.05:
            keys: list[tuple[float, str, float | None]] = []
            stats.no_keys += 1
        elif draw < 0.15:
            old_status = "Active" if rng.random() < 0.6 else "Inactive"
            keys = [
                (rng.uniform(20, 88), old_status, rng.uniform(0, 15)),
                (rng.uniform(1, 30), "Active", rng.uniform(0, 1)),
            ]
            stats.two_keys += 1
        elif draw < 0.30:
            used = rng.uniform(0, 30) if rng.random() < 0.7 else rng.uniform(46, 400)
            age = rng.uniform(91, 1000)
            keys = [(age, "Active", min(used, age - 1))]
        elif draw < 0.40:
            keys = [(rng.uniform(1, 85), "Active", None)]
            stats.never_used += 1
        elif draw < 0.43:
            keys = [(rng.uniform(10, 88), "Inactive", None)]
        else:
            age = rng.uniform(1, 79)
            keys = [(age, "Active", min(rng.uniform(0, 30), age))]
        created = max([k[0] for k in keys], default=rng.uniform(1, 400)) + rng.uniform(0, 30)
        with time_machine.travel(self._at(created), tick=False):
            backend.create_user(region_name=REGION, user_name=name, tags=tags)
        for age, status, used in keys:
            with time_machine.travel(self._at(age), tick=False):
                key = backend.create_access_key(name, status=status)
            if used is not None:
                when = self._at(used).replace(tzinfo=None)  # moto keeps naive UTC datetimes
                key.last_used = AccessKeyLastUsed(timestamp=when, service="s3", region=REGION)
            stats.keys += 1
            stats.active_keys += status == "Active"
            stats.inactive_keys += status == "Inactive"
            stats.older_than_90 += age > 90
        stats.users += 1

    def next_day(self, fraction: float = 0.01) -> int:
        """A day's churn: a new active key, made now, on `fraction` of the users that have one key.

        Each such user gets a two-active-keys finding whose new key no earlier scan has seen.
        Returns how many users got one.
        """
        backend = iam_backend(self.account_id)
        changed = 0
        for index in range(self._next):
            user = backend.users.get(f"{self.prefix}-{index:05d}")
            if user is not None and len(user.access_keys) == 1 and self.rng.random() < fraction:
                backend.create_access_key(user.name, status="Active")
                changed += 1
        self.stats.keys += changed
        self.stats.active_keys += changed
        return changed


def a_day_later(estates: Iterable[Estate], database: Path) -> int:
    """The next day for a scan: each estate's churn, its credential report due again (over 4 hours old),
    and Keywarden's ownership index in the SQLite `database` a day old. Returns how many users churned."""
    churned = 0
    for estate in estates:
        churned += estate.next_day()
        reset_credential_report(estate.account_id)
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("UPDATE account_index SET refreshed_at = datetime(refreshed_at, '-1 day')")
    return churned


def reset_credential_report(account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Forget the generated report, as when the last one is over 4 hours old: the next scan generates it."""
    iam_backend(account_id).credential_report = None
