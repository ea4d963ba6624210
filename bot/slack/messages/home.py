"""The App Home view: pure builders from plain values (no Slack, no AWS, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.catalogue import title_of
from bot.domain.delivery import secret_name
from bot.domain.keys import KeyFacts
from bot.domain.requests import MAKES_KEY, Request, Status
from bot.domain.rotation import Rotation
from bot.domain.under_way import UnderWay, Work
from bot.slack import ids
from bot.slack.messages.common import AccountNames, account_user, button, day, escape, plural, when, who
from bot.slack.messages.request_states import STATUS_WORDS
from bot.slack.messages.requests import decision_buttons, headline
from bot.slack.messages.rotations import stage
from bot.slack.messages.trouble import ASK_THE_ADMINS

MAX_BLOCKS = 100  # Slack's limit for a Home view
MAX_KEYS_WITH_BUTTONS = 20  # two blocks each; keys with findings first, the rest listed in one block
MAX_REQUESTS = 10
MAX_QUEUE = 15
LIVE = "live"  # the view's private_metadata when it was published right after reading the keys from AWS


@dataclass(frozen=True)
class HomeKey:
    key_id: str
    created: datetime | None
    findings: tuple[str, ...] = ()  # finding codes not yet resolved (shown by their titles)
    under_way: UnderWay | None = None  # Keywarden's own work on this key (a rotation, a key just made)
    live: KeyFacts | None = None  # status and last use as AWS said (None: only what Keywarden remembers)


@dataclass(frozen=True)
class HomeUser:
    account: str
    name: str
    keys: tuple[HomeKey, ...]
    two_active: bool = False  # Rotate would be refused: neither key may be deleted to make room


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
    rotations: list[Rotation]
    approver: bool = False
    queue: list[Request] = field(default_factory=list)
    last_scan: str | None = None
    critical: list[CriticalKey] = field(default_factory=list)
    note: str = ""  # e.g. "Slack did not say who you are"
    stored_under: str | None = None  # SECRET_PREFIX when keys go to Secrets Manager: then no Reveal anywhere
    several_accounts: bool = True  # name users account:user
    looked_up: datetime | None = None  # when the keys were read from AWS; None: what Keywarden remembers
    live: bool = False  # this view follows a look at AWS just now (not a refresh from the database)
    looking: bool = False  # a look at AWS follows this view
    aws_trouble: str = ""  # AWS could not be asked just now: the log reference of why (the operator's detail)


def last_scan_line(finished_at: datetime, findings: int, accounts: int, failed: int) -> str:
    """The approver's one line on the last finished scan."""
    line = f"{when(finished_at)} · {plural(findings, 'finding')} in {plural(accounts, 'account')}"
    return line + (f" · {failed} failed" if failed else "")


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
    return f"{plural((now - created).days, 'day')} old" if created else "age unknown"


def build_home(home: Home, now: datetime) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Keywarden"}},
        _section(
            "Ask for a new key, a rotation or a change to a key: the request goes to approval.",
            button("Request", ids.HOME_REQUEST, "form", "primary"),
        ),
    ]
    if home.note:
        blocks.append(_context(home.note))
    blocks += _key_blocks(home, now)
    blocks.append({"type": "divider"})
    blocks += _request_blocks(home)
    if home.rotations:
        lines = [
            f"*{r.id}*: `{r.old_key_id}` of {account_user(r.account, r.iam_user, home.several_accounts)} · {stage(r)}"
            for r in home.rotations[:20]
        ]
        blocks.append(_section("*Your rotations*\n" + "\n".join(lines)))
    if home.approver:
        blocks.append({"type": "divider"})
        blocks += _approver_blocks(home)
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section("_More than fits here: use `list` and `requests`._")]
    view: dict[str, Any] = {"type": "home", "blocks": blocks}
    if home.live:
        view["private_metadata"] = LIVE
    return view


def _freshness(home: Home) -> str:
    """Where the keys' lines come from: AWS just now, or Keywarden's memory (and what happens next)."""
    if home.aws_trouble:
        return "AWS could not be asked just now: this is what Keywarden last saw. " + ASK_THE_ADMINS.format(
            ref=escape(home.aws_trouble)
        )
    if home.looked_up is not None:
        return f"Status and last use as AWS said at {when(home.looked_up)}."
    if home.looking:
        return "Asking AWS for each key's status and last use: this view fills in within a few seconds."
    return ""


def work_note(work: UnderWay, key_id: str) -> str:
    """What Keywarden is doing with this key, where the findings it deals with would have been."""
    if work.work is Work.ROTATION and key_id == work.old_key_id:
        return (
            f":arrows_counterclockwise: being replaced by `{work.new_key_id}` (rotation {work.request_id}): checked on "
            f"{when(work.next_date)} and switched off if nothing used it since the new key was made"
        )
    if work.work is Work.ROTATION:
        return f":arrows_counterclockwise: the new key of rotation {work.request_id}, replacing `{work.old_key_id}`"
    if key_id == work.new_key_id:
        return f":new: made by request {work.request_id}; two active keys are expected until {day(work.next_date)}"
    return f":new: `{work.new_key_id}` was just made beside it (request {work.request_id})"


def _last_used(facts: KeyFacts) -> str:
    """When and where a key was last used, the day in the reader's zone."""
    if facts.last_used is None:
        return "never"
    where = ", ".join(escape(p) for p in (facts.last_service, facts.last_region) if p)
    return day(facts.last_used) + (f" ({where})" if where else "")


def _key_line(user: HomeUser, key: HomeKey, home: Home, now: datetime) -> str:
    text = f"*{account_user(user.account, user.name, home.several_accounts)}* `{key.key_id}` · {_age(key.created, now)}"
    if key.live is not None:
        text += f" · {key.live.status.lower()} · last used {_last_used(key.live)}"
    if key.findings:
        text += "\n" + ", ".join(escape(title_of(code)) for code in key.findings)
    if key.under_way is not None:
        text += "\n" + work_note(key.under_way, key.key_id)
    return text


def _key_buttons(user: HomeUser, key: HomeKey) -> list[dict[str, Any]]:
    """Rotate and Deactivate where they can work: no Rotate while Keywarden already replaces a key of the user, or
    beside a second active key; no Deactivate of a key AWS says is inactive."""
    value = ids.key_value(user.account, key.key_id)
    busy = any(k.under_way is not None and k.under_way.work is Work.ROTATION for k in user.keys)
    inactive = key.live is not None and not key.live.active
    elements = []
    if not (busy or user.two_active or inactive):
        elements.append(button("Rotate", ids.ALERT_ROTATE, value, "primary"))
    if not inactive:
        elements.append(button("Deactivate", ids.ALERT_DEACTIVATE, value))
    return elements


def _key_blocks(home: Home, now: datetime) -> list[dict[str, Any]]:
    """The user's keys, those with findings first: buttons for the first ones, one line each for the rest."""
    blocks = [_section("*Your IAM users and their keys*")]
    freshness = _freshness(home)
    if freshness:
        blocks.append(_context(freshness))
    if not home.users:
        blocks.append(
            _section("_Looking for IAM users whose owner tag names you…_")
            if home.looking
            else _section("_You own no IAM users with keys (per their owner tag)._")
        )
    items = [(user, key) for user in home.users for key in user.keys]
    items.sort(key=lambda i: (not i[1].findings, i[0].account, i[0].name, i[1].key_id))  # findings first
    for user, key in items[:MAX_KEYS_WITH_BUTTONS]:
        blocks.append(_section(_key_line(user, key, home, now)))
        elements = _key_buttons(user, key)
        if elements:
            blocks.append(_actions(f"key-{key.key_id}", *elements))
    rest = items[MAX_KEYS_WITH_BUTTONS:]
    if rest:
        lines = [
            f"`{k.key_id}` of {account_user(u.account, u.name, home.several_accounts)} · {_age(k.created, now)}"
            for u, k in rest
        ]
        heading = f"*{plural(len(rest), 'more key')}* (`list` shows them with their buttons):\n"
        blocks.append(_section(heading + _fitting(lines)))
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
    names = AccountNames(several=home.several_accounts)
    for req in home.requests[:MAX_REQUESTS]:
        blocks.append(_section(f"*{req.id}*: {headline(req, names)} · {STATUS_WORDS[req.status]}"))
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
    names = AccountNames(several=home.several_accounts)
    for req in home.queue[:MAX_QUEUE]:
        text = f"*{req.id}*: {who(req.requester)} asks to {headline(req, names)}"
        if req.reason:
            text += f"\n*Reason:* {escape(req.reason)}"
        if req.approvals_needed > 1:
            text += f"\n{len(req.approvers)} of {req.approvals_needed} approvals"
        blocks.append(_section(text))
        blocks.append(_actions(f"queue-{req.id}", *decision_buttons(req, names)))
    if len(home.queue) > MAX_QUEUE:
        blocks.append(_section(f"_…and {len(home.queue) - MAX_QUEUE} more in the approval channel._"))
    blocks.append(_section(f"*Last scan:* {home.last_scan or '_no scan yet_'}"))
    if home.critical:
        lines = [
            f"`{c.key_id}` of {account_user(c.account, c.iam_user, home.several_accounts)} · {escape(title_of(c.code))}"
            for c in home.critical[:20]
        ]
        blocks.append(_section("*Keys with critical findings*\n" + "\n".join(lines)))
    return blocks
