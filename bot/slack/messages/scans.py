"""Block Kit builders for scan results: the owner's DM, the channel digest, the full list. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.domain.findings import AWS_QUARANTINE, CATALOGUE, REPLACEABLE_BY_ROLE, TWO_ACTIVE_KEYS
from bot.domain.scan import ScanFinding, worst_first
from bot.domain.under_way import UnderWay, Work
from bot.slack import ids
from bot.slack.messages.common import (
    Blocks,
    Message,
    account_user,
    button,
    context,
    day,
    escape,
    finding_line,
    last_used_text,
    plural,
    section,
    utc_day,
    when,
)
from bot.slack.messages.csv_files import csv_text
from bot.slack.messages.exposures import response_buttons
from bot.slack.messages.roles import REPLACE

if TYPE_CHECKING:
    from bot.domain.scan import Delivery, ScanReport

FINDING_NAMES = {code: entry.label for code, entry in CATALOGUE.items()}
MAX_KEYS_IN_DM = 20  # each key takes two blocks; Slack allows 50 per message
MAX_QUARANTINED_IN_DIGEST = 10  # each with its buttons: two blocks
THREAD_LINE_LIMIT = 40  # more than this goes to a CSV file


def _subject(f: ScanFinding) -> str:
    return f"`{f.key_id}`" if f.key_id else ("the root user" if f.subject == "root" else f"user `{f.user}`")


def finding_row(f: ScanFinding, now: datetime, several_accounts: bool = True) -> str:
    facts = f"{plural(f.facts.age_days(now), 'day')} old, last used {last_used_text(f.facts)}" if f.facts else ""
    return f"*{account_user(f.account, f.user, several_accounts)}* {_subject(f)} {facts}\n    {finding_line(f.finding)}"


def _quarantined(f: ScanFinding) -> bool:
    """An active key on a user AWS quarantined: it gets Deactivate now and Rotate."""
    return f.code == AWS_QUARANTINE and f.key_id is not None and f.facts is not None and f.facts.active


def users_with_two_active_keys(findings: list[ScanFinding]) -> frozenset[tuple[str, str]]:
    """(account, user) of every user the scan saw with two active keys, announced or not: Rotate cannot work there
    (a user has at most two keys, and neither may be deleted first)."""
    return frozenset((f.account, f.user) for f in findings if f.code == TWO_ACTIVE_KEYS)


def needing_attention(findings: list[ScanFinding]) -> str:
    """What an owner's findings are about, counted as things (keys, and users whose findings are not about one key),
    never as findings: `2 of your AWS access keys need attention`, `1 of your IAM users needs attention`."""
    keys = {(f.account, f.subject) for f in findings if not f.subject.startswith("user:")}
    users_with_keys = {(f.account, f.user) for f in findings if not f.subject.startswith("user:")}
    users = {(f.account, f.user) for f in findings if f.subject.startswith("user:")} - users_with_keys
    if keys and users:
        return f"{len(keys)} of your AWS access keys and {plural(len(users), 'IAM user')} need attention"
    if users:
        return f"{len(users)} of your IAM users {'needs' if len(users) == 1 else 'need'} attention"
    return f"{len(keys)} of your AWS access keys {'needs' if len(keys) == 1 else 'need'} attention"


def build_findings_dm(
    findings: list[ScanFinding],
    now: datetime,
    command: str,
    *,
    several_accounts: bool = True,
    crowded: frozenset[tuple[str, str]] = frozenset(),
) -> Message:
    """One DM for one owner: every key of theirs with findings, with buttons per key. `crowded`: the users with two
    active keys, whose keys get no Rotate (it would be refused)."""
    by_key: dict[str, list[ScanFinding]] = {}
    for f in worst_first(findings, now):
        by_key.setdefault(f.key_id or f.subject, []).append(f)
    headline = needing_attention(findings)
    blocks: Blocks = [section(f"*{headline}*")]
    for n, group in enumerate(by_key.values()):
        if n == MAX_KEYS_IN_DM:
            blocks.append(context(f"…and {len(by_key) - n} more: `{command} list` shows them all."))
            break
        first = group[0]
        lines = [finding_row(first, now, several_accounts)] + [f"    {finding_line(g.finding)}" for g in group[1:]]
        blocks.append(section("\n".join(lines)))
        if first.key_id:
            value = ids.key_value(first.account, first.key_id)
            buttons: list[dict[str, Any]] = []
            if any(_quarantined(g) for g in group):  # a leak AWS saw: the exposure answer, break-glass first
                buttons += response_buttons(first.account, first.key_id)
            elif first.facts and first.facts.active:
                if (first.account, first.user) not in crowded:
                    buttons.append(button("Rotate", ids.ALERT_ROTATE, value, "primary"))
                buttons.append(button("Deactivate", ids.ALERT_DEACTIVATE, value))
                if any(g.code == REPLACEABLE_BY_ROLE for g in group):
                    buttons.append(button(REPLACE, ids.REPLACE_WITH_ROLE, value))
            buttons.append(button("Snooze 7 days", ids.ALERT_SNOOZE, value))
            blocks.append({"type": "actions", "block_id": f"key-{n}", "elements": buttons})
    return headline, blocks


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
    several_accounts: bool = True  # name users as account:user


def build_digest(d: DigestFacts, now: datetime) -> Message:
    loud = [f for f in d.findings if not f.quiet]
    title = f"Key scan: {plural(len(loud), 'finding')} in {plural(len(d.accounts), 'account')}"
    blocks: Blocks = [section(_digest_counts(title, d, loud))]
    quarantined = worst_first([f for f in loud if _quarantined(f)], now)
    blocks += _quarantined_blocks(quarantined, now, d.several_accounts)
    shown = {f.key_id for f in quarantined[:MAX_QUARANTINED_IN_DIGEST]}
    worst = worst_first([f for f in loud if f.key_id is None or f.key_id not in shown], now)[:5]
    if worst:
        rows = (finding_row(f, now, d.several_accounts) for f in worst)
        blocks.append(section("*Worst keys*\n" + "\n".join(rows)))
    under_way = _under_way_line(d)
    if under_way:
        blocks.append(context(under_way))
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
    # How many keys could go: every key a role could replace, snoozed or not (an exemption keeps a key out).
    could_go = {(f.account, f.key_id) for f in d.findings if f.code == REPLACEABLE_BY_ROLE and not f.exempt_reason}
    if could_go:
        lines.append(f":seedling: {plural(len(could_go), 'key')} could be replaced by a role")
    return "\n".join(lines)


def _quarantined_blocks(quarantined: list[ScanFinding], now: datetime, several_accounts: bool) -> Blocks:
    """Keys AWS quarantined, each with the exposure buttons; the rest are counted and left to the thread."""
    blocks: Blocks = []
    for n, f in enumerate(quarantined[:MAX_QUARANTINED_IN_DIGEST]):
        assert f.key_id is not None
        blocks.append(section(finding_row(f, now, several_accounts)))
        blocks.append(
            {"type": "actions", "block_id": f"quarantine-{n}", "elements": response_buttons(f.account, f.key_id)}
        )
    if len(quarantined) > MAX_QUARANTINED_IN_DIGEST:
        blocks.append(
            context(f"…and {len(quarantined) - MAX_QUARANTINED_IN_DIGEST} more quarantined keys in the thread.")
        )
    return blocks


def under_way_text(work: UnderWay, several_accounts: bool = True) -> str:
    """Keywarden's own work on a user's keys, said where a finding it deals with would have been."""
    user = account_user(work.account, work.iam_user, several_accounts)
    if work.work is Work.ROTATION:
        return (
            f"rotation {work.request_id} of *{user}* is under way: the old key `{work.old_key_id}` is checked on "
            f"{when(work.next_date)} and switched off if nothing used it since `{work.new_key_id}` was made"
        )
    return (
        f"*{user}* has a new key, `{work.new_key_id}` (request {work.request_id}): two active keys are expected "
        f"until {day(work.next_date)}, while its programs move over"
    )


def _under_way_line(d: DigestFacts) -> str:
    """The work under way that findings were left to (not announced), once per piece of work."""
    works = list({f.under_way.request_id: f.under_way for f in d.findings if f.under_way is not None}.values())
    if not works:
        return ""
    lines = [f":arrows_counterclockwise: {under_way_text(w, d.several_accounts)}" for w in works[:5]]
    if len(works) > 5:
        lines.append(f"…and {plural(len(works) - 5, 'more rotation or new key', 'more rotations or new keys')}")
    return "Not announced, Keywarden is on it:\n" + "\n".join(lines)


def _digest_notes(d: DigestFacts) -> list[str]:
    """The digest's footnotes: owners not found, findings not announced, accounts that failed, notes."""
    notes = []
    if d.unowned:
        notes.append(f":bust_in_silhouette: {plural(len(d.unowned), 'finding')} on keys with no owner tag")
    for tag, n in sorted(d.unmatched_owners.items()):
        notes.append(f":question: owner tag `{escape(tag)}` matches no Slack user ({plural(n, 'finding')})")
    quiet_snoozed = sum(1 for f in d.findings if f.snoozed)
    quiet_exempt = sum(1 for f in d.findings if f.exempt_reason)
    quiet_under_way = sum(1 for f in d.findings if f.under_way is not None and not f.snoozed and not f.exempt_reason)
    if quiet_snoozed or quiet_exempt or quiet_under_way:
        parts = [f"{quiet_snoozed} snoozed", f"{quiet_exempt} exempt"]
        if quiet_under_way:
            parts.append(f"{quiet_under_way} left to Keywarden's own work under way")
        notes.append("Not announced: " + ", ".join(parts))
    for account, error in d.failed.items():
        notes.append(f":x: account `{account}` could not be scanned: {escape(error)}")
    notes += [f":information_source: {escape(note)}" for note in d.notes]
    notes.append(f"{plural(d.owners_messaged, 'owner')} messaged.")
    return notes


def build_full_list(findings: list[ScanFinding], now: datetime, several_accounts: bool = True) -> Message:
    loud = worst_first([f for f in findings if not f.quiet], now)
    rows = [finding_row(f, now, several_accounts) for f in loud] or ["No findings."]
    chunks: list[str] = []
    for row in rows:  # whole rows per section: a date token cut in two would show as text
        if chunks and len(chunks[-1]) + 1 + len(row) <= 2900:
            chunks[-1] += "\n" + row
        else:
            chunks.append(row)
    return "All findings", [section(c) for c in chunks[:40]]


def scan_summary(report: ScanReport, delivery: Delivery, channel: str | None) -> str:
    loud = [f for f in report.findings if not f.quiet]
    parts = [f"Scan done: {plural(len(loud), 'finding')} in {plural(len(report.accounts), 'account')}"]
    if report.failed:
        parts.append(
            f"{plural(len(report.failed), 'account')} failed: "
            + "; ".join(f"{a.account}: {escape(a.error or '')}" for a in report.failed)
        )
    parts += report.notes
    if delivery.digest_posted and channel:
        parts.append(f"digest posted in <#{channel}>")
    elif delivery.digest_already_posted_at is not None and channel:
        at = when(delivery.digest_already_posted_at)
        parts.append(f"the same digest is already in <#{channel}> (posted {at}), not posted again")
    parts.append(f"{plural(delivery.owners_messaged, 'owner')} messaged")
    return ", ".join(parts) + "."


def snoozed_reply(key_id: str, until: datetime) -> str:
    return f"Alerts for `{key_id}` are snoozed until {day(until)}."


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
                last_used_text(f.facts, utc_day) if f.facts else "",  # a file, not Slack text: plain UTC
                f.owner or "",
                _status(f),
            ]
            for f in worst_first(findings, now)
        ),
    )


def _status(f: ScanFinding) -> str:
    """A finding's state in the CSV file (for machines: one word each)."""
    if f.exempt_reason:
        return "exempt"
    if f.snoozed:
        return "snoozed"
    return "under-way" if f.under_way is not None else "open"
