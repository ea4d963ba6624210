"""Delivering a scan: one DM per owner with something new, one digest per scan, memory between scans.

A (key, finding) is announced again only after REMIND_EVERY_DAYS, or sooner when it gets worse.
Delivery state is written only after Slack accepted the message, so a failed post is retried at the
next scan and never lost or doubled.

The same digest (the same findings, accounts and failures) is posted to the alert channel once a day (in
SCAN_TIMEZONE): a second run that day (a manual scan after the scheduled one, `scan --post` run twice, a scan
resumed after a crash) says when it was posted instead of repeating it, unless forced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from bot.clock import Clock
from bot.domain.alert_plan import DeliveryPlan, NoticeKey, digest_fingerprint, notice_key, plan_delivery
from bot.domain.scan import Delivery, ScanFinding, ScanReport
from bot.services.ownership import OwnershipIndex
from bot.services.under_way import WorkUnderWay
from bot.slack.client import SlackDirectory
from bot.slack.messages.scans import (
    THREAD_LINE_LIMIT,
    DigestFacts,
    build_digest,
    build_findings_dm,
    build_full_list,
    findings_csv,
    users_with_two_active_keys,
)
from bot.slack.notifier import Notifier
from bot.store.finding_notices import FindingNotices
from bot.store.scan_runs import Claimed, DigestClaim, ScanRuns
from bot.store.snoozes import Snoozes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Words:
    """What the messages of one delivery need to know beyond the findings."""

    several_accounts: bool  # users are named account:user
    crowded: frozenset[tuple[str, str]]  # users with two active keys: their keys get no Rotate


@dataclass(kw_only=True, eq=False)
class AlertService:
    notices: FindingNotices
    runs: ScanRuns
    snoozes: Snoozes
    clock: Clock
    notifier: Notifier
    directory: SlackDirectory
    index: OwnershipIndex
    alert_channel: str | None
    remind_every: timedelta
    command: str
    under_way: WorkUnderWay | None = None  # findings Keywarden's own work deals with are not announced
    aliases: Callable[[], Sequence[str]] | None = None  # the accounts: users are named account:user when several
    timezone: tzinfo = UTC  # SCAN_TIMEZONE: where a day of digests begins and ends

    def deliver(self, report: ScanReport, trigger: str = "schedule", *, force: bool = False) -> Delivery:
        """DM the owners, post the digest (once a day for the same content, unless `force`), remember."""
        now = self.clock()
        if self.under_way is not None:
            self.under_way.mark(report)  # before anything is told: the digest and the DMs leave them out
        words = self._words(report)
        scanned, findings = _of_scanned_accounts(report)
        states, new_keys, resolved = self.notices.remember(findings, scanned, now)
        plan = plan_delivery(findings, states, self._slack_ids(findings), now, self.remind_every)
        delivery = Delivery(resolved=resolved)
        announced = self._send_dms(plan, now, delivery, words)
        facts = _digest_facts(report, scanned, plan, delivery, len(new_keys), words)
        run_id, posted = self._post_digest_once(report, trigger, now, facts, delivery, force=force)
        if posted:
            announced += plan.due_in_digest
        # Remember what Slack accepted before anything else can fail, so nothing is sent twice.
        self._mark_notified(announced, {notice_key(f): f for f in findings})
        delivery.announced = len(announced)
        if posted and (plan.due or resolved):
            self._post_full_list(findings, posted[1], words)
        self._record_run(report, delivery, trigger, run_id)
        return delivery

    def _words(self, report: ScanReport) -> _Words:
        return _Words(
            several_accounts=len(self.aliases() if self.aliases else report.accounts) > 1,
            crowded=users_with_two_active_keys(report.findings),
        )

    def _slack_ids(self, findings: list[ScanFinding]) -> dict[str, str | None]:
        """{owner: Slack user id (None: not found)} of the owners of findings to announce."""
        owners = {f.owner for f in findings if f.owner and not f.quiet}
        return {owner: self.directory.user_id_for(owner) for owner in owners}

    def _post_digest_once(
        self, report: ScanReport, trigger: str, now: datetime, facts: DigestFacts, delivery: Delivery, *, force: bool
    ) -> tuple[int | None, tuple[str, str] | None]:
        """The digest in the alert channel unless the same digest was posted today (and not `force`): (this run's id
        when it claimed the digest, where the digest was posted)."""
        if not self.alert_channel:
            return None, None
        claim = self._claim_digest(report, trigger, now)
        if claim.posted_at is not None and not force:
            delivery.digest_already_posted_at = claim.posted_at
            return claim.run_id, None
        posted = self.notifier.post(self.alert_channel, build_digest(facts, now))
        delivery.digest_posted = posted is not None
        self.runs.digest_done(claim.run_id, posted=posted is not None, now=self.clock())
        return claim.run_id, posted

    def _claim_digest(self, report: ScanReport, trigger: str, now: datetime) -> Claimed:
        """This run's claim on its digest: the run is recorded now, and told whether the same digest was posted
        today (bot/store/scan_runs.py)."""
        assert self.alert_channel is not None
        fingerprint = digest_fingerprint(
            report.findings, [a.account for a in report.accounts], [a.account for a in report.failed]
        )
        claim = DigestClaim(self.alert_channel, now.astimezone(self.timezone).date().isoformat(), fingerprint)
        return self.runs.claim_digest(report.started_at, report.finished_at, trigger, claim, now)

    def _send_dms(self, plan: DeliveryPlan, now: datetime, delivery: Delivery, words: _Words) -> list[NoticeKey]:
        """DM each owner with something due; what the accepted DMs announced."""
        announced: list[NoticeKey] = []
        for slack_id, theirs in plan.dms.items():
            message = build_findings_dm(
                theirs, now, self.command, several_accounts=words.several_accounts, crowded=words.crowded
            )
            if self.notifier.dm(slack_id, message):
                delivery.owners_messaged += 1
                announced += plan.due_in(theirs)
            else:
                delivery.failed_dms += 1
        return announced

    def _post_full_list(self, findings: list[ScanFinding], thread_ts: str, words: _Words) -> None:
        now = self.clock()
        assert self.alert_channel is not None
        loud = [f for f in findings if not f.quiet]
        if len(loud) > THREAD_LINE_LIMIT:
            csv_text = findings_csv(findings, now)
            self.notifier.upload(
                self.alert_channel, f"keywarden-findings-{now:%Y%m%d}.csv", csv_text, "All findings", thread_ts
            )
        else:
            full = build_full_list(findings, now, words.several_accounts)
            self.notifier.post(self.alert_channel, full, thread_ts=thread_ts)

    def _mark_notified(self, keys: list[NoticeKey], current: dict[NoticeKey, ScanFinding]) -> None:
        if not keys:
            return
        self.notices.mark_notified({key: int(current[key].finding.severity) for key in keys}, self.clock())

    def _record_run(self, report: ScanReport, delivery: Delivery, trigger: str, run_id: int | None) -> None:
        summary = {
            "accounts": [a.account for a in report.accounts],
            "failed": {a.account: a.error for a in report.failed},
            "findings": len(report.findings),
            "iam_calls": report.iam_calls,
            "owners_messaged": delivery.owners_messaged,
            "announced": delivery.announced,
            "resolved": delivery.resolved,
            "digest_posted": delivery.digest_posted,
        }
        if run_id is not None:  # recorded when it claimed its digest
            self.runs.finish(run_id, summary)
        else:
            self.runs.record(report.started_at, report.finished_at, trigger, summary)

    def snooze(self, account: str, key_id: str, user_id: str, days: int = 7) -> datetime:
        """Silence one key's alerts; until when. Who may (its owner or an approver for it) is checked before, on the
        user as it is now: bot/services/permissions.py."""
        until = self.clock() + timedelta(days=days)
        self.snoozes.snooze(account, key_id, user_id, until)
        return until


def _of_scanned_accounts(report: ScanReport) -> tuple[set[str], list[ScanFinding]]:
    """(the accounts scanned without an error, their findings): what the notices remember and the DMs tell."""
    scanned = {a.account for a in report.accounts if not a.error}
    return scanned, [f for f in report.findings if f.account in scanned]


def _digest_facts(
    report: ScanReport, scanned: set[str], plan: DeliveryPlan, delivery: Delivery, new: int, words: _Words
) -> DigestFacts:
    """What the scan's digest says (scanned accounts' findings first)."""
    return DigestFacts(
        findings=[f for f in report.findings if f.account in scanned]
        + [f for f in report.findings if f.account not in scanned],
        accounts=[a.account for a in report.accounts],
        failed={a.account: a.error for a in report.failed if a.error},
        unowned=plan.unowned,
        unmatched_owners=plan.unmatched_owners,
        resolved=delivery.resolved,
        new=new,
        owners_messaged=delivery.owners_messaged,
        notes=report.notes,
        several_accounts=words.several_accounts,
    )
