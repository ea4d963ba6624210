"""Findings: pure functions of (key facts, policy, now), each tied to its CIS / Security Hub control.

Thresholds read as people say them: a key is "older than 90 days" from day 91 on
(whole days since creation), and "unused for 45 days" from day 45 on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from bot.domain.keys import KeyFacts


class Severity(IntEnum):
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


ROOT_KEY = "root_key"
KEY_TOO_OLD = "key_too_old"
KEY_AGE_WARNING = "key_age_warning"
KEY_UNUSED = "key_unused"
TWO_ACTIVE_KEYS = "two_active_keys"
INACTIVE_KEY = "inactive_key"


@dataclass(frozen=True)
class Policy:
    max_key_age_days: int = 90
    warn_key_age_days: int = 80
    unused_days: int = 45


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    control: str | None
    message: str


def key_findings(key: KeyFacts, policy: Policy, now: datetime) -> list[Finding]:
    """The findings for one key on its own, worst first."""
    found: list[Finding] = []
    if key.is_root:
        found.append(Finding(ROOT_KEY, Severity.CRITICAL, "IAM.4", "The root user has an access key: delete it."))
    if not key.active:
        found.append(
            Finding(INACTIVE_KEY, Severity.LOW, None, "Inactive key left behind: delete it if nothing needs it.")
        )
        return found
    age = key.age_days(now)
    if age > policy.max_key_age_days:
        found.append(
            Finding(
                KEY_TOO_OLD,
                Severity.HIGH,
                "IAM.3",
                f"Active key is {age} days old (limit {policy.max_key_age_days}): rotate it.",
            )
        )
    elif age > policy.warn_key_age_days:
        left = policy.max_key_age_days - age
        found.append(
            Finding(
                KEY_AGE_WARNING,
                Severity.LOW,
                None,
                f"Active key is {age} days old: rotate it within {left} day{'s' if left != 1 else ''}.",
            )
        )
    unused = _unused_days(key, now)
    if unused is not None and unused >= policy.unused_days:
        what = "never used" if key.last_used is None else f"not used for {unused} days"
        found.append(
            Finding(
                KEY_UNUSED,
                Severity.MEDIUM,
                "IAM.22",
                f"Active key {what} (limit {policy.unused_days}): deactivate it if nothing needs it.",
            )
        )
    return sorted(found, key=lambda f: -f.severity)


def root_key_finding(keys: Sequence[KeyFacts]) -> Finding:
    """One IAM.4 finding for all the root user's keys (a second key is not a second finding), naming each."""
    described = "; ".join(
        f"{key.status.lower()}, created {key.created:%Y-%m-%d}, "
        + (f"last used {key.last_used:%Y-%m-%d}" if key.last_used else "never used")
        for key in keys
    )
    what = "an access key" if len(keys) == 1 else f"{len(keys)} access keys"
    remedy = "delete it" if len(keys) == 1 else "delete them all"
    return Finding(ROOT_KEY, Severity.CRITICAL, "IAM.4", f"The root user has {what} ({described}): {remedy}.")


def _unused_days(key: KeyFacts, now: datetime) -> int | None:
    """Days without use; a never-used key counts from its creation, so it has a grace period."""
    since = key.last_used or key.created
    return (now - since).days


def user_findings(keys: Iterable[KeyFacts]) -> list[Finding]:
    """Findings about a user's keys taken together."""
    active = [k for k in keys if k.active and not k.is_root]
    if len(active) >= 2:
        return [
            Finding(
                TWO_ACTIVE_KEYS,
                Severity.MEDIUM,
                None,
                "Two active keys: finish the rotation and deactivate the old one.",
            )
        ]
    return []


def findings_for_user(keys: list[KeyFacts], policy: Policy, now: datetime) -> dict[str | None, list[Finding]]:
    """Per key id, its own findings plus the user-level ones (attached to every active key)."""
    shared = user_findings(keys)
    result: dict[str | None, list[Finding]] = {}
    for key in keys:
        own = key_findings(key, policy, now)
        if key.active:
            own = sorted(own + shared, key=lambda f: -f.severity)
        result[key.key_id] = own
    return result
