"""The rules that decide findings: each a pure function of what is known about a user's keys, giving the
finding's message, or None where it does not apply. `bot/domain/catalogue.py` ties each rule to its entry.

Thresholds read as people say them: a key is "older than 90 days" from day 91 on
(whole days since creation), and "unused for 45 days" from day 45 on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.keys import KeyFacts

INITIAL_KEY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Thresholds:
    """What the rules compare against: the ages and idle days of the settings, and whether policy findings are on."""

    max_key_age_days: int = 90
    warn_key_age_days: int = 80
    unused_days: int = 45
    strict_policy_findings: bool = False  # key-not-via-group (STRICT_POLICY_FINDINGS)


@dataclass(frozen=True)
class UserFacts:
    """What is known about a key's user beyond its keys; None where it is unknown."""

    created: datetime | None = None
    password_enabled: bool | None = None
    admin_reason: str | None = None
    direct_policies: tuple[str, ...] = ()
    quarantine: tuple[str, ...] = ()  # AWS's quarantine policies attached to the user
    # (key id, verdict) of the user's keys whose work a role could take over entirely: the last profile of each
    # (bot/domain/workload.py), made by `replace` or the weekly sample
    replaceable: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Evidence:
    """What a rule reads: one key (None for a rule on the user), all the user's keys, the user, the thresholds."""

    key: KeyFacts | None
    keys: Sequence[KeyFacts]
    user: UserFacts
    policy: Thresholds
    now: datetime

    @property
    def active_key(self) -> KeyFacts | None:
        """The key, when it is active."""
        return self.key if self.key is not None and self.key.active else None

    @property
    def user_key(self) -> KeyFacts | None:
        """The key, when it is an active key of an IAM user (not root): what least-privilege rules judge."""
        key = self.active_key
        return key if key is not None and not key.is_root else None

    @property
    def user_keys_active(self) -> list[KeyFacts]:
        return [k for k in self.keys if k.active and not k.is_root]


Rule = Callable[[Evidence], str | None]


def quarantine_message(policies: tuple[str, ...]) -> str:
    names = ", ".join(f"`{n}`" for n in policies)
    return (
        f"AWS quarantined this user ({names} attached): a key may have leaked. Deactivate now, then rotate. "
        "The quarantine stops the user itself from creating or changing keys, not Keywarden."
    )


def root_key(e: Evidence) -> str | None:
    return "The root user has an access key: delete it." if e.key is not None and e.key.is_root else None


def inactive_key(e: Evidence) -> str | None:
    if e.key is None or e.key.active:
        return None
    return "Inactive key left behind: delete it if nothing needs it."


def key_too_old(e: Evidence) -> str | None:
    key = e.active_key
    if key is None or key.age_days(e.now) <= e.policy.max_key_age_days:
        return None
    return f"Active key is {key.age_days(e.now)} days old (limit {e.policy.max_key_age_days}): rotate it."


def key_age_warning(e: Evidence) -> str | None:
    key = e.active_key
    if key is None:
        return None
    age = key.age_days(e.now)
    if not e.policy.warn_key_age_days < age <= e.policy.max_key_age_days:
        return None
    left = e.policy.max_key_age_days - age
    return f"Active key is {age} days old: rotate it within {left} day{'s' if left != 1 else ''}."


def key_unused(e: Evidence) -> str | None:
    """Days without use; a never-used key counts from its creation, so it has a grace period."""
    key = e.active_key
    if key is None:
        return None
    unused = (e.now - (key.last_used or key.created)).days
    if unused < e.policy.unused_days:
        return None
    what = "never used" if key.last_used is None else f"not used for {unused} days"
    return f"Active key {what} (limit {e.policy.unused_days}): deactivate it if nothing needs it."


def two_active_keys(e: Evidence) -> str | None:
    if len(e.user_keys_active) < 2:
        return None
    return "Two active keys: keep the one in use and deactivate the other."


def aws_quarantine(e: Evidence) -> str | None:
    return quarantine_message(e.user.quarantine) if e.user_key and e.user.quarantine else None


def admin_key(e: Evidence) -> str | None:
    if e.user_key is None or not e.user.admin_reason:
        return None
    return f"Active key on an administrator ({e.user.admin_reason}): use a role, or trim the policies."


def console_and_key(e: Evidence) -> str | None:
    if e.user_key is None or not e.user.password_enabled:
        return None
    return "A console user with an access key: sign in with IAM Identity Center or a role instead."


def initial_key_unused(e: Evidence) -> str | None:
    """CIS 1.11: a console user's key made with the user and never used, once past the unused grace.

    Only users with a console password are in scope (as in CIS 1.11 and Prowler's
    iam_user_no_setup_initial_access_key): a service user's key is meant for a program that may not have
    run yet. The grace is the unused threshold, as for key-unused, so a key is not flagged the day it is made.
    """
    key, user = e.user_key, e.user
    if key is None or user.password_enabled is not True or user.created is None or key.last_used is not None:
        return None
    first = not any(other.created < key.created for other in e.keys if other is not key)
    if (
        first
        and abs(key.created - user.created) <= INITIAL_KEY_WINDOW
        and (e.now - key.created).days >= e.policy.unused_days
    ):
        return "Key created with its console user and never used: deactivate it if nothing needs it."
    return None


def replaceable_by_role(e: Evidence) -> str | None:
    """A key whose every call in the window came from AWS compute or from a CI that AWS trusts through OIDC."""
    key = e.user_key
    verdict = dict(e.user.replaceable).get(key.key_id) if key is not None and key.key_id else None
    if key is None or verdict is None:
        return None
    return f"A role could do all its work ({verdict}): `replace {key.key_id}` gives the role's template."


def key_not_via_group(e: Evidence) -> str | None:
    policies = e.user.direct_policies
    if not (e.policy.strict_policy_findings and e.user_keys_active and policies):
        return None
    names = ", ".join(f"`{n}`" for n in policies[:3])
    more = f" and {len(policies) - 3} more" if len(policies) > 3 else ""
    return f"Policies attached to the user itself ({names}{more}): use a group."
