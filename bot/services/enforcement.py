"""Opt-in enforcement (ENFORCE): keys nobody fixed are deactivated, after warnings, as policy-approved requests.

Per scan, for each active key with a finding of an enforced kind (`unused` -> key-unused, `age` -> key-too-old)
that is neither snoozed nor exempt: the finding's first sighting plus the configured days is its natural deadline.
Warnings are a precondition (bot/domain/enforcement.py): the 3-day warning, then the 1-day warning, each delivered
(to the owner's DM, or to the alert channel when the key has no owner Keywarden can reach in Slack) and recorded
with the key's deadline; a warning sent late moves the deadline to give the full notice. A key is deactivated only
once both warnings were delivered and its deadline passed; a warning that cannot be delivered holds the key.
A key that stops being enforceable (finding gone, snoozed, exempt, deactivated) or whose warnings were sent in the
other ENFORCE_DRY_RUN mode starts over; so does a key reactivated after enforcement.

Never touched (said in the digest): Keywarden's own IAM user (in any account with the hub's account id), a key of
a user being rotated or with an open request on it, a key a policy `deny` rule protects from `deactivate`. When
Keywarden cannot read its own identity, enforcement does nothing that scan. The deactivation is a request filed by
`keywarden` and approved by the built-in rule (`policy:enforce`), at most ENFORCE_MAX_PER_SCAN per scan, oldest
deadline first; the rest wait. It is announced in the alert channel and the owner's DM with **Reactivate**. Never
a root key. With ENFORCE_DRY_RUN, the same decisions are announced and nothing is changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.aws import AwsError
from bot.clock import Clock
from bot.domain.enforcement import EnforcementRun, Step, StepKind, Warnings, next_step
from bot.domain.findings import KEY_TOO_OLD, KEY_UNUSED
from bot.domain.keys import InputError
from bot.domain.requests import Status
from bot.domain.scan import ScanFinding, ScanReport
from bot.services.approvals.filing import LeftAlone, RequestFiling
from bot.services.own_identity import IdentityUnknown, OwnIdentity
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames
from bot.slack.messages.enforcement import build_announcement, build_warning
from bot.slack.notifier import Notifier
from bot.store.enforcements import Enforcements
from bot.store.finding_notices import FindingNotices

log = logging.getLogger(__name__)

KINDS = {"unused": KEY_UNUSED, "age": KEY_TOO_OLD}
RULE = "policy:enforce"

Key = tuple[str, str]  # (account, key id)


@dataclass(frozen=True)
class _Candidate:
    finding: ScanFinding
    kind: str
    days: int
    natural: datetime  # first seen + days


@dataclass(frozen=True)
class _Due:
    finding: ScanFinding
    deadline: datetime
    kind: str
    days: int


@dataclass(kw_only=True, eq=False)
class EnforcementService:
    enforcements: Enforcements
    notices: FindingNotices
    clock: Clock
    filing: RequestFiling
    notifier: Notifier
    directory: SlackDirectory
    own: OwnIdentity
    rules: dict[str, int]
    max_per_scan: int
    dry_run: bool
    alert_channel: str | None
    names: AccountNames = SEVERAL_ACCOUNTS  # `ci`, or `prod:ci` with several accounts

    def run(self, report: ScanReport) -> EnforcementRun:
        now = self.clock()
        result = EnforcementRun()
        scanned = {a.account for a in report.accounts if not a.error}
        candidates = self._candidates(report, scanned)
        self.enforcements.start_over(scanned, candidates.keys(), self.dry_run)
        if not candidates:
            return result
        try:
            self.own.hub()
        except IdentityUnknown as e:
            result.stopped = f"Keywarden could not read its own AWS identity ({e.message})"
            log.warning("enforcement did nothing this scan: %s", result.stopped)
            return result
        memory = self.enforcements.warnings(k for _, k in candidates)
        due: list[_Due] = []
        for (account, key_id), c in candidates.items():
            f = c.finding
            try:
                if self.own.is_own_user(account, f.user):
                    result.left_alone[key_id] = "Keywarden's own IAM user"
                    continue
            except IdentityUnknown as e:
                result.left_alone[key_id] = f"Keywarden could not tell whether it is its own IAM user ({e.message})"
                continue
            step = next_step(c.natural, memory.get((account, key_id), Warnings()), now)
            if step.kind is StepKind.WAIT:
                continue
            why = self._held(f)
            if why is not None:
                result.left_alone[key_id] = why
            elif step.kind is StepKind.WARN:
                self._warn(c, step, now, result)
            else:
                due.append(_Due(f, step.deadline, c.kind, c.days))
        due.sort(key=lambda d: d.deadline)
        for item in due[: self.max_per_scan]:
            self._enforce(item, result)
        result.waiting = [d.finding.key_id for d in due[self.max_per_scan :] if d.finding.key_id]
        if result.left_alone:
            log.info("enforcement left %d key(s) alone: %s", len(result.left_alone), result.left_alone)
        return result

    def _candidates(self, report: ScanReport, scanned: set[str]) -> dict[Key, _Candidate]:
        """Each enforceable key once, with its earliest natural deadline (a key may have both kinds)."""
        codes = {KINDS[kind]: (kind, days) for kind, days in self.rules.items()}
        findings = [
            f
            for f in report.findings
            if f.code in codes and f.key_id and f.account in scanned and not f.quiet and f.facts and f.facts.active
        ]
        first_seen = self.notices.first_seen(f.key_id for f in findings)
        out: dict[Key, _Candidate] = {}
        for f in findings:
            assert f.key_id is not None
            seen = first_seen.get((f.account, f.key_id, f.code))
            if seen is None:  # first seen by this very scan: its clock starts when the alerts record it
                continue
            kind, days = codes[f.code]
            c = _Candidate(f, kind, days, seen + timedelta(days=days))
            known = out.get((f.account, f.key_id))
            if known is None or c.natural < known.natural:
                out[(f.account, f.key_id)] = c
        return out

    def _held(self, f: ScanFinding) -> str | None:
        """Why the key must be left alone now (read live), or None."""
        assert f.key_id is not None
        try:
            self.filing.enforcement_target(f.account, f.user, f.key_id)
        except LeftAlone as e:
            return str(e)
        except InputError as e:  # gone, or no longer active, since the scan read it
            return str(e)
        except AwsError as e:
            return f"could not be checked ({e.message}); checked again at the next scan"
        return None

    def _warn(self, c: _Candidate, step: Step, now: datetime, result: EnforcementRun) -> None:
        f = c.finding
        assert f.key_id is not None
        owner_id = self.directory.user_id_for(f.owner) if f.owner else None
        to = owner_id or self.alert_channel
        if to is None:
            result.not_warned[f.key_id] = "no owner in Slack and no ALERT_CHANNEL"
            return
        message = build_warning(
            f, f.key_id, c.kind, c.days, step.deadline, self.dry_run, owner_unreached=owner_id is None, names=self.names
        )
        if self.notifier.post(to, message) is None:
            result.not_warned[f.key_id] = "Slack did not take the warning; it is sent again at the next scan"
            return
        self.enforcements.warned(f.account, f.key_id, step.stage, now, step.deadline, self.dry_run)
        result.warned.append(f.key_id)

    def _enforce(self, item: _Due, result: EnforcementRun) -> None:
        f = item.finding
        assert f.key_id is not None
        reason = f"enforced: {item.kind} finding for {item.days} days"
        owner_id = self.directory.user_id_for(f.owner) if f.owner else None
        if self.dry_run:
            result.would_deactivate.append(f.key_id)
            if self.alert_channel:
                self.notifier.post(
                    self.alert_channel, build_announcement(f, f.key_id, reason, None, dry_run=True, names=self.names)
                )
            return
        try:
            request = self.filing.enforce(f.account, f.user, f.key_id, reason, RULE)
        except LeftAlone as e:  # changed since this scan's check: a rotation or request started just now
            result.left_alone[f.key_id] = str(e)
            return
        except (InputError, AwsError) as e:  # already inactive, gone, or AWS said no: reported, the rest go on
            result.failed[f.key_id] = str(getattr(e, "message", e))
            return
        if request.status is not Status.SUCCEEDED:
            result.failed[f.key_id] = request.result or request.status.value
            return
        result.deactivated.append(f.key_id)
        self.enforcements.deactivated(f.account, f.key_id, self.clock(), request.id)
        message = build_announcement(f, f.key_id, reason, request.id, dry_run=False, names=self.names)
        if self.alert_channel:
            self.notifier.post(self.alert_channel, message)
        if owner_id:
            self.notifier.dm(owner_id, message)
