"""`check <access-key-id>`: how the id is written, whose key it is, and the next step (a button where there is one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.inventory import CheckResult
from bot.domain.time_bound import TimeBoundKey
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    context,
    escape,
    key_lines,
    section,
)
from bot.slack.messages.exposures import exposure_blocks, quarantine_blocks, response_buttons
from bot.slack.messages.time_bound import check_note
from bot.slack.messages.trouble import could_not_look


@dataclass(frozen=True)
class Alarm:
    """What `check` knows beyond AWS about the key: a note on its exposure and on its user's quarantine, and
    whether the person asking may use Deactivate now and Rotate on it (its owner or an approver for it)."""

    exposed: str | None = None
    quarantined: str | None = None
    may_act: bool = False


def build_check(
    result: CheckResult,
    now: datetime,
    alarm: Alarm | None = None,
    ends: TimeBoundKey | None = None,
    names: AccountNames = SEVERAL_ACCOUNTS,
) -> Message:
    """`ends`: the key is time-bound (`create --for`), and this is when it ends."""
    alarm = alarm or Alarm()
    blocks: Blocks = [*_problems(result), *_whose(result, now, ends, names)]
    blocks.extend(context(escape(n)) for n in result.notes)
    if alarm.exposed:
        blocks.extend(exposure_blocks(alarm.exposed))
    if alarm.quarantined:
        blocks.extend(quarantine_blocks(alarm.quarantined))
    active = result.key is not None and result.key.facts.active
    if active and (alarm.exposed or alarm.quarantined) and result.account:
        return _switch_off(result.account, result.key_id, alarm, blocks)
    next_step = escape(result.next_step)
    blocks.append(section(f"*Next step:* {next_step}"))
    return f"Check of {escape(result.key_id[:24])}: {next_step}", blocks


def _problems(result: CheckResult) -> Blocks:
    """What is wrong with how the id is written, if anything."""
    if not result.problems:
        return []
    lines = "\n".join(f"• {escape(p)}" for p in result.problems)
    return [section(f"*Problems with how `{escape(result.raw.strip()[:40])}` is written:*\n" + lines)]


def _whose(result: CheckResult, now: datetime, ends: TimeBoundKey | None, names: AccountNames) -> Blocks:
    """Whose key it is and its state; or that it is gone, could not be looked for, or was not found."""
    if result.key is not None:
        whose = section(
            f"`{result.key_id}` belongs to IAM user *{escape(result.user or '')}*"
            f"{names.in_account(result.account)}.\n" + key_lines(result.key, now)
        )
        return [whose] if ends is None else [whose, section(check_note(ends))]
    if result.user:
        return [section(f"`{result.key_id}` is no longer in AWS.")]
    if result.unread:
        return [section(could_not_look(result.key_id, list(result.unread) if names.several else []))]
    if not result.problems or result.key_id.startswith("AKIA"):
        return [section(f"`{escape(result.key_id)}` was not found in any configured account.")]
    return []


def _switch_off(account: str, key_id: str, alarm: Alarm, blocks: Blocks) -> Message:
    """A leaked or quarantined key that still works: the next step is to switch it off, a click away."""
    why = (
        "AWS quarantined its user, so calls the quarantine policy denies fail with AccessDenied, and the key may "
        "have leaked: "
        if alarm.quarantined and not alarm.exposed
        else ""
    )
    if alarm.may_act:
        next_step = f"{why}deactivate it now (everything that uses it stops working), then rotate it."
        blocks.append(section(f"*Next step:* {next_step}"))
        blocks.append({"type": "actions", "block_id": "check", "elements": response_buttons(account, key_id)})
    else:
        next_step = f"{why}its owner or an approver for it should deactivate it now, then rotate it."
        blocks.append(section(f"*Next step:* {next_step}"))
    return f"Check of {key_id}: still active, {next_step}", blocks
