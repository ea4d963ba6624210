"""The App Home view: pure builders from plain values (no Slack, no AWS, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.delivery import secret_name
from bot.domain.requests import MAKES_KEY, Request, Status
from bot.slack import ids
from bot.slack.messages.common import button, escape, who
from bot.slack.messages.requests import decision_buttons, headline

MAX_BLOCKS = 100  # Slack's limit for a Home view
MAX_KEYS_WITH_BUTTONS = 20  # two blocks each; keys with findings first, the rest listed in one block
MAX_REQUESTS = 10
MAX_QUEUE = 15


@dataclass(frozen=True)
class HomeKey:
    key_id: str
    created: datetime | None
    findings: tuple[str, ...] = ()  # finding codes not yet resolved
    rotating: str | None = None  # the rotation's state, when one is in progress


@dataclass(frozen=True)
class HomeUser:
    account: str
    name: str
    keys: tuple[HomeKey, ...]


@dataclass(frozen=True)
class HomeRotation:
    id: str
    account: str
    iam_user: str
    old_key_id: str
    state: str


@dataclass(frozen=True)
class CriticalKey:
    account: str
    iam_user: str
    key_id: str
    code: str


@dataclass(frozen=True)
class Home:
    user_id: str
    name: str | None
    users: list[HomeUser]
    requests: list[Request]
    rotations: list[HomeRotation]
    approver: bool = False
    queue: list[Request] = field(default_factory=list)
    last_scan: str | None = None
    critical: list[CriticalKey] = field(default_factory=list)
    note: str = ""  # e.g. "Slack did not say who you are"
    stored_under: str | None = None  # SECRET_PREFIX when keys go to Secrets Manager: then no Reveal anywhere


def last_scan_line(finished_at: datetime, findings: int, accounts: int, failed: int) -> str:
    """The approver's one line on the last finished scan."""
    return f"{finished_at:%Y-%m-%d %H:%M} UTC · {findings} findings in {accounts} accounts" + (
        f" · {failed} failed" if failed else ""
    )


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
    if accessory:
        block["accessory"] = accessory
    return block


def _actions(block_id: str, *elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id[:255], "elements": list(elements)}


_STORED = "Keywarden creates the key and stores it in AWS Secrets Manager as"
_NEVER_SHOWN = "it is never shown in Slack, and the DM about the request names the secret and how to fetch it."


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _age(created: datetime | None, now: datetime) -> str:
    return f"{(now - created).days} days old" if created else "age unknown"


def build_home(home: Home, now: datetime) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Keywarden"}},
    ]
    if home.note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": home.note}]})
    blocks += _key_blocks(home, now)
    blocks.append({"type": "divider"})
    blocks += _request_blocks(home)
    if home.rotations:
        lines = [
            f"*{r.id}*: `{r.old_key_id}` of {escape(r.account)}:{escape(r.iam_user)} · {r.state}"
            for r in home.rotations[:20]
        ]
        blocks.append(_section("*Your rotations*\n" + "\n".join(lines)))
    if home.approver:
        blocks.append({"type": "divider"})
        blocks += _approver_blocks(home)
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section("_More than fits here: use `list` and `requests`._")]
    return {"type": "home", "blocks": blocks}


def _key_blocks(home: Home, now: datetime) -> list[dict[str, Any]]:
    """The user's keys, those with findings first: buttons for the first ones, one line each for the rest."""
    blocks = [_section("*Your IAM users and their keys*")]
    if not home.users:
        blocks.append(_section("_You own no IAM users with keys (per their owner tag)._"))
    items = [(user, key) for user in home.users for key in user.keys]
    items.sort(key=lambda i: (not i[1].findings, i[0].account, i[0].name, i[1].key_id))  # findings first
    for user, key in items[:MAX_KEYS_WITH_BUTTONS]:
        text = f"*{escape(user.account)}:{escape(user.name)}* `{key.key_id}` · {_age(key.created, now)}"
        if key.findings:
            text += " · findings: " + ", ".join(f"`{c}`" for c in key.findings)
        if key.rotating:
            text += f" · rotation: {key.rotating}"
        value = ids.key_value(user.account, key.key_id)
        elements = [] if key.rotating else [button("Rotate", ids.ALERT_ROTATE, value, "primary")]
        elements.append(button("Deactivate", ids.ALERT_DEACTIVATE, value))
        blocks.append(_section(text))
        blocks.append(_actions(f"key-{key.key_id}", *elements))
    rest = items[MAX_KEYS_WITH_BUTTONS:]
    if rest:
        lines = [f"`{k.key_id}` of {escape(u.account)}:{escape(u.name)} · {_age(k.created, now)}" for u, k in rest]
        blocks.append(_section(f"*{len(rest)} more keys* (`list` shows them with their buttons):\n" + _fitting(lines)))
    return blocks


def _fitting(lines: list[str], limit: int = 2600) -> str:
    """As many lines as fit in `limit` characters, then how many were left out."""
    shown: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in shown) + len(line) > limit:
            break
        shown.append(line)
    more = f"\n…and {len(lines) - len(shown)} more" if len(shown) < len(lines) else ""
    return "\n".join(shown) + more


def _request_blocks(home: Home) -> list[dict[str, Any]]:
    """The user's open requests, each with what they can do next (cancel, nudge, reveal)."""
    blocks = [_section("*Your open requests*")]
    if not home.requests:
        blocks.append(_section("_None._"))
    for req in home.requests[:MAX_REQUESTS]:
        blocks.append(_section(f"*{req.id}*: {headline(req)} · {req.status.value}"))
        if req.status is Status.PENDING:
            blocks.append(
                _actions(f"mine-{req.id}", button("Cancel", ids.CANCEL, req.id), button("Nudge", ids.NUDGE, req.id))
            )
        elif req.operation in MAKES_KEY and home.stored_under is not None:
            if req.status in (Status.APPROVED, Status.EXECUTING):
                name = secret_name(home.stored_under, req.account, req.iam_user)
                blocks.append(_context(f"{_STORED} `{escape(name)}` when the delivery finishes; {_NEVER_SHOWN}"))
        elif req.status is Status.APPROVED and req.operation in MAKES_KEY:
            blocks.append(_actions(f"mine-{req.id}", button("Reveal", ids.REVEAL, req.id, "primary")))
    return blocks


def _approver_blocks(home: Home) -> list[dict[str, Any]]:
    """An approver's part: the queue with decision buttons, the last scan and the keys with critical findings."""
    blocks = [_section(f"*Waiting for approval* ({len(home.queue)})")]
    if not home.queue:
        blocks.append(_section("_Nothing is waiting._"))
    for req in home.queue[:MAX_QUEUE]:
        text = f"*{req.id}*: {who(req.requester)} asks to {headline(req)}"
        if req.reason:
            text += f"\n*Reason:* {escape(req.reason)}"
        if req.approvals_needed > 1:
            text += f"\n{len(req.approvers)} of {req.approvals_needed} approvals"
        blocks.append(_section(text))
        blocks.append(_actions(f"queue-{req.id}", *decision_buttons(req)))
    if len(home.queue) > MAX_QUEUE:
        blocks.append(_section(f"_…and {len(home.queue) - MAX_QUEUE} more in the approval channel._"))
    blocks.append(_section(f"*Last scan:* {home.last_scan or '_no scan yet_'}"))
    if home.critical:
        lines = [f"`{c.key_id}` of {c.account}:{c.iam_user} · `{c.code}`" for c in home.critical[:20]]
        blocks.append(_section("*Keys with critical findings*\n" + "\n".join(lines)))
    return blocks
