"""Findings: the catalogue's rules run over a user's keys, each finding tied to its CIS / Security Hub control.

Each entry of `CATALOGUE` carries its rule (`bot/domain/finding_rules.py`) and its scope: a key's findings are
the key-scope rules that apply to it, a user's are the user-scope ones; a new finding is one new entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    LEGACY_CODES,
    REPLACEABLE_BY_ROLE,
    ROOT_KEY,
    TWO_ACTIVE_KEYS,
    Scope,
    Severity,
    canonical_code,
    title_of,
)
from bot.domain.finding_rules import INITIAL_KEY_WINDOW, Evidence, Thresholds, UserFacts, quarantine_message
from bot.domain.keys import KeyFacts

__all__ = [
    "ADMIN_KEY",
    "AWS_QUARANTINE",
    "CATALOGUE",
    "CONSOLE_AND_KEY",
    "INACTIVE_KEY",
    "INITIAL_KEY_UNUSED",
    "INITIAL_KEY_WINDOW",
    "KEY_AGE_WARNING",
    "KEY_NOT_VIA_GROUP",
    "KEY_TOO_OLD",
    "KEY_UNUSED",
    "LEGACY_CODES",
    "REPLACEABLE_BY_ROLE",
    "ROOT_KEY",
    "TWO_ACTIVE_KEYS",
    "Finding",
    "Judged",
    "Severity",
    "Thresholds",
    "UserFacts",
    "canonical_code",
    "catalogued",
    "findings_for_user",
    "judge",
    "key_findings",
    "privilege_findings",
    "quarantine_message",
    "root_key_finding",
    "title_of",
]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    control: str | None
    message: str


def catalogued(code: str, message: str) -> Finding:
    """A finding with its severity and control id from the catalogue."""
    entry = CATALOGUE[code]
    return Finding(code, entry.severity, entry.shown_control, message)


def worst_first(found: list[Finding]) -> list[Finding]:
    """Highest severity first; equal severities keep the catalogue's order."""
    return sorted(found, key=lambda f: -f.severity)


@dataclass(frozen=True)
class Judged:
    """A user's findings: per key (in the order of the keys given), and about the user as a whole."""

    per_key: list[list[Finding]]
    user: list[Finding]


def _run(scope: Scope, evidence: Evidence) -> list[Finding]:
    found = []
    for entry in CATALOGUE.values():
        if entry.scope is scope and (message := entry.rule(evidence)) is not None:
            found.append(catalogued(entry.code, message))
    return worst_first(found)


def judge(keys: Sequence[KeyFacts], user: UserFacts, policy: Thresholds, now: datetime) -> Judged:
    """Every rule of the catalogue over one user's keys: the key-scope ones per key, the user-scope ones once."""
    per_key = [_run(Scope.KEY, Evidence(key, keys, user, policy, now)) for key in keys]
    return Judged(per_key, _run(Scope.USER, Evidence(None, keys, user, policy, now)))


def key_findings(key: KeyFacts, policy: Thresholds, now: datetime) -> list[Finding]:
    """The findings for one key on its own (nothing known of its user), worst first."""
    return judge([key], UserFacts(), policy, now).per_key[0]


def privilege_findings(
    keys: list[KeyFacts], user: UserFacts, policy: Thresholds, now: datetime
) -> tuple[dict[int, list[Finding]], list[Finding]]:
    """The findings what is known of the user adds (least privilege, quarantine):
    ({index in `keys`: findings of that key}, user-level findings)."""
    known, unknown = judge(keys, user, policy, now), judge(keys, UserFacts(), policy, now)
    per_key: dict[int, list[Finding]] = {}
    for i, (found, without) in enumerate(zip(known.per_key, unknown.per_key, strict=True)):
        added = [f for f in found if f not in without]
        if added:
            per_key[i] = added
    return per_key, [f for f in known.user if f not in unknown.user]


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


def findings_for_user(
    keys: list[KeyFacts], policy: Thresholds, now: datetime, user: UserFacts | None = None
) -> dict[str | None, list[Finding]]:
    """Per key id, its own findings plus the user-level ones (attached to every active key), worst first."""
    judged = judge(keys, user or UserFacts(), policy, now)
    return {
        key.key_id: worst_first(own + judged.user) if key.active else own
        for key, own in zip(keys, judged.per_key, strict=True)
    }
