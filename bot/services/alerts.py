"""Delivering a scan: one DM per owner with something new, one digest per scan, memory between scans.

A (key, finding) is announced again only after REMIND_EVERY_DAYS, or sooner when it gets worse.
Delivery state is written only after Slack accepted the message, so a failed post is retried at the
next scan and never lost or doubled.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from bot.clock import Clock
from bot.domain.scan import Delivery, NoticeState, ScanFinding, ScanReport, should_announce
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
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.models import FindingNotice, ScanRun, Snooze

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (account, subject, code)


class AlertService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        directory: SlackDirectory,
        index: OwnershipIndex,
        audit: AuditLog,
        *,
        alert_channel: str | None,
        remind_every: timedelta,
        command: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        self._directory = directory
        self._index = index
        self._audit = audit
        self._channel = alert_channel
        self._remind_every = remind_every
        self._command = command

    def deliver(self, report: ScanReport, trigger: str = "schedule") -> Delivery:
        now = self._clock()
        delivery = Delivery()
        scanned = {a.account for a in report.accounts if not a.error}
        findings = [f for f in report.findings if f.account in scanned]
        states, new_keys, delivery.resolved = self._remember(findings, scanned)

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

    def _remember(self, findings: list[ScanFinding], scanned: set[str]) -> tuple[dict[Key, NoticeState], set[Key], int]:
        """Update the memory: seen findings refreshed or added, vanished ones resolved."""
        now = self._clock()
        current = {_key(f): f for f in findings}
        states: dict[Key, NoticeState] = {}
        new: set[Key] = set()
        resolved = 0
        with self._db.session() as session:
            rows = {
                (r.account, r.subject, r.code): r
                for r in session.scalars(select(FindingNotice).where(FindingNotice.account.in_(scanned)))
            }
            for key, row in rows.items():
                states[key] = NoticeState(row.notified_at, row.notified_severity, row.resolved_at)
                if key not in current and row.resolved_at is None:
                    row.resolved_at = now
                    resolved += 1
                    self._audit.record(
                        session,
                        "keywarden",
                        "finding_resolved",
                        account=row.account,
                        iam_user=row.iam_user,
                        key_id=row.subject if row.subject.startswith(("AKIA", "ASIA")) else None,
                        detail=row.code,
                    )
            for key, f in current.items():
                row = rows.get(key)
                if row is None or row.resolved_at is not None:
                    self._audit.record(
                        session,
                        "keywarden",
                        "finding_opened",
                        account=f.account,
                        iam_user=f.user,
                        key_id=f.key_id,
                        detail=f"{f.code}: {f.finding.message}",
                    )
                if row is None:
                    new.add(key)
                    session.add(
                        FindingNotice(
                            account=f.account,
                            subject=f.subject,
                            code=f.code,
                            iam_user=f.user,
                            severity=int(f.finding.severity),
                            owner=f.owner,
                            first_seen=now,
                            last_seen=now,
                        )
                    )
                    continue
                if row.resolved_at is not None:
                    new.add(key)
                row.last_seen, row.severity, row.owner = now, int(f.finding.severity), f.owner
        return states, new, resolved

    def _mark_notified(self, keys: list[Key], current: dict[Key, ScanFinding]) -> None:
        if not keys:
            return
        now = self._clock()
        with self._db.session() as session:
            for key in keys:
                row = session.get(FindingNotice, key)
                if row is not None:
                    row.notified_at = now
                    row.notified_severity = int(current[key].finding.severity)
                    row.notify_count = (row.notify_count or 0) + 1
                    row.resolved_at = None

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
        with self._db.session() as session:
            session.add(
                ScanRun(started_at=report.started_at, finished_at=report.finished_at, trigger=trigger, summary=summary)
            )

    def snooze(self, account: str, key_id: str, user_id: str, days: int = 7) -> str:
        """Silence one key's alerts. Who may (its owner or an approver for it) is checked before, on the user as it
        is now: bot/services/permissions.py."""
        until = self._clock() + timedelta(days=days)
        with self._db.session() as session:
            row = session.get(Snooze, (account, key_id)) or Snooze(account=account, key_id=key_id)
            row.until, row.by = until, user_id
            session.add(row)
            self._audit.record(
                session, user_id, "snoozed", account=account, key_id=key_id, detail=f"until {until:%Y-%m-%d}"
            )
        return f"Alerts for `{key_id}` are snoozed until {until:%Y-%m-%d}."


def _key(f: ScanFinding) -> Key:
    return (f.account, f.subject, f.code)
