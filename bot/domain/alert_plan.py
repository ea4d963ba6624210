"""Who hears about which findings after a scan, decided on plain data.

Every loud (not exempt, not snoozed) finding goes to its owner's DM when the owner resolves to a Slack user;
an owner is messaged only when one of their findings is due, and the DM then lists all of them. Findings
without an owner, or whose owner is not in Slack, are told by the digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.scan import NoticeState, ScanFinding, should_announce

NoticeKey = tuple[str, str, str]  # (account, subject, code): one remembered notice


def notice_key(f: ScanFinding) -> NoticeKey:
    return (f.account, f.subject, f.code)


@dataclass
class DeliveryPlan:
    due: list[ScanFinding] = field(default_factory=list)  # loud findings new, worse or due for a reminder
    by_owner: dict[str, list[ScanFinding]] = field(default_factory=dict)  # Slack user id → their loud findings
    unowned: list[ScanFinding] = field(default_factory=list)
    unmatched_owners: dict[str, int] = field(default_factory=dict)  # owner tag not in Slack → findings

    @property
    def dms(self) -> dict[str, list[ScanFinding]]:
        """The owners to message (those with something due), each with all their loud findings."""
        due = {notice_key(f) for f in self.due}
        return {who: theirs for who, theirs in self.by_owner.items() if any(notice_key(f) in due for f in theirs)}

    def due_in(self, theirs: Sequence[ScanFinding]) -> list[NoticeKey]:
        """What a DM listing `theirs` announces: the due ones among them."""
        due = {notice_key(f) for f in self.due}
        return [notice_key(f) for f in theirs if notice_key(f) in due]

    @property
    def due_in_digest(self) -> list[NoticeKey]:
        """Due findings no DM carries (unowned, or their owner is not in Slack): the digest announces them."""
        owned = {notice_key(f) for theirs in self.by_owner.values() for f in theirs}
        return [notice_key(f) for f in self.due if notice_key(f) not in owned]


def plan_delivery(
    findings: Sequence[ScanFinding],
    states: Mapping[NoticeKey, NoticeState],
    slack_ids: Mapping[str, str | None],
    now: datetime,
    remind_every: timedelta,
) -> DeliveryPlan:
    """Sort a scan's findings into DMs and the digest. `slack_ids` maps each owner tag to its Slack user id
    (None when the owner is not in Slack)."""
    plan = DeliveryPlan()
    for f in findings:
        if f.quiet:
            continue
        if should_announce(states.get(notice_key(f)), f.finding, now, remind_every):
            plan.due.append(f)
        slack_id = slack_ids.get(f.owner) if f.owner else None
        if slack_id:
            plan.by_owner.setdefault(slack_id, []).append(f)
        elif f.owner:
            plan.unmatched_owners[f.owner] = plan.unmatched_owners.get(f.owner, 0) + 1
        else:
            plan.unowned.append(f)
    return plan


def digest_fingerprint(findings: Sequence[ScanFinding], accounts: Sequence[str], failed: Sequence[str]) -> str:
    """What a digest tells, as a short hash: the same findings (each key's or user's finding, its severity, its
    owner, whether it is announced) in the same accounts, with the same accounts failing, make the same digest,
    whatever the run's own counts (new since the last scan, resolved, owners messaged) say. Two runs of a scan
    on the same day give the channel one digest (bot/services/alerts.py)."""
    told = sorted(
        (f.account, f.subject, f.code, int(f.finding.severity), f.owner or "", f.quiet, f.under_way is not None)
        for f in findings
    )
    content = json.dumps([told, sorted(accounts), sorted(failed)], separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()[:32]
