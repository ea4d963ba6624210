"""The scan: per account, the credential report plus ListAccessKeys only for users with a finding.

Cost per account: GenerateCredentialReport (1-3 while it builds), GetCredentialReport (1),
GetAccountSummary (1), GetAccountAuthorizationDetails (1 per 1,000 users, only when the ownership
index is stale), and ListAccessKeys once per user with a finding whose key ids are not known yet
(ids seen by an earlier scan or `list` are reused while the report's creation dates match them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select

from bot.aws import AccessKey, AccountClient, AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.db import Database, Snooze
from bot.domain.findings import ROOT_KEY, Finding, Policy, Severity
from bot.domain.report import ReportUser, match_key_ids, parse_credential_report, remembered_key_ids
from bot.domain.scan import ROOT_SUBJECT, ScanFinding, scan_findings, user_report_findings
from bot.services.credential_report import fetch_credential_report
from bot.services.key_memory import KeyMemory
from bot.services.ownership import EXEMPT_REASON_TAG, OwnedUser, OwnershipIndex

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
KEY_LOOKUPS_PER_ACCOUNT = 8


@dataclass
class AccountScan:
    account: str
    findings: list[ScanFinding] = field(default_factory=list)
    users: int = 0
    keys: int = 0
    iam_calls: int = 0
    error: str | None = None


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


class Scanner:
    def __init__(
        self,
        aws: AwsGateway,
        index: OwnershipIndex,
        memory: KeyMemory,
        db: Database,
        clock: Clock,
        policy: Policy,
        *,
        owner_tag: str,
        exempt: frozenset[str] = frozenset(),
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._aws = aws
        self._index = index
        self._memory = memory
        self._db = db
        self._clock = clock
        self._policy = policy
        self._owner_tag = owner_tag
        self._exempt = exempt
        self._concurrency = concurrency
        self._sleep = sleep

    def scan(self, accounts: list[str] | None = None, progress: Progress | None = None) -> ScanReport:
        """Scan accounts concurrently (bounded); one account failing does not stop the others."""
        started = self._clock()
        notes = [] if accounts else self._aws.refresh_accounts().digest_lines()
        aliases = accounts or self._aws.aliases
        results: list[AccountScan] = []
        before = {alias: _iam_calls(self._aws.calls_of(alias)) for alias in aliases}
        # With more accounts than workers, an account's clients are let go once its turn is over (and after
        # its report is started): memory then follows SCAN_CONCURRENCY, not the number of accounts.
        transient = len(aliases) > self._concurrency
        with ThreadPoolExecutor(max_workers=max(1, min(self._concurrency, len(aliases)))) as pool:
            # AWS builds credential reports in the background: ask every account first, so that by
            # the time an account's turn comes its report is (nearly) ready. Failures show up later.
            list(pool.map(lambda alias: self._start_report(alias, transient), aliases))
            futures = [pool.submit(self._scan_account, alias, transient) for alias in aliases]
            for done, future in enumerate(as_completed(futures), start=1):
                result = future.result()
                result.iam_calls = _iam_calls(self._aws.calls_of(result.account)) - before[result.account]
                results.append(result)
                if progress:
                    progress(result.account, done, len(aliases))
        order = {alias: i for i, alias in enumerate(aliases)}
        results.sort(key=lambda r: order[r.account])
        return ScanReport(started, self._clock(), results, notes)

    def _start_report(self, alias: str, transient: bool = False) -> None:
        try:
            self._aws.account(alias).generate_credential_report()
        except AwsError as e:
            log.info("could not start the credential report of %s: %s", alias, e.message)
        finally:
            if transient:
                self._aws.release(alias)

    def _scan_account(self, alias: str, transient: bool = False) -> AccountScan:
        result = AccountScan(alias)
        try:
            self._scan_into(result, alias)
        except AwsError as e:
            log.warning("scan of account %s failed: %s", alias, e.message)
            result.error = e.message
        finally:
            if transient:
                self._aws.release(alias)
        return result

    def _scan_into(self, result: AccountScan, alias: str) -> None:
        client = self._aws.account(alias)
        now = self._clock()
        content, _generated = fetch_credential_report(client, self._clock, self._sleep)
        users = parse_credential_report(content, alias)
        owners = {u.name: u for u in self._index.all_users(alias)}
        snoozed = self._snoozed(alias, now)
        result.users = sum(1 for u in users if not u.is_root)
        result.keys = sum(len(u.keys) for u in users)
        access = {name: owned.access for name, owned in owners.items()}
        flagged = [u for u in users if user_report_findings(u, self._policy, now, access.get(u.user))]
        key_ids = self._key_ids(client, alias, [u for u in flagged if not u.is_root])
        for user in flagged:
            ids = {} if user.is_root else key_ids.get(user.user)
            if ids is None:
                continue  # deleted since the report was made
            for finding in scan_findings(user, ids, self._policy, now, access.get(user.user)):
                result.findings.append(self._annotate(finding, owners.get(user.user), snoozed))
        has_root_finding = any(f.code == ROOT_KEY for f in result.findings)
        if not has_root_finding and client.account_summary().get("AccountAccessKeysPresent", 0):
            root = Finding(ROOT_KEY, Severity.CRITICAL, "IAM.4", "The root user has an access key: delete it.")
            result.findings.append(ScanFinding(alias, "<root_account>", ROOT_SUBJECT, root, None))

    def _key_ids(self, client: AccountClient, alias: str, flagged: list[ReportUser]) -> dict[str, dict[int, str]]:
        """{user: {slot: key id}} for the flagged users that still exist.

        Ids seen by an earlier scan or `list` are reused when the report's creation dates match them
        exactly; the other users' keys are listed (a few calls at once) and remembered.
        """
        seen = self._memory.seen(alias)
        key_ids: dict[str, dict[int, str]] = {}
        unknown: list[ReportUser] = []
        for user in flagged:
            remembered = remembered_key_ids(user.keys, seen.get(user.user, ()))
            if remembered is None:
                unknown.append(user)
            else:
                key_ids[user.user] = remembered
        with ThreadPoolExecutor(max_workers=KEY_LOOKUPS_PER_ACCOUNT) as pool:
            listed = list(pool.map(lambda u: _listed_keys(client, u.user), unknown))
        existing = {u.user: keys for u, keys in zip(unknown, listed, strict=True) if keys is not None}
        self._memory.remember(alias, existing)
        for user in unknown:
            if user.user in existing:
                key_ids[user.user] = match_key_ids(user.keys, existing[user.user])
        return key_ids

    def _annotate(self, finding: ScanFinding, owned: OwnedUser | None, snoozed: set[str]) -> ScanFinding:
        owner = owned.tags.get(self._owner_tag) if owned else None
        reason = None
        if owned is not None and owned.exempt:
            reason = owned.tags.get(EXEMPT_REASON_TAG) or "exempt by IAM tag"
        elif {finding.key_id, finding.user, f"{finding.account}:{finding.user}"} & self._exempt:
            reason = "exempt by configuration"
        return replace(
            finding, owner=owner, exempt_reason=reason, snoozed=bool(finding.key_id and finding.key_id in snoozed)
        )

    def _snoozed(self, account: str, now: datetime) -> set[str]:
        with self._db.session() as session:
            return set(session.scalars(select(Snooze.key_id).where(Snooze.account == account, Snooze.until > now)))


def _listed_keys(client: AccountClient, user: str) -> list[AccessKey] | None:
    """The user's keys, or None when the user no longer exists."""
    try:
        return client.list_access_keys(user)
    except AwsNotFound:
        return None


def _iam_calls(calls: dict[str, int]) -> int:
    return sum(n for name, n in calls.items() if name.startswith("iam:"))
