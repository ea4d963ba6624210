"""Opt-in enforcement (ENFORCE): keys nobody fixed are deactivated, after warnings, as policy-approved requests.

Per scan, for each key with a finding of an enforced kind (`unused` -> key_unused, `age` -> key_too_old):
the finding's first sighting plus the configured days is its deadline. Three days and one day before it the
owner is warned in a DM (Snooze and Rotate buttons). From the deadline on, a key whose owner was told at least
twice (or that has no owner), that is not snoozed or exempt, is deactivated through a request filed by
`keywarden` and approved by the built-in rule (`policy:enforce`), at most ENFORCE_MAX_PER_SCAN per scan,
oldest deadline first; the rest wait for the next scan. The deactivation is announced in the alert channel
and in the owner's DM with **Reactivate**. Never a root key, never Keywarden's own user. With
ENFORCE_DRY_RUN, the same decisions are announced and nothing is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.clock import Clock
from bot.domain.findings import KEY_TOO_OLD, KEY_UNUSED
from bot.domain.requests import Status
from bot.domain.scan import ScanFinding, ScanReport
from bot.services.approvals.filing import RequestFiling
from bot.slack import ids
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import Message, button, context, section
from bot.slack.notifier import Notifier
from bot.store.db import Database
from bot.store.models import Enforcement, FindingNotice

log = logging.getLogger(__name__)

KINDS = {"unused": KEY_UNUSED, "age": KEY_TOO_OLD}
RULE = "policy:enforce"
WARN_DAYS = (3, 1)
TOLD_AT_LEAST = 2


@dataclass
class EnforcementRun:
    warned: list[str] = field(default_factory=list)  # key ids
    deactivated: list[str] = field(default_factory=list)
    would_deactivate: list[str] = field(default_factory=list)  # dry run
    waiting: list[str] = field(default_factory=list)  # over the cap
    failed: dict[str, str] = field(default_factory=dict)

    def digest_lines(self, cap: int) -> list[str]:
        lines = []
        if self.deactivated:
            lines.append(f"enforcement deactivated {len(self.deactivated)} key(s): {', '.join(self.deactivated)}")
        if self.would_deactivate:
            lines.append(
                f"enforcement (dry run) would deactivate {len(self.would_deactivate)} key(s): "
                + ", ".join(self.would_deactivate)
            )
        if self.waiting:
            lines.append(
                f"{len(self.waiting)} more key(s) are due for enforcement and wait for the next scan "
                f"(ENFORCE_MAX_PER_SCAN={cap})"
            )
        lines += [f"enforcement could not deactivate {k}: {why}" for k, why in self.failed.items()]
        if self.warned:
            lines.append(f"{len(self.warned)} owner warning(s) sent before enforcement")
        return lines


@dataclass(frozen=True)
class _Due:
    finding: ScanFinding
    deadline: datetime
    kind: str
    days: int


class EnforcementService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        filing: RequestFiling,
        notifier: Notifier,
        directory: SlackDirectory,
        own_identity: Callable[[], tuple[str | None, str | None]],  # Keywarden's own IAM user: (alias, name)
        *,
        rules: dict[str, int],
        max_per_scan: int,
        dry_run: bool,
        alert_channel: str | None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._filing = filing
        self._notifier = notifier
        self._directory = directory
        self._own_identity = own_identity
        self._rules = rules
        self._max = max_per_scan
        self._dry_run = dry_run
        self._channel = alert_channel

    def run(self, report: ScanReport) -> EnforcementRun:
        now = self._clock()
        result = EnforcementRun()
        scanned = {a.account for a in report.accounts if not a.error}
        codes = {KINDS[kind]: (kind, days) for kind, days in self._rules.items()}
        candidates = [
            f
            for f in report.findings
            if f.code in codes and f.key_id and f.account in scanned and not f.quiet and f.facts and f.facts.active
        ]
        if not candidates:
            return result
        own = self._own_identity()
        notices = self._notices(candidates)
        due: list[_Due] = []
        seen: set[str] = set()
        for f in candidates:
            notice = notices.get((f.account, f.key_id, f.code))
            if notice is None or f.key_id in seen or (f.account, f.user) == own:
                continue
            kind, days = codes[f.code]
            deadline = notice.first_seen + timedelta(days=days)
            if now >= deadline:
                if f.owner is None or (notice.notify_count or 0) >= TOLD_AT_LEAST:
                    due.append(_Due(f, deadline, kind, days))
                    seen.add(f.key_id)
                continue
            self._warn_if_due(f, kind, days, deadline, now, result)
        due.sort(key=lambda d: d.deadline)
        for item in due[: self._max]:
            self._enforce(item, result)
        result.waiting = [d.finding.key_id for d in due[self._max :] if d.finding.key_id]
        return result

    def _notices(self, findings: list[ScanFinding]) -> dict[tuple[str, str, str], FindingNotice]:
        keys = {f.key_id for f in findings}
        with self._db.session() as session:
            rows = session.scalars(select(FindingNotice).where(FindingNotice.subject.in_(keys)))
            return {(r.account, r.subject, r.code): r for r in rows}

    def _warn_if_due(
        self, f: ScanFinding, kind: str, days: int, deadline: datetime, now: datetime, result: EnforcementRun
    ) -> None:
        left = deadline - now
        stage = next((d for d in sorted(WARN_DAYS) if left <= timedelta(days=d)), None)
        if stage is None or f.owner is None:
            return
        assert f.key_id is not None
        slack_id = self._directory.user_id_for(f.owner)
        if slack_id is None:
            return
        with self._db.session() as session:
            row = session.get(Enforcement, (f.account, f.key_id)) or Enforcement(account=f.account, key_id=f.key_id)
            session.add(row)
            warned = row.warned_1_at if stage == 1 else row.warned_3_at
            if warned is not None or (stage == 3 and row.warned_1_at is not None):
                return
        if self._notifier.dm(slack_id, build_warning(f, kind, days, deadline, self._dry_run)) is None:
            return
        with self._db.session() as session:
            row = session.get(Enforcement, (f.account, f.key_id))
            assert row is not None
            if stage == 1:
                row.warned_1_at = now
            else:
                row.warned_3_at = now
        result.warned.append(f.key_id)

    def _enforce(self, item: _Due, result: EnforcementRun) -> None:
        f = item.finding
        assert f.key_id is not None
        reason = f"enforced: {item.kind} finding for {item.days} days"
        owner_id = self._directory.user_id_for(f.owner) if f.owner else None
        if self._dry_run:
            result.would_deactivate.append(f.key_id)
            if self._channel:
                self._notifier.post(self._channel, build_announcement(f, reason, None, dry_run=True))
            return
        try:
            request = self._filing.enforce(f.account, f.user, f.key_id, reason, RULE)
        except Exception as e:  # an InputError (already inactive, gone) or an AwsError: reported, the rest go on
            result.failed[f.key_id] = str(getattr(e, "message", e))
            return
        if request.status is not Status.SUCCEEDED:
            result.failed[f.key_id] = request.result or request.status.value
            return
        result.deactivated.append(f.key_id)
        with self._db.session() as session:
            row = session.get(Enforcement, (f.account, f.key_id)) or Enforcement(account=f.account, key_id=f.key_id)
            row.deactivated_at, row.request_id = self._clock(), request.id
            session.add(row)
        message = build_announcement(f, reason, request.id, dry_run=False)
        if self._channel:
            self._notifier.post(self._channel, message)
        if owner_id:
            self._notifier.dm(owner_id, message)


def build_warning(f: ScanFinding, kind: str, days: int, deadline: datetime, dry_run: bool) -> Message:
    what = "would be deactivated (dry run: nothing will change)" if dry_run else "will be deactivated"
    text = (
        f":warning: Your key `{f.key_id}` (*{f.account}:{f.user}*) {what} by Keywarden on "
        f"{deadline:%Y-%m-%d %H:%M} UTC: it has had the `{kind}` finding for almost {days} days. "
        "Rotate it, or snooze its alerts if it must stay as it is."
    )
    value = f"{f.account}|{f.key_id}"
    buttons = [button("Rotate", ids.ALERT_ROTATE, value, "primary"), button("Snooze 7 days", ids.ALERT_SNOOZE, value)]
    return text, [section(text), {"type": "actions", "block_id": "enforce-warning", "elements": buttons}]


def build_announcement(f: ScanFinding, reason: str, request_id: str | None, *, dry_run: bool) -> Message:
    if dry_run:
        text = f":test_tube: Dry run: Keywarden would deactivate `{f.key_id}` (*{f.account}:{f.user}*) now ({reason})."
        return text, [section(text)]
    text = (
        f":lock: Keywarden deactivated `{f.key_id}` (*{f.account}:{f.user}*): {reason}. "
        f"Request {request_id}, approved by the built-in enforcement rule."
    )
    value = f"{f.account}|{f.key_id}"
    return text, [
        section(text),
        {"type": "actions", "block_id": "enforced", "elements": [button("Reactivate", ids.ENFORCE_REACTIVATE, value)]},
        context("Reactivate files a normal reactivate request, which goes to approval."),
    ]
