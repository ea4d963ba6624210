"""Block Kit builders for key changes made outside Keywarden (CloudTrail, once IAM bears them out). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message, escape, section, when


@dataclass(frozen=True)
class ChangeFacts:
    call: str  # CreateAccessKey | UpdateAccessKey | DeleteAccessKey
    key_id: str
    account: str | None
    aws_account_id: str
    user: str
    status: str | None  # as IAM shows the key now (None once deleted), not as the event says
    principal: str  # the caller as CloudTrail names it (the event's word)
    source_ip: str
    at: datetime | None
    owner: str | None = None
    rotation: str | None = None  # what became of a rotation in progress on this key


def _change_verb(c: ChangeFacts) -> str:
    if c.call == "CreateAccessKey":
        return "created"
    if c.call == "DeleteAccessKey":
        return "deleted"
    return {"Active": "reactivated", "Inactive": "deactivated"}.get(c.status or "", "changed")


def build_key_changed(c: ChangeFacts, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """A key created, changed or deleted by someone other than Keywarden (CloudTrail), once IAM bears it out.

    `status` is the key's status as IAM shows it; the caller and address are CloudTrail's word, and every
    string that came with the event is escaped (mrkdwn reads `<!here>` and `<https://…|…>`)."""
    user = escape(c.user)
    where = names.user(c.account, c.user) if c.account else f"{user} in AWS account {c.aws_account_id}"
    at = f" at {when(c.at)}" if c.at else ""
    ip = f" from {escape(c.source_ip)}" if c.source_ip else ""
    title = f":warning: Key `{c.key_id}` of *{where}* was {_change_verb(c)} outside Keywarden"
    shown = "IAM no longer lists the key." if c.call == "DeleteAccessKey" else f"IAM shows the key *{c.status}* now."
    lines = [
        title,
        f"{shown} CloudTrail reports the call by `{escape(c.principal)}`{ip}{at}."
        + (f" Owner: <@{c.owner}>." if c.owner else ""),
    ]
    if c.rotation:
        lines.append(c.rotation)
    if c.call == "CreateAccessKey":
        lines.append("A key made without a request skipped approval: if nobody expected it, deactivate it.")
    text = "\n".join(lines)
    return title.replace(":warning: ", ""), [section(text)]
