"""The scan: per account, the credential report plus ListAccessKeys only for users with a finding.

Cost per account: GenerateCredentialReport (1-3 while it builds), GetCredentialReport (1),
GetAccountSummary (1), GetAccountAuthorizationDetails (1 per 1,000 users, groups and customer policies, every
scan: the policy findings must see a policy attached a minute ago; it refreshes the ownership index too), and
ListAccessKeys once per user with a finding whose key ids are not known yet
(ids seen by an earlier scan or `list` are reused while the report's creation dates match them).

A report may be up to 4 hours old, so it can contradict what Keywarden itself has done since: users whose
keys Keywarden changed after the report was made are always listed again, and wherever keys were listed,
findings follow the live keys (status, and no finding for a key that is gone). The same check runs once
more at the end of the scan, for changes made while the scan ran, before anyone is told anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.aws import AccountClient, AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.domain.findings import ROOT_KEY, Thresholds, catalogued
from bot.domain.keys import AccessKey
from bot.domain.report import ReportUser, parse_credential_report, remembered_key_ids
from bot.domain.scan import (
    ROOT_SUBJECT,
    AccountScan,
    ScanFinding,
    ScanReport,
    inventory_of,
    scan_findings,
    users_to_judge,
)
from bot.services.credential_report import fetch_credential_report
from bot.services.ownership import EXEMPT_REASON_TAG, OwnedUser, OwnershipIndex
from bot.store.audit import AuditLog
from bot.store.key_changes import KeyChanges
from bot.store.key_memory import KeyMemory
from bot.store.snoozes import Snoozes

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
KEY_LOOKUPS_PER_ACCOUNT = 8
# How far before a report's GeneratedTime a change still counts as "after" it: AWS's clock and ours may
# differ, and a change committed while AWS built the report may or may not be in it.
CHANGE_MARGIN = timedelta(minutes=5)
# Audit events that record a decision or a reminder, never a change to a key in AWS.
BOOKKEEPING = frozenset(
    {
        "requested",
        "approval",
        "approved",
        "denied",
        "cancelled",
        "expired",
        "snoozed",
        "refused",
        "finding_opened",  # what a scan saw, not a change
        "finding_resolved",
        "rotation_grace",
        "rotation_reminder",
        "rotation_hold",
        "rotation_in_use",
        "rotation_stalled",
    }
)


@dataclass(frozen=True)
class _Basis:
    users: dict[str, ReportUser]
    owners: dict[str, OwnedUser]
    snoozed: set[str]
    checked_at: datetime  # Keywarden's changes up to about this time are in the findings
    replaceable: dict[str, dict[str, str]]  # {user: {key id: verdict}}: keys a role could replace


@dataclass(kw_only=True, eq=False)
class Scanner:
    aws: AwsGateway
    index: OwnershipIndex
    memory: KeyMemory
    changes: KeyChanges
    snoozes: Snoozes
    audit: AuditLog
    clock: Clock
    policy: Thresholds
    owner_tag: str
    exempt: frozenset[str] = frozenset()
    concurrency: int = 4
    sleep: Callable[[float], None] = time.sleep
    # {user: {key id: verdict}} of an account's keys whose last workload profile says a role could replace them
    replaceable: Callable[[str], dict[str, dict[str, str]]] | None = None

    def scan(self, accounts: list[str] | None = None, progress: Progress | None = None) -> ScanReport:
        """Scan accounts concurrently (bounded); one account failing does not stop the others."""
        started = self.clock()
        notes = [] if accounts else self.aws.refresh_accounts().digest_lines()
        aliases = accounts or self.aws.list_aliases()
        results: list[AccountScan] = []
        before = {alias: _iam_calls(self.aws.calls_of(alias)) for alias in aliases}
        # With more accounts than workers, an account's clients are let go once its turn is over (and after
        # its report is started): memory then follows SCAN_CONCURRENCY, not the number of accounts.
        transient = len(aliases) > self.concurrency
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(aliases)))) as pool:
            # AWS builds credential reports in the background: ask every account first, so that by
            # the time an account's turn comes its report is (nearly) ready. Failures show up later.
            list(pool.map(lambda alias: self._start_report(alias, transient), aliases))
            futures = [pool.submit(self._scan_account, alias, transient) for alias in aliases]
            for done, future in enumerate(as_completed(futures), start=1):
                result = future.result()
                results.append(result)
                if progress:
                    progress(result.account, done, len(aliases))
            # Keywarden may have changed keys while later accounts were scanned: look again before telling.
            list(pool.map(self._recheck, results))
        for result in results:
            result.iam_calls = _iam_calls(self.aws.calls_of(result.account)) - before[result.account]
        order = {alias: i for i, alias in enumerate(aliases)}
        results.sort(key=lambda r: order[r.account])
        report = ScanReport(started, self.clock(), results, notes)
        # Each scan keeps the audit chain's head outside the audit table, and in its log line: a later
        # cut of the log's newest events then shows (`audit verify`, bot/store/audit_anchors.py).
        head = self.audit.anchor_head(at=report.finished_at)
        log.info(
            "scan finished: %d accounts (%d failed), %d findings; audit chain head %s",
            len(results),
            len(report.failed),
            len(report.findings),
            f"#{head.seq} {head.hash}" if head else "(empty log)",
        )
        return report

    def _start_report(self, alias: str, transient: bool = False) -> None:
        try:
            self.aws.account(alias).generate_credential_report()
        except AwsError as e:
            log.info("could not start the credential report of %s: %s", alias, e.message)
        finally:
            if transient:
                self.aws.release(alias)

    def _scan_account(self, alias: str, transient: bool = False) -> AccountScan:
        result = AccountScan(alias)
        try:
            self._scan_into(result, alias)
        except AwsError as e:
            log.warning("scan of account %s failed: %s", alias, e.message)
            result.error = e.message
        finally:
            if transient:
                self.aws.release(alias)
        return result

    def _scan_into(self, result: AccountScan, alias: str) -> None:
        client = self.aws.account(alias)
        now = self.clock()
        content, generated = fetch_credential_report(client, self.clock, self.sleep)
        users = parse_credential_report(content, alias)
        owners = {u.name: u for u in self.index.fresh_users(alias)}  # policies as they are now, not as last indexed
        snoozed = self._snoozed(alias, now)
        result.users, result.keys = _counts(users)
        replaceable = self.replaceable(alias) if self.replaceable else {}
        basis = _Basis({u.user: u for u in users if not u.is_root}, owners, snoozed, self.clock(), replaceable)
        changed = self._changed_users(alias, generated - CHANGE_MARGIN)
        access = {name: owned.access for name, owned in owners.items()}
        judged = users_to_judge(users, self.policy, now, access, replaceable, changed)
        remembered, listed = self._keys(client, alias, [u for u in judged if not u.is_root], changed)
        for user in judged:
            result.findings += self._judge(user, basis, now, remembered, listed)
        result.basis = basis
        result.inventory = inventory_of(users, {name: owned.owner for name, owned in owners.items()})
        self._add_root_key(result, client)

    def _add_root_key(self, result: AccountScan, client: AccountClient) -> None:
        """The root user's key finding from the account summary, when the report did not show it."""
        if any(f.code == ROOT_KEY for f in result.findings):
            return
        if client.account_summary().get("AccountAccessKeysPresent", 0):
            root = catalogued(ROOT_KEY, "The root user has an access key: delete it.")
            result.findings.append(ScanFinding(result.account, "<root_account>", ROOT_SUBJECT, root, None))

    def _judge(
        self,
        user: ReportUser,
        basis: _Basis,
        now: datetime,
        remembered: dict[str, dict[int, str]],
        listed: dict[str, list[AccessKey]],
    ) -> list[ScanFinding]:
        """One user's findings: from the live keys where they were listed, else from the report."""
        owned = basis.owners.get(user.user)
        access = owned.access if owned else None
        replaceable = basis.replaceable.get(user.user)
        if user.is_root:
            found = scan_findings(user, {}, self.policy, now)
        elif user.user in listed:
            found = scan_findings(user, {}, self.policy, now, access, listed=listed[user.user], replaceable=replaceable)
        elif user.user in remembered:
            found = scan_findings(user, remembered[user.user], self.policy, now, access, replaceable=replaceable)
        else:
            return []  # deleted since the report was made
        return [self._annotate(f, owned, basis.snoozed) for f in found]

    def _recheck(self, result: AccountScan) -> None:
        """List again the users Keywarden changed since the account was judged, and judge them again."""
        basis = result.basis
        if basis is None or result.error:
            return
        try:
            changed = self._changed_users(result.account, basis.checked_at - CHANGE_MARGIN) & basis.users.keys()
            if not changed:
                return
            now = self.clock()
            client = self.aws.account(result.account)
            listed = self._list(client, result.account, sorted(changed))
        except AwsError as e:
            log.warning("could not check %s again before alerting: %s", result.account, e.message)
            return
        kept = [f for f in result.findings if f.user not in changed]
        for name in sorted(changed):
            kept += self._judge(basis.users[name], basis, now, {}, listed)
        result.findings = kept

    def _keys(
        self, client: AccountClient, alias: str, users: list[ReportUser], changed: set[str]
    ) -> tuple[dict[str, dict[int, str]], dict[str, list[AccessKey]]]:
        """({user: {slot: key id}} remembered, {user: keys} listed now) for users that still exist.

        Ids seen by an earlier scan or `list` are reused when the report's creation dates match them
        exactly, unless Keywarden changed the user's keys since the report; the other users' keys are
        listed (a few calls at once) and remembered.
        """
        seen = self.memory.seen(alias)
        remembered: dict[str, dict[int, str]] = {}
        unknown: list[str] = []
        for user in users:
            ids = None if user.user in changed else remembered_key_ids(user.keys, seen.get(user.user, ()))
            if ids is None:
                unknown.append(user.user)
            else:
                remembered[user.user] = ids
        return remembered, self._list(client, alias, unknown)

    def _list(self, client: AccountClient, alias: str, users: list[str]) -> dict[str, list[AccessKey]]:
        """{user: keys} from ListAccessKeys for the users that still exist; remembered for later scans."""
        with ThreadPoolExecutor(max_workers=KEY_LOOKUPS_PER_ACCOUNT) as pool:
            listed = list(pool.map(lambda u: _listed_keys(client, u), users))
        existing = {u: keys for u, keys in zip(users, listed, strict=True) if keys is not None}
        self.memory.remember(alias, existing)
        return existing

    def _changed_users(self, account: str, since: datetime) -> set[str]:
        """Users whose keys Keywarden changed (or may have changed) in AWS after `since`."""
        return self.changes.changed_users_since(account, since, bookkeeping=BOOKKEEPING)

    def _annotate(self, finding: ScanFinding, owned: OwnedUser | None, snoozed: set[str]) -> ScanFinding:
        owner = owned.tags.get(self.owner_tag) if owned else None
        reason = None
        if owned is not None and owned.exempt:
            reason = owned.tags.get(EXEMPT_REASON_TAG) or "exempt by IAM tag"
        elif {finding.key_id, finding.user, f"{finding.account}:{finding.user}"} & self.exempt:
            reason = "exempt by configuration"
        return replace(
            finding, owner=owner, exempt_reason=reason, snoozed=bool(finding.key_id and finding.key_id in snoozed)
        )

    def _snoozed(self, account: str, now: datetime) -> set[str]:
        return self.snoozes.active(account, now)


def _listed_keys(client: AccountClient, user: str) -> list[AccessKey] | None:
    """The user's keys, or None when the user no longer exists."""
    try:
        return client.list_access_keys(user)
    except AwsNotFound:
        return None


def _counts(users: list[ReportUser]) -> tuple[int, int]:
    """(users, keys) of a credential report: the root user is not counted as a user, its keys are."""
    return sum(1 for u in users if not u.is_root), sum(len(u.keys) for u in users)


def _iam_calls(calls: dict[str, int]) -> int:
    return sum(n for name, n in calls.items() if name.startswith("iam:"))
