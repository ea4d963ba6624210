"""Findings: pure functions of (key facts, policy, now), each tied to its CIS / Security Hub control.

Thresholds read as people say them: a key is "older than 90 days" from day 91 on
(whole days since creation), and "unused for 45 days" from day 45 on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.catalogue import (
    ADMIN_KEY,
    AWS_QUARANTINE,
    CATALOGUE,
    CONSOLE_AND_KEY,
    INACTIVE_KEY,
    INITIAL_KEY_UNUSED,
    KEY_AGE_WARNING,
    KEY_NOT_VIA_GROUP,
    KEY_TOO_OLD,
    KEY_UNUSED,
    ROOT_KEY,
    TWO_ACTIVE_KEYS,
    Severity,
)
from bot.domain.keys import KeyFacts

INITIAL_KEY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Policy:
    max_key_age_days: int = 90
    warn_key_age_days: int = 80
    unused_days: int = 45
    strict_policy_findings: bool = False  # key-not-via-group (STRICT_POLICY_FINDINGS)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    control: str | None
    message: str


@dataclass(frozen=True)
class UserFacts:
    """What is known about a key's user beyond its keys; None where it is unknown."""

    created: datetime | None = None
    password_enabled: bool | None = None
    admin_reason: str | None = None
    direct_policies: tuple[str, ...] = ()
    quarantine: tuple[str, ...] = ()  # AWS's quarantine policies attached to the user


def quarantine_message(policies: tuple[str, ...]) -> str:
    names = ", ".join(f"`{n}`" for n in policies)
    return (
        f"AWS quarantined this user ({names} attached): a key may have leaked. Deactivate now, then rotate. "
        "The quarantine stops the user itself from creating or changing keys, not Keywarden."
    )


def catalogued(code: str, message: str) -> Finding:
    """A finding with its severity and control id from the catalogue."""
    entry = CATALOGUE[code]
    return Finding(code, entry.severity, entry.shown_control, message)


def _initial_key_unused(key: KeyFacts, keys: list[KeyFacts], user: UserFacts, policy: Policy, now: datetime) -> bool:
    """CIS 1.11: a console user's key made with the user and never used, once past the unused grace.

    Only users with a console password are in scope (as in CIS 1.11 and Prowler's
    iam_user_no_setup_initial_access_key): a service user's key is meant for a program that may not have
    run yet. The grace is the unused threshold, as for key-unused, so a key is not flagged the day it is made.
    """
    first = not any(other.created < key.created for other in keys if other is not key)
    return (
        first
        and user.password_enabled is True
        and user.created is not None
        and key.last_used is None
        and abs(key.created - user.created) <= INITIAL_KEY_WINDOW
        and (now - key.created).days >= policy.unused_days
    )


def privilege_findings(
    keys: list[KeyFacts], user: UserFacts, policy: Policy, now: datetime
) -> tuple[dict[int, list[Finding]], list[Finding]]:
    """Least-privilege findings: ({index in `keys`: findings of that key}, user-level findings)."""
    per_key: dict[int, list[Finding]] = {}
    active = [(i, k) for i, k in enumerate(keys) if k.active and not k.is_root]
    for i, key in active:
        found: list[Finding] = []
        if user.quarantine:
            found.append(catalogued(AWS_QUARANTINE, quarantine_message(user.quarantine)))
        if user.admin_reason:
            found.append(
                catalogued(
                    ADMIN_KEY,
                    f"Active key on an administrator ({user.admin_reason}): use a role, or trim the policies.",
                )
            )
        if _initial_key_unused(key, keys, user, policy, now):
            found.append(
                catalogued(
                    INITIAL_KEY_UNUSED,
                    "Key created with its console user and never used: deactivate it if nothing needs it.",
                )
            )
        if user.password_enabled:
            found.append(
                catalogued(
                    CONSOLE_AND_KEY,
                    "A console user with an access key: sign in with IAM Identity Center or a role instead.",
                )
            )
        if found:
            per_key[i] = found
    shared: list[Finding] = []
    if policy.strict_policy_findings and active and user.direct_policies:
        names = ", ".join(f"`{n}`" for n in user.direct_policies[:3])
        more = f" and {len(user.direct_policies) - 3} more" if len(user.direct_policies) > 3 else ""
        shared.append(
            catalogued(KEY_NOT_VIA_GROUP, f"Policies attached to the user itself ({names}{more}): use a group.")
        )
    return per_key, shared


def key_findings(key: KeyFacts, policy: Policy, now: datetime) -> list[Finding]:
    """The findings for one key on its own, worst first."""
    found: list[Finding] = []
    if key.is_root:
        found.append(catalogued(ROOT_KEY, "The root user has an access key: delete it."))
    if not key.active:
        found.append(catalogued(INACTIVE_KEY, "Inactive key left behind: delete it if nothing needs it."))
        return found
    age = key.age_days(now)
    if age > policy.max_key_age_days:
        found.append(
            catalogued(
                KEY_TOO_OLD,
                f"Active key is {age} days old (limit {policy.max_key_age_days}): rotate it.",
            )
        )
    elif age > policy.warn_key_age_days:
        left = policy.max_key_age_days - age
        found.append(
            catalogued(
                KEY_AGE_WARNING,
                f"Active key is {age} days old: rotate it within {left} day{'s' if left != 1 else ''}.",
            )
        )
    unused = _unused_days(key, now)
    if unused is not None and unused >= policy.unused_days:
        what = "never used" if key.last_used is None else f"not used for {unused} days"
        found.append(
            catalogued(
                KEY_UNUSED,
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
    return catalogued(ROOT_KEY, f"The root user has {what} ({described}): {remedy}.")


def _unused_days(key: KeyFacts, now: datetime) -> int | None:
    """Days without use; a never-used key counts from its creation, so it has a grace period."""
    since = key.last_used or key.created
    return (now - since).days


def user_findings(keys: Iterable[KeyFacts]) -> list[Finding]:
    """Findings about a user's keys taken together."""
    active = [k for k in keys if k.active and not k.is_root]
    if len(active) >= 2:
        return [catalogued(TWO_ACTIVE_KEYS, "Two active keys: finish the rotation and deactivate the old one.")]
    return []


def findings_for_user(
    keys: list[KeyFacts], policy: Policy, now: datetime, user: UserFacts | None = None
) -> dict[str | None, list[Finding]]:
    """Per key id, its own findings plus the user-level ones (attached to every active key)."""
    privileged, strict = privilege_findings(keys, user or UserFacts(), policy, now)
    shared = user_findings(keys) + strict
    result: dict[str | None, list[Finding]] = {}
    for i, key in enumerate(keys):
        own = key_findings(key, policy, now) + privileged.get(i, [])
        if key.active:
            own = sorted(own + shared, key=lambda f: -f.severity)
        result[key.key_id] = own
    return result
