"""`help`: the commands a person may run, by who may run them (bot/domain/commands.ROLES), one example each."""

from __future__ import annotations

from bot.domain.catalogue import CATALOGUE
from bot.domain.commands import ANYONE, APPROVER, BREAK_GLASS_USAGE, OWNER, ROLES, USAGE
from bot.domain.operations import REQUEST_OPERATIONS
from bot.slack.messages.common import Message, escape, section

# What each command is for, in a few words.
_WHAT: dict[str, str] = {
    "list": "the keys of a user, or of every user you own",
    "check": "whose a key id is, whether it works, and what to do",
    **{spec.name: f"{spec.label.lower()}, after approval" for spec in REQUEST_OPERATIONS.values()},
    "requests": "your open requests",
    "cancel": "withdraw a request of yours",
    "activity": "what a key did: calls, addresses, errors (CloudTrail)",
    "access": "which AWS services a user uses, and what it could lose (Access Advisor)",
    "audit": "recent audit events, of everything or of one user or key",
    "scan": "scan every account now and post the results",
    "replace": "where a key runs, and the IAM role that can replace it",
    "retire": "switch a key off once the role replacing it is in use",
}
_GROUPS = (
    (ANYONE, "Anyone"),
    (OWNER, "The owner of a key or user (and approvers)"),
    (APPROVER, "Approvers"),
)


def _line(command: str, form: str, example: str, what: str) -> str:
    shown = f"`{command} {escape(example)}`"
    what = f": {what}" if what else ""
    if form == example:  # nothing to fill in: the example is the whole usage
        return f"• {shown}{what}"
    return f"• `{escape(form)}`{what}. For example {shown}"


def _group(command: str, role: str) -> list[str]:
    lines = []
    for name, (form, example) in USAGE.items():
        if ROLES[name] != role or name == "help":
            continue
        if name == "deactivate":
            form = form.replace(" [--now]", "")  # `--now` is the owner's or an approver's: shown in their group
        lines.append(_line(command, form, example, _WHAT.get(name, "")))
    if role == OWNER:
        form, example = BREAK_GLASS_USAGE
        lines.append(_line(command, form, example, "deactivate it at once (break-glass), announced to approvers"))
    return lines


def build_help(command: str, *, approver: bool = False, guest: bool = False) -> Message:
    """`help` as the asker may use it: every group for an approver; anyone's and owners' for others, with a line
    saying approvers have more; for a Slack guest, that only `help` is theirs."""
    intro = f"*Keywarden* looks after AWS access keys. Type `{command} <command>`:"
    if guest:
        text = (
            f"*Keywarden* looks after AWS access keys. As a Slack guest you can use only `{command} help`; "
            "ask a full member of the workspace for anything else."
        )
        return text, [section(text)]
    lines = [escape(intro)]
    for role, title in _GROUPS:
        if role == APPROVER and not approver:
            continue
        lines.append(f"*{title}*")
        lines.extend(_group(command, role))
    if not approver:
        others = " and ".join(f"`{n}`" for n, r in ROLES.items() if r == APPROVER)
        lines.append(f"_Approvers also have {others}._")
    lines.append(f"`{command}` alone opens a form to request a key operation.")
    lines.append("What scans report: " + ", ".join(e.title for e in CATALOGUE.values()) + ".")
    return lines[0], [section("\n".join(lines))]
