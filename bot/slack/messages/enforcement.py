"""ENFORCE in words: the warnings before a deadline, the announcement of a deactivation, and the scan digest's lines."""

from __future__ import annotations

from datetime import datetime

from bot.domain.catalogue import KEY_TOO_OLD, KEY_UNUSED, title_of
from bot.domain.enforcement import EnforcementRun
from bot.domain.scan import ScanFinding
from bot.slack import ids
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message, button, context, plural, section, when

# ENFORCE's kinds and the findings they act on, named by their titles in what people read.
_FINDING_OF = {"unused": KEY_UNUSED, "age": KEY_TOO_OLD}


def build_warning(
    f: ScanFinding,
    key_id: str,
    kind: str,
    days: int,
    deadline: datetime,
    dry_run: bool,
    *,
    owner_unreached: bool = False,
    names: AccountNames = SEVERAL_ACCOUNTS,
) -> Message:
    """The warning about the finding's key `key_id`, to the key's owner; to the alert channel when the key has no
    owner Keywarden can reach."""
    what = "would be deactivated (dry run: nothing will change)" if dry_run else "will be deactivated"
    whose = "Your key" if not owner_unreached else "Key"
    text = (
        f":warning: {whose} `{key_id}` (*{names.user(f.account, f.user)}*) {what} by Keywarden on "
        f"{when(deadline)}: it has been *{title_of(_FINDING_OF.get(kind, kind))}* for close to {plural(days, 'day')}, "
        "or longer. Rotate it, or snooze its alerts if it must stay as it is."
    )
    if owner_unreached:
        text += (
            f" Its owner tag names `{f.owner}`, who is not in Slack: this channel is told instead."
            if f.owner
            else " It has no owner tag: this channel is told instead."
        )
    value = ids.key_value(f.account, key_id)
    buttons = [button("Rotate", ids.ALERT_ROTATE, value, "primary"), button("Snooze 7 days", ids.ALERT_SNOOZE, value)]
    return text, [section(text), {"type": "actions", "block_id": "enforce-warning", "elements": buttons}]


def build_announcement(
    f: ScanFinding,
    key_id: str,
    reason: str,
    request_id: str | None,
    *,
    dry_run: bool,
    names: AccountNames = SEVERAL_ACCOUNTS,
) -> Message:
    user = names.user(f.account, f.user)
    if dry_run:
        text = f":test_tube: Dry run: Keywarden would deactivate `{key_id}` (*{user}*) now ({reason})."
        return text, [section(text)]
    text = (
        f":lock: Keywarden deactivated `{key_id}` (*{user}*): {reason}. "
        f"Request {request_id}, approved by the built-in enforcement rule."
    )
    value = ids.key_value(f.account, key_id)
    return text, [
        section(text),
        {"type": "actions", "block_id": "enforced", "elements": [button("Reactivate", ids.ENFORCE_REACTIVATE, value)]},
        context("Reactivate files a normal reactivate request, which goes to approval."),
    ]


def digest_lines(run: EnforcementRun, cap: int) -> list[str]:
    """What enforcement did this scan, for the scan digest (notes)."""
    if run.stopped:
        return [f"enforcement did nothing this scan: {run.stopped}; it tries again at the next scan"]
    lines = []
    if run.deactivated:
        lines.append(f"enforcement deactivated {plural(len(run.deactivated), 'key')}: {', '.join(run.deactivated)}")
    if run.would_deactivate:
        lines.append(
            f"enforcement (dry run) would deactivate {plural(len(run.would_deactivate), 'key')}: "
            + ", ".join(run.would_deactivate)
        )
    if run.waiting:
        lines.append(
            f"{plural(len(run.waiting), 'more key')} "
            + ("is due for enforcement and waits" if len(run.waiting) == 1 else "are due for enforcement and wait")
            + f" for the next scan (ENFORCE_MAX_PER_SCAN={cap})"
        )
    lines += [f"enforcement could not deactivate {k}: {why}" for k, why in run.failed.items()]
    lines += [f"enforcement left {k} alone: {why}" for k, why in run.left_alone.items()]
    lines += [
        f"enforcement could not warn about {k} ({why}): it is not deactivated until warned"
        for k, why in run.not_warned.items()
    ]
    if run.warned:
        lines.append(f"{plural(len(run.warned), 'warning')} sent before enforcement")
    return lines
