"""The answers to a person's click or command on a request (Approve, Deny, `cancel`, Nudge, Reveal), written from
what the service says happened (bot/domain/outcomes.py). Pure functions; `reader` is the person answered."""

from __future__ import annotations

from typing import assert_never

from bot.domain.outcomes import (
    AlreadyCounted,
    AlreadyDecided,
    AlreadyRevealed,
    AlreadyRevealing,
    Approval,
    Cancel,
    Cancelled,
    Counted,
    Denial,
    Denied,
    Executed,
    ExpiredBeforeClick,
    Missing,
    NotApprover,
    NotRequester,
    NotShown,
    NotYours,
    Nudge,
    Nudged,
    NudgedRecently,
    OwnRequest,
    Reveal,
    RevealExpired,
    Shown,
    StoredNotShown,
    WindowNotOpened,
    WrittenToLocations,
)
from bot.domain.requests import OPEN, Request, Status
from bot.slack.messages.common import when, who
from bot.slack.messages.request_states import STATUS_WORDS, where_it_stands
from bot.slack.messages.trouble import ASK_THE_ADMINS


def already_decided(req: Request) -> str:
    """A click on a request decided already: who decided it and when (in the reader's time zone), and where it is."""
    if req.status in OPEN - {Status.PENDING} or (req.status in (Status.SUCCEEDED, Status.FAILED) and req.decided_by):
        by = f" by {who(req.decided_by)}" if req.decided_by else ""
        then = "" if req.status in OPEN else f"; it is {STATUS_WORDS[req.status]}"
        return f"{req.id} was already approved{by} at {when(req.decided_at)}{then}."
    return f"Already decided: {where_it_stands(req)}."


def _refused(outcome: Missing | OwnRequest | NotApprover | AlreadyDecided | ExpiredBeforeClick, verb: str) -> str:
    """Why an Approve (`verb` "approve") or a Deny ("deny") changed nothing."""
    match outcome:
        case Missing(request_id):
            return f"Request {request_id} does not exist (any more)."
        case OwnRequest(req):
            if verb == "approve":
                return "You cannot approve your own request: another approver must decide."
            return f"You cannot decide your own request; `cancel {req.id}` withdraws it."
        case NotApprover():
            return f"Only approvers can {verb} requests. Nothing was changed."
        case AlreadyDecided(req):
            return already_decided(req)
        case ExpiredBeforeClick(req):
            return (
                f"{req.id} expired at {when(req.expires_at)}, before this click; nothing was changed. "
                "The requester can file it again."
            )
    assert_never(outcome)


def _no_longer_counted(dropped: tuple[str, ...]) -> str:
    """Approvals counted before from people who are no longer approvers."""
    if not dropped:
        return ""
    names = ", ".join(who(a) for a in dropped)
    if len(dropped) == 1:
        return f" {names} is no longer an approver, so that approval no longer counts."
    return f" {names} are no longer approvers, so those approvals no longer count."


def approve_reply(outcome: Approval) -> str | None:
    """The approver's answer to Approve; None when the request was carried out (its message says so)."""
    match outcome:
        case Executed():
            return None
        case AlreadyCounted(req, dropped):
            return (
                f"You already approved {req.id}; it needs another approver ({len(req.approvers)} of "
                f"{req.approvals_needed}).{_no_longer_counted(dropped)}"
            )
        case Counted(req, dropped):
            more = " It stays pending until another approver approves." if dropped else ""
            return (
                f"Approval recorded: {len(req.approvers)} of {req.approvals_needed} for {req.id}."
                f"{_no_longer_counted(dropped)}{more}"
            )
        case _:
            return _refused(outcome, "approve")


def deny_reply(outcome: Denial) -> str | None:
    """The approver's answer to Deny (or to opening its form); None once denied (the request's message says so)."""
    if isinstance(outcome, Denied):
        return None
    return _refused(outcome, "deny")


def _not_yours(request_id: str) -> str:
    return f"You have no request {request_id}. `requests` lists yours."


def cancel_reply(outcome: Cancel, reader: str) -> str:
    """The answer to `cancel` or the Cancel button: a request already ended says who ended it and when."""
    match outcome:
        case NotYours(request_id):
            return _not_yours(request_id)
        case AlreadyDecided(req):
            return f"{where_it_stands(req, reader)}: it can no longer be cancelled."
        case Cancelled(req):
            return f"Request {req.id} is cancelled."
    assert_never(outcome)


def nudge_reply(outcome: Nudge, reader: str) -> str:
    """The requester's answer to Nudge."""
    match outcome:
        case NotYours(request_id):
            return _not_yours(request_id)
        case AlreadyDecided(req):
            return f"{where_it_stands(req, reader)}: there is nobody left to nudge."
        case NudgedRecently(req, again_at):
            again = f" You can nudge again after {when(again_at)}." if again_at else ""
            return f"You nudged the approvers of {req.id} less than an hour ago.{again}"
        case Nudged(req):
            return f"Nudged: the approvers of {req.id} were reminded."
    assert_never(outcome)


def secret_not_shown(key_id: str, reference: str | None) -> str:
    """Slack did not show a new key's secret: it was deleted again (`reference` None), or it could not be and
    should be (the request failed; `reference`: the log line that says why)."""
    if reference is None:
        return "Slack could not show the secret, so the new key was deleted again. Click Reveal again."
    return (
        f"Slack could not show the secret, and the new key `{key_id}` could not be deleted again (its secret was "
        f"never shown): it should be deleted. {ASK_THE_ADMINS.format(ref=reference)}"
    )


def reveal_reply(outcome: Reveal, reader: str) -> str | None:
    """The requester's answer to Reveal; None when the window showed the secret (or what went wrong)."""
    match outcome:
        case Shown():
            return None
        case Missing(request_id):
            return f"Request {request_id} does not exist (any more)."
        case NotRequester():
            return "Only the requester can reveal this key."
        case AlreadyRevealed(req):
            return f"The key of {req.id} was already revealed; a secret is shown only once."
        case AlreadyDecided(req):
            return f"{where_it_stands(req, reader)}: there is nothing to reveal."
        case RevealExpired(req):
            return f"The Reveal of {req.id} has expired; file a new request."
        case StoredNotShown(req):
            return (
                "Keys are delivered through AWS Secrets Manager here, never shown in Slack: nothing was revealed. "
                f"The DM about {req.id} names the secret once it is stored."
            )
        case WrittenToLocations(req, places):
            return (
                f"The new key of {req.id} is written by Keywarden to {', '.join(places)} and shown to nobody: "
                "there is nothing to reveal."
            )
        case AlreadyRevealing(request_id):
            return f"{request_id} is already being revealed."
        case WindowNotOpened():
            return "Slack could not open the window, so no key was created. Click Reveal again."
        case NotShown(_, key_id, reference):
            return secret_not_shown(key_id, reference)
    assert_never(outcome)
