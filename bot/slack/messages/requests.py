"""Block Kit builders for requests: approval messages, DMs, modals. Pure functions."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.delivery import SecretLocation
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.requests import MAKES_KEY, Request, Status, is_break_glass
from bot.slack import ids
from bot.slack.messages.break_glass import break_glass_headline
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    button,
    confirm_dialog,
    context,
    escape,
    plain,
    plural,
    section,
    when,
    who,
)
from bot.slack.messages.request_form import target_element
from bot.slack.messages.request_states import STATUS_WORDS, details_now
from bot.slack.messages.roles import named_role_line
from bot.slack.messages.time_bound import time_bound_line

_OUTCOME = {
    Status.APPROVED: ":white_check_mark: Approved",
    Status.EXECUTING: ":hourglass_flowing_sand: Running",
    Status.SUCCEEDED: ":white_check_mark: Done",
    Status.FAILED: ":x: Failed",
    Status.DENIED: ":no_entry: Denied",
    Status.EXPIRED: ":hourglass: Expired",
    Status.CANCELLED: ":heavy_multiplication_x: Cancelled",
}


def headline(req: Request, names: AccountNames = SEVERAL_ACCOUNTS) -> str:
    """`*deactivate* `AKIA…` of *ci*` (`*prod:ci*` with several accounts)."""
    what = f"*{req.operation.value}* `{req.key_id}` of" if req.key_id else f"*{req.operation.value}* a key for"
    return f"{what} *{names.user(req.account, req.iam_user)}*"


def decision_buttons(req: Request, names: AccountNames = SEVERAL_ACCOUNTS) -> list[dict[str, Any]]:
    """Approve (confirmed) and Deny, for the approval message and the approver's App Home."""
    return [
        button(
            "Approve",
            ids.APPROVE,
            req.id,
            "primary",
            confirm_dialog("Approve?", f"Approve {req.id}: {headline(req, names)}?", "Approve"),
        ),
        button("Deny", ids.DENY, req.id, "danger"),
    ]


def build_approval_message(req: Request, *, reveal: bool = True, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """The message in the approval channel; buttons while pending, the outcome afterwards.

    `reveal=False` (keys delivered through Secrets Manager): the outcome never speaks of a Reveal."""
    user = names.user(req.account, req.iam_user)
    text = f"{req.id}: {who(req.requester)} asks to {req.operation.value} a key of {user}"
    first = f"*Request {req.id}*: {who(req.requester)} asks to {headline(req, names)}"
    if is_break_glass(req):  # already done (or being done): for the approvers to review, not to decide
        text = f"{req.id}: {break_glass_headline(req, names=names)}"
        first = f"*Break-glass {req.id}*: {break_glass_headline(req, names=names)}"
    lines = [
        first,
        f"*Reason:* {escape(req.reason) or '_none given_'}",
        *filter(None, [time_bound_line(req), named_role_line(req)]),
    ]
    blocks: Blocks = [section("\n".join(lines))]
    if not req.owner_ok:
        blocks.append(
            section(
                f":warning: *{who(req.requester)} is not the owner of `{req.iam_user}`* per its owner tag, so this "
                f"request needs one more approval than usual: *{req.approvals_needed}* distinct approvers."
            )
        )
    if req.details:
        blocks.append(section(details_now(req)))
    needed = req.approvals_needed
    if req.approvers:
        approvers = ", ".join(who(a) for a in req.approvers)
        blocks.append(context(f"Approved by {approvers} ({len(req.approvers)} of {needed})"))
    if req.status is Status.PENDING:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": decision_buttons(req, names),
            }
        )
        extra = f"; {needed} approvals needed" if needed > 1 else ""
        blocks.append(context(f"Expires {when(req.expires_at)}{extra}. The requester cannot approve."))
    else:
        blocks.append(section(outcome_line(req, reveal=reveal)))
    return text, blocks


def outcome_line(req: Request, *, reveal: bool = True) -> str:
    label = _OUTCOME.get(req.status) or STATUS_WORDS[req.status].capitalize()
    parts = [f"*{label}*"]
    if req.status is Status.DENIED:
        parts.append(f"by {who(req.decided_by or '?')} at {when(req.decided_at)}: {escape(req.deny_reason or '')}")
    elif req.status is Status.CANCELLED:
        by = who(req.decided_by) if req.decided_by else "the requester"  # decided_by: a break-glass superseded it
        parts.append(f"by {by} at {when(req.updated_at)}")
    elif req.status is Status.EXPIRED:
        parts.append(f"at {when(req.updated_at)}, undecided" if not req.decided_by else f"at {when(req.updated_at)}")
    elif req.decided_by:
        parts.append(f"by {who(req.decided_by)} at {when(req.decided_at)}")
    if req.status is Status.APPROVED and req.operation in MAKES_KEY:
        parts.append("· waiting for the requester to reveal the key" if reveal else "· the key goes to Secrets Manager")
    if req.result:
        parts.append(f"· {req.result}")
    return " ".join(parts)


def build_requester_dm(
    req: Request, secret: SecretLocation | None = None, *, reveal: bool = True, names: AccountNames = SEVERAL_ACCOUNTS
) -> Message:
    """The requester's DM about their request; a Reveal button while a key waits to be revealed.

    `reveal=False` (keys delivered through Secrets Manager): never a Reveal button.
    """
    title = (
        f"{break_glass_headline(req, you=True, names=names)} ({req.id})"
        if is_break_glass(req)
        else f"Your request {req.id} ({headline(req, names)})"
    )
    limit = time_bound_line(req)
    blocks: Blocks = [section(f"{title}\n{outcome_line(req, reveal=reveal)}" + (f"\n{limit}" if limit else ""))]
    if req.status is Status.APPROVED and req.operation in MAKES_KEY and not reveal:
        blocks.append(
            section(
                "Keywarden creates the key and stores it in AWS Secrets Manager; it is never shown in Slack. "
                "This conversation gets the secret's name and how to fetch it."
            )
        )
    elif req.status is Status.APPROVED and req.operation in MAKES_KEY:
        blocks.append(
            section(
                "Click *Reveal* to create the key and see its secret access key. It is shown once, in a window "
                "that is not kept in Slack; copy it then. Keywarden stores it nowhere. "
                f"Reveal works until {when(req.reveal_expires_at)}."
            )
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": "reveal",
                "elements": [button("Reveal", ids.REVEAL, req.id, "primary")],
            }
        )
    if secret:
        blocks.append(
            section(
                f"The new key is stored in AWS Secrets Manager as {secret.where}. "
                f"With credentials for that account, fetch it with:\n```{secret.fetch_command}```"
            )
        )
    return f"{title}: {STATUS_WORDS[req.status]}", blocks


def build_reminder(req: Request, mentions: list[str], kind: str, hours: int) -> Message:
    """A thread reply under the approval message: a reminder, an escalation or the requester's nudge."""
    who_ = " ".join(mentions) or "approvers"
    if kind == "escalated":
        text = (
            f":rotating_light: {req.id} has waited {hours} h without a decision: {who_} may now decide it too "
            f"({len(req.approvers)} of {req.approvals_needed} approvals so far)."
        )
    elif kind == "nudged":
        text = f":wave: {who(req.requester)} is waiting for {req.id}: {who_}, please approve or deny it."
    else:
        text = f":hourglass: {who_}: {req.id} has waited {hours} h for a decision."
    return text, [section(text)]


def build_pending_dm(req: Request, hours: int, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """The requester's DM while their request waits: approvers were reminded; a Nudge button."""
    text = (
        f"Your request {req.id} ({headline(req, names)}) has waited {hours} h; its approvers were reminded. "
        "*Nudge* reminds them again (at most once an hour)."
    )
    return text, [
        section(text),
        {"type": "actions", "block_id": "nudge", "elements": [button("Nudge", ids.NUDGE, req.id)]},
    ]


def build_secret_loading_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.SECRET_MODAL,
        "title": {"type": "plain_text", "text": "Your new key"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(":hourglass_flowing_sand: Creating the key…")],
    }


def build_secret_modal(
    account: str, user: str, key_id: str, secret: str, names: AccountNames = SEVERAL_ACCOUNTS
) -> dict[str, Any]:
    """The only place a secret is ever rendered; the modal has no inputs and sends nothing back."""
    snippet = f"[{user}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}"
    return {
        "type": "modal",
        "callback_id": ids.SECRET_MODAL,
        "title": {"type": "plain_text", "text": "Your new key"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": [
            section(f"New access key for *{names.user(account, user)}*. Copy the secret now: it is not shown again."),
            section(f"*Access key id*\n`{key_id}`\n*Secret access key*\n`{secret}`"),
            section(f"*`~/.aws/credentials`*\n```{snippet}```"),
            context("Keywarden does not keep the secret. Closing this window discards it."),
        ],
    }


def build_error_modal(message: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.SECRET_MODAL,
        "title": {"type": "plain_text", "text": "Your new key"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section(f":x: {message}")],
    }


def build_deny_modal(request_id: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.DENY_MODAL,
        "private_metadata": json.dumps({"request_id": request_id}),
        "title": {"type": "plain_text", "text": f"Deny {request_id}"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [
            {
                "type": "input",
                "block_id": ids.BLOCK_REASON,
                "label": {"type": "plain_text", "text": "Reason (the requester sees it)"},
                "element": {"type": "plain_text_input", "action_id": ids.INPUT, "multiline": True, "max_length": 300},
            }
        ],
    }


def build_request_modal() -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": spec.label}, "value": spec.name} for spec in REQUEST_OPERATIONS.values()
    ]
    return {
        "type": "modal",
        "callback_id": ids.REQUEST_MODAL,
        "title": {"type": "plain_text", "text": "AWS key request"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": ids.BLOCK_OPERATION,
                "label": {"type": "plain_text", "text": "Operation"},
                "element": {"type": "static_select", "action_id": ids.INPUT, "options": options},
            },
            {
                "type": "input",
                "block_id": ids.BLOCK_TARGET,
                "label": {"type": "plain_text", "text": "IAM user or access key"},
                "hint": {"type": "plain_text", "text": "Yours are listed; type to find another user or a key id."},
                "element": target_element(),
            },
            {
                "type": "input",
                "block_id": ids.BLOCK_VALID_FOR,
                "optional": True,
                "label": {"type": "plain_text", "text": "Valid for (create only)"},
                "hint": {
                    "type": "plain_text",
                    "text": "A time-bound key: 8h or 30d, at most 90d. Switched off then, deleted a day later.",
                },
                "element": {"type": "plain_text_input", "action_id": ids.INPUT, "max_length": 20},
            },
            {
                "type": "input",
                "block_id": ids.BLOCK_REASON,
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": ids.INPUT, "max_length": 300},
            },
        ],
    }


def build_request_filed(req: Request, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    needed = f" ({req.approvals_needed} approvals needed)" if req.approvals_needed > 1 else ""
    limit = time_bound_line(req)  # a time-bound key (`create --for`): when it ends
    return plain(
        f"Request *{req.id}* filed: {headline(req, names)}. It waits for approval{needed} until "
        f"{when(req.expires_at)}. `cancel {req.id}` withdraws it." + (f"\n{limit}" if limit else "")
    )


def build_break_glass_done(req: Request, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """The answer to `deactivate --now` (slash command, form or Deactivate now): it acted at once, nothing waits
    for approval; the approvers are said to be told only when the approval channel has the message."""
    told = (
        f"The approvers have been told in <#{req.channel}>."
        if req.channel and req.message_ts
        else "The approval channel could not be told: let the approvers know."
    )
    return plain(f"Break-glass {req.id}: {outcome_line(req)} {told}")


def build_open_requests(requests: list[Request], names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    if not requests:
        return plain("You have no open requests.")
    lines = [f"• *{r.id}* {headline(r, names)}: {STATUS_WORDS[r.status]}, filed {when(r.created_at)}" for r in requests]
    return plural(len(requests), "open request"), [section("*Your open requests*\n" + "\n".join(lines))]
