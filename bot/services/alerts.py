"""Delivering a scan: one DM per owner with something new, one digest per scan, memory between scans.

A (key, finding) is announced again only after REMIND_EVERY_DAYS, or sooner when it gets worse.
Delivery state is written only after Slack accepted the message, so a failed post is retried at the
next scan and never lost or doubled.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain.scan import Delivery, ScanFinding, ScanReport, should_announce
from bot.services.ownership import OwnershipIndex
from bot.slack.client import SlackDirectory
from bot.slack.messages.scans import (
    THREAD_LINE_LIMIT,
    DigestFacts,
    build_digest,
    build_full_list,
    build_owner_dm,
    findings_csv,
)
from bot.slack.notifier import Notifier
from bot.store.finding_notices import FindingNotices
from bot.store.scan_runs import ScanRuns
from bot.store.snoozes import Snoozes

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (account, subject, code)


class AlertService:
    def __init__(
        self,
        notices: FindingNotices,
        runs: ScanRuns,
        snoozes: Snoozes,
        clock: Clock,
        notifier: Notifier,
        directory: SlackDirectory,
        index: OwnershipIndex,
        *,
        alert_channel: str | None,
        remind_every: timedelta,
        command: str,
    ) -> None:
        self._notices = notices
        self._runs = runs
        self._snoozes = snoozes
        self._clock = clock
        self._notifier = notifier
        self._directory = directory
        self._index = index
        self._channel = alert_channel
        self._remind_every = remind_every
        self._command = command

    def deliver(self, report: ScanReport, trigger: str = "schedule") -> Delivery:
        now = self._clock()
        delivery = Delivery()
        scanned = {a.account for a in report.accounts if not a.error}
        findings = [f for f in report.findings if f.account in scanned]
        states, new_keys, delivery.resolved = self._notices.remember(findings, scanned, now)

        due = [
            f
            for f in findings
            if not f.quiet and should_announce(states.get(_key(f)), f.finding, now, self._remind_every)
        ]
        by_owner: dict[str, list[ScanFinding]] = defaultdict(list)
        unowned: list[ScanFinding] = []
        unmatched: dict[str, int] = defaultdict(int)
        for f in findings:
            if f.quiet:
                continue
            slack_id = self._directory.user_id_for(f.owner) if f.owner else None
            if slack_id:
                by_owner[slack_id].append(f)
            elif f.owner:
                unmatched[f.owner] += 1
            else:
                unowned.append(f)
        due_keys = {_key(f) for f in due}
        announced: list[Key] = []
        for slack_id, theirs in by_owner.items():
            if not any(_key(f) in due_keys for f in theirs):
                continue
            if self._notifier.dm(slack_id, build_owner_dm(theirs, now, self._command)):
                delivery.owners_messaged += 1
                announced += [_key(f) for f in theirs if _key(f) in due_keys]
            else:
                delivery.failed_dms += 1
        facts = DigestFacts(
            findings=findings + [f for f in report.findings if f.account not in scanned],
            accounts=[a.account for a in report.accounts],
            failed={a.account: a.error for a in report.failed if a.error},
            unowned=unowned,
            unmatched_owners=dict(unmatched),
            resolved=delivery.resolved,
            new=len(new_keys),
            owners_messaged=delivery.owners_messaged,
            notes=report.notes,
        )
        posted = self._notifier.post(self._channel, build_digest(facts, now)) if self._channel else None
        delivery.digest_posted = posted is not None
        if posted:
            # Unowned findings and findings of unknown owners are announced by the digest itself.
            owned = {_key(f) for theirs in by_owner.values() for f in theirs}
            announced += [_key(f) for f in due if _key(f) not in owned]
        # Remember what Slack accepted before anything else can fail, so nothing is sent twice.
        self._mark_notified(announced, {_key(f): f for f in findings})
        delivery.announced = len(announced)
        if posted and (due or delivery.resolved):
            self._post_full_list(findings, posted[1])
        self._record_run(report, delivery, trigger)
        return delivery

    def _post_full_list(self, findings: list[ScanFinding], thread_ts: str) -> None:
        now = self._clock()
        assert self._channel is not None
        loud = [f for f in findings if not f.quiet]
        if len(loud) > THREAD_LINE_LIMIT:
            csv_text = findings_csv(findings, now)
            self._notifier.upload(
                self._channel, f"keywarden-findings-{now:%Y%m%d}.csv", csv_text, "All findings", thread_ts
            )
        else:
            self._notifier.post(self._channel, build_full_list(findings, now), thread_ts=thread_ts)

    def _mark_notified(self, keys: list[Key], current: dict[Key, ScanFinding]) -> None:
        if not keys:
            return
        self._notices.mark_notified({key: int(current[key].finding.severity) for key in keys}, self._clock())

    def _record_run(self, report: ScanReport, delivery: Delivery, trigger: str) -> None:
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
        self._runs.record(report.started_at, report.finished_at, trigger, summary)

    def snooze(self, account: str, key_id: str, user_id: str, days: int = 7) -> datetime:
        """Silence one key's alerts; until when. Who may (its owner or an approver for it) is checked before, on the
        user as it is now: bot/services/permissions.py."""
        until = self._clock() + timedelta(days=days)
        self._snoozes.snooze(account, key_id, user_id, until)
        return until


def _key(f: ScanFinding) -> Key:
    return (f.account, f.subject, f.code)
