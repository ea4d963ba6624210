"""Block Kit builders for scan results: the owner's DM, the channel digest, the full list. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.domain.findings import AWS_QUARANTINE, CATALOGUE
from bot.domain.scan import ScanFinding, worst_first
from bot.slack import ids
from bot.slack.messages.common import Blocks, Message, button, context, escape, finding_line, last_used_text, section
from bot.slack.messages.csv_files import csv_text
from bot.slack.messages.exposures import response_buttons

if TYPE_CHECKING:
    from bot.domain.scan import Delivery, ScanReport

FINDING_NAMES = {code: entry.label for code, entry in CATALOGUE.items()}
MAX_KEYS_IN_DM = 20  # each key takes two blocks; Slack allows 50 per message
MAX_QUARANTINED_IN_DIGEST = 10  # each with its buttons: two blocks
THREAD_LINE_LIMIT = 40  # more than this goes to a CSV file


def _subject(f: ScanFinding) -> str:
    return f"`{f.key_id}`" if f.key_id else ("the root user" if f.subject == "root" else f"user `{f.user}`")


def finding_row(f: ScanFinding, now: datetime) -> str:
    facts = f"{f.facts.age_days(now)} days old, last used {last_used_text(f.facts)}" if f.facts else ""
    return f"*{f.account}:{f.user}* {_subject(f)} {facts}\n    {finding_line(f.finding)}"


def _quarantined(f: ScanFinding) -> bool:
    """An active key on a user AWS quarantined: it gets Deactivate now and Rotate."""
    return f.code == AWS_QUARANTINE and f.key_id is not None and f.facts is not None and f.facts.active


def build_findings_dm(findings: list[ScanFinding], now: datetime, command: str) -> Message:
    """One DM for one owner: every key of theirs with findings, with buttons per key."""
    by_key: dict[str, list[ScanFinding]] = {}
    for f in worst_first(findings, now):
        by_key.setdefault(f.key_id or f.subject, []).append(f)
    blocks: Blocks = [
        section(f"*Your AWS access keys need attention* ({len(by_key)} key{'s' if len(by_key) != 1 else ''})")
    ]
    for n, group in enumerate(by_key.values()):
        if n == MAX_KEYS_IN_DM:
            blocks.append(context(f"…and {len(by_key) - n} more: `{command} list` shows them all."))
            break
        first = group[0]
        lines = [finding_row(first, now)] + [f"    {finding_line(g.finding)}" for g in group[1:]]
        blocks.append(section("\n".join(lines)))
        if first.key_id:
            value = ids.key_value(first.account, first.key_id)
            buttons: list[dict[str, Any]] = []
            if any(_quarantined(g) for g in group):  # a leak AWS saw: the exposure answer, break-glass first
                buttons += response_buttons(first.account, first.key_id)
            elif first.facts and first.facts.active:
                buttons.append(button("Rotate", ids.ALERT_ROTATE, value, "primary"))
                buttons.append(button("Deactivate", ids.ALERT_DEACTIVATE, value))
            buttons.append(button("Snooze 7 days", ids.ALERT_SNOOZE, value))
            blocks.append({"type": "actions", "block_id": f"key-{n}", "elements": buttons})
    return f"{len(by_key)} of your AWS access keys need attention", blocks


@dataclass
class DigestFacts:
    findings: list[ScanFinding]
    accounts: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    unowned: list[ScanFinding] = field(default_factory=list)
    unmatched_owners: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    new: int = 0
    owners_messaged: int = 0
    notes: list[str] = field(default_factory=list)


def build_digest(d: DigestFacts, now: datetime) -> Message:
    loud = [f for f in d.findings if not f.quiet]
    title = (
        f"Key scan: {len(loud)} finding{'s' if len(loud) != 1 else ''} in "
        f"{len(d.accounts)} account{'s' if len(d.accounts) != 1 else ''}"
    )
    blocks: Blocks = [section(_digest_counts(title, d, loud))]
    quarantined = worst_first([f for f in loud if _quarantined(f)], now)
    blocks += _quarantined_blocks(quarantined, now)
    shown = {f.key_id for f in quarantined[:MAX_QUARANTINED_IN_DIGEST]}
    worst = worst_first([f for f in loud if f.key_id is None or f.key_id not in shown], now)[:5]
    if worst:
        blocks.append(section("*Worst keys*\n" + "\n".join(finding_row(f, now) for f in worst)))
    blocks.append(context("\n".join(_digest_notes(d))))
    return title, blocks


def _digest_counts(title: str, d: DigestFacts, loud: list[ScanFinding]) -> str:
    """The digest's headline: findings by kind, and by account when there are several."""
    counts = Counter(f.code for f in loud)
    per_account = Counter(f.account for f in loud)
    lines = [f"*{title}* ({d.new} new, {d.resolved} resolved since the last scan)"]
    lines += [f"• {FINDING_NAMES.get(code, code)}: {n}" for code, n in counts.most_common()]
    if len(d.accounts) > 1:
        lines.append("By account: " + ", ".join(f"{a} {per_account.get(a, 0)}" for a in d.accounts))
    return "\n".join(lines)


def _quarantined_blocks(quarantined: list[ScanFinding], now: datetime) -> Blocks:
    """Keys AWS quarantined, each with the exposure buttons; the rest are counted and left to the thread."""
    blocks: Blocks = []
    for n, f in enumerate(quarantined[:MAX_QUARANTINED_IN_DIGEST]):
        assert f.key_id is not None
        blocks.append(section(finding_row(f, now)))
        blocks.append(
            {"type": "actions", "block_id": f"quarantine-{n}", "elements": response_buttons(f.account, f.key_id)}
        )
    if len(quarantined) > MAX_QUARANTINED_IN_DIGEST:
        blocks.append(
            context(f"…and {len(quarantined) - MAX_QUARANTINED_IN_DIGEST} more quarantined keys in the thread.")
        )
    return blocks


def _digest_notes(d: DigestFacts) -> list[str]:
    """The digest's footnotes: owners not found, findings not announced, accounts that failed, notes."""
    notes = []
    if d.unowned:
        notes.append(f":bust_in_silhouette: {len(d.unowned)} finding(s) on keys with no owner tag")
    for tag, n in sorted(d.unmatched_owners.items()):
        notes.append(f":question: owner tag `{escape(tag)}` matches no Slack user ({n} finding(s))")
    quiet_snoozed = sum(1 for f in d.findings if f.snoozed)
    quiet_exempt = sum(1 for f in d.findings if f.exempt_reason)
    if quiet_snoozed or quiet_exempt:
        notes.append(f"Not announced: {quiet_snoozed} snoozed, {quiet_exempt} exempt")
    for account, error in d.failed.items():
        notes.append(f":x: account `{account}` could not be scanned: {escape(error)}")
    notes += [f":information_source: {escape(note)}" for note in d.notes]
    notes.append(f"{d.owners_messaged} owner(s) were messaged.")
    return notes


def build_full_list(findings: list[ScanFinding], now: datetime) -> Message:
    loud = worst_first([f for f in findings if not f.quiet], now)
    text = "\n".join(finding_row(f, now) for f in loud) or "No findings."
    chunks = [text[i : i + 2900] for i in range(0, len(text), 2900)][:40]
    return "All findings", [section(c) for c in chunks]


def scan_summary(report: ScanReport, delivery: Delivery, channel: str | None) -> str:
    loud = [f for f in report.findings if not f.quiet]
    parts = [f"Scan done: {len(loud)} finding(s) in {len(report.accounts)} account(s)"]
    if report.failed:
        parts.append(
            f"{len(report.failed)} account(s) failed: "
            + "; ".join(f"{a.account}: {escape(a.error or '')}" for a in report.failed)
        )
    parts += report.notes
    if delivery.digest_posted and channel:
        parts.append(f"digest posted in <#{channel}>")
    parts.append(f"{delivery.owners_messaged} owner(s) messaged")
    return ", ".join(parts) + "."


def snoozed_reply(key_id: str, until: datetime) -> str:
    return f"Alerts for `{key_id}` are snoozed until {until:%Y-%m-%d}."


def findings_csv(findings: list[ScanFinding], now: datetime) -> str:
    return csv_text(
        ["account", "user", "key_id", "finding", "severity", "control", "age_days", "last_used", "owner", "status"],
        (
            [
                f.account,
                f.user,
                f.key_id or "",
                f.code,
                f.finding.severity.name.lower(),
                f.finding.control or "",
                f.facts.age_days(now) if f.facts else "",
                last_used_text(f.facts) if f.facts else "",
                f.owner or "",
                "exempt" if f.exempt_reason else ("snoozed" if f.snoozed else "open"),
            ]
            for f in worst_first(findings, now)
        ),
    )
