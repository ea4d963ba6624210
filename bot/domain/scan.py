"""Scan logic on plain data: findings of a credential report's users, and what to announce again."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.findings import Finding, Thresholds, UserFacts, judge, root_key_finding
from bot.domain.keys import KeyFacts
from bot.domain.privilege import UserAccess
from bot.domain.report import ListedKey, ReportUser, listed_key_facts, report_key_facts
from bot.domain.under_way import UnderWay

ROOT_SUBJECT = "root"


@dataclass(frozen=True)
class ScannedKey:
    """One key of the credential report, with its user's owner as the index keeps it (None: no owner tag)."""

    facts: KeyFacts
    owner: str | None


def inventory_of(users: Iterable[ReportUser], owners: dict[str, str | None]) -> list[ScannedKey]:
    """Every key slot of the report (the root user's too), for the posture summary."""
    return [ScannedKey(k, None if u.is_root else owners.get(u.user)) for u in users for k in report_key_facts(u)]


@dataclass(frozen=True)
class ScanFinding:
    """One finding on one key (or on a user, for user-level findings)."""

    account: str
    user: str
    subject: str  # the key id; `user:<name>` for user-level findings; `root`; `<user>#<slot>` if unmatched
    finding: Finding
    facts: KeyFacts | None
    owner: str | None = None
    exempt_reason: str | None = None
    snoozed: bool = False
    under_way: UnderWay | None = None  # Keywarden's own work deals with it (bot/domain/under_way.py)

    @property
    def key_id(self) -> str | None:
        return self.facts.key_id if self.facts else None

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def quiet(self) -> bool:
        """Exempt, snoozed, or dealt with by Keywarden's own work: counted, not announced to anyone."""
        return self.exempt_reason is not None or self.snoozed or self.under_way is not None


def user_facts(user: ReportUser, access: UserAccess | None, replaceable: Mapping[str, str] | None = None) -> UserFacts:
    """The report's facts about a user (creation, console password) with the index's (policies) and, for keys a role
    could replace, their last workload verdict."""
    return UserFacts(
        created=user.created,
        password_enabled=user.password_enabled,
        admin_reason=access.admin_reason if access else None,
        direct_policies=access.direct_policies if access else (),
        quarantine=access.quarantine if access else (),
        replaceable=tuple(sorted((replaceable or {}).items())),
    )


def user_report_findings(
    user: ReportUser, policy: Thresholds, now: datetime, access: UserAccess | None = None
) -> list[tuple[int | None, Finding]]:
    """(slot, finding) pairs for one report row; slot None for user-level findings. Needs no key ids."""
    facts = report_key_facts(user)
    judged = judge(facts, user_facts(user, access), policy, now)
    found: list[tuple[int | None, Finding]] = []
    for slot, findings in zip((k.slot for k in user.keys), judged.per_key, strict=True):
        found.extend((slot, f) for f in findings)
    found.extend((None, f) for f in judged.user)
    return found


def users_to_judge(
    users: Iterable[ReportUser],
    policy: Thresholds,
    now: datetime,
    access: Mapping[str, UserAccess | None],
    replaceable: Mapping[str, object],
    changed: Collection[str],
) -> list[ReportUser]:
    """The report's rows a scan judges, in the report's order: a user with a finding in the report itself, and (the
    root user aside) a user with a key a role could replace or whose keys Keywarden changed since the report."""
    return [
        u
        for u in users
        if user_report_findings(u, policy, now, access.get(u.user))
        or (not u.is_root and (u.user in replaceable or u.user in changed))
    ]


def scan_findings(
    user: ReportUser,
    key_ids: dict[int, str],
    policy: Thresholds,
    now: datetime,
    access: UserAccess | None = None,
    listed: Sequence[ListedKey] | None = None,
    replaceable: Mapping[str, str] | None = None,
) -> list[ScanFinding]:
    """A user's findings with key ids attached.

    With `listed` (the user's keys from ListAccessKeys just now), findings follow the live keys: their
    status, not the report's `active` flag, and no finding for a slot whose key is gone. Without it,
    findings follow the report, with key ids from `key_ids` as far as they are known. The root user
    has one IAM.4 finding, whatever the number of its keys.
    """
    if user.is_root:
        keys = report_key_facts(user)
        if not keys:
            return []
        oldest = min(keys, key=lambda k: k.created)
        return [ScanFinding(user.account, user.user, ROOT_SUBJECT, root_key_finding(keys), oldest)]
    if listed is None:
        keys = report_key_facts(user, key_ids)
        subjects = [k.key_id or f"{user.user}#{slot.slot}" for slot, k in zip(user.keys, keys, strict=True)]
    else:
        keys = listed_key_facts(user, listed)
        subjects = [k.key_id or "" for k in keys]
    judged = judge(keys, user_facts(user, access, replaceable), policy, now)
    results: list[ScanFinding] = []
    for subject, key, found in zip(subjects, keys, judged.per_key, strict=True):
        results.extend(ScanFinding(user.account, user.user, subject, f, key) for f in found)
    results.extend(ScanFinding(user.account, user.user, f"user:{user.user}", f, None) for f in judged.user)
    return results


@dataclass(frozen=True)
class NoticeState:
    notified_at: datetime | None
    notified_severity: int | None
    resolved_at: datetime | None


def should_announce(state: NoticeState | None, finding: Finding, now: datetime, remind_every: timedelta) -> bool:
    """Announce a (key, finding) when new, back after being resolved, worse, or due for a reminder."""
    if state is None or state.notified_at is None or state.resolved_at is not None:
        return True
    if int(finding.severity) > (state.notified_severity or 0):
        return True
    return now - state.notified_at >= remind_every


def worst_first(findings: Iterable[ScanFinding], now: datetime) -> list[ScanFinding]:
    def rank(f: ScanFinding) -> tuple[int, int]:
        age = f.facts.age_days(now) if f.facts else 0
        return (-int(f.finding.severity), -age)

    return sorted(findings, key=rank)


@dataclass
class AccountScan:
    account: str
    findings: list[ScanFinding] = field(default_factory=list)
    users: int = 0
    keys: int = 0
    iam_calls: int = 0
    error: str | None = None
    inventory: list[ScannedKey] = field(default_factory=list, repr=False)  # every key the report lists
    # What the end-of-scan check needs to judge a user again: the report's rows, owners, snoozes.
    basis: Any = field(default=None, repr=False, compare=False)  # the scanner's own record for its final check


@dataclass
class ScanReport:
    started_at: datetime
    finished_at: datetime
    accounts: list[AccountScan]
    notes: list[str] = field(default_factory=list)  # the organisation's accounts that left or failed to list

    @property
    def findings(self) -> list[ScanFinding]:
        return [f for a in self.accounts for f in a.findings]

    @property
    def failed(self) -> list[AccountScan]:
        return [a for a in self.accounts if a.error]

    @property
    def iam_calls(self) -> int:
        return sum(a.iam_calls for a in self.accounts)


@dataclass
class Delivery:
    owners_messaged: int = 0
    announced: int = 0
    resolved: int = 0
    digest_posted: bool = False
    failed_dms: int = 0
    digest_already_posted_at: datetime | None = None  # the same digest was posted that day: not posted again
