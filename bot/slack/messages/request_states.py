"""A request's state in words: its status, who decided it and when (in the reader's time zone), its key's status
once the change is done, and what overtook a request a crash interrupted. Never a status's code. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from bot.domain.operations import Operation
from bot.domain.overtaken import Overtaken, Overtaker
from bot.domain.requests import Request, Status
from bot.slack.messages.common import escape, utc, when, who

# A request's status in words, for a list or a fallback text (never the status's code).
STATUS_WORDS = {
    Status.PENDING: "waiting for approval",
    Status.APPROVED: "approved",
    Status.EXECUTING: "being carried out",
    Status.SUCCEEDED: "done",
    Status.FAILED: "failed",
    Status.DENIED: "denied",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}
# The key's status once a request on it is done: its details, written when it was filed, are shown as it is now.
_KEY_AFTER = {Operation.DEACTIVATE: "Inactive", Operation.REACTIVATE: "Active", Operation.DELETE: "Deleted"}


def where_it_stands(req: Request, reader: str | None = None) -> str:
    """A request's state as a sentence for a reply to `reader` (a late click, `cancel`, Nudge, Reveal): who decided
    and when, in the reader's time zone."""
    by = (" by you" if req.decided_by == reader else f" by {who(req.decided_by)}") if req.decided_by else ""
    if req.status is Status.PENDING:
        return f"{req.id} is waiting for approval until {when(req.expires_at)}"
    if req.status is Status.APPROVED:
        return f"{req.id} was approved{by} at {when(req.decided_at)}"
    if req.status is Status.EXECUTING:
        return f"{req.id} is being carried out"
    if req.status is Status.DENIED:
        return f"{req.id} was denied{by} at {when(req.decided_at)}"
    if req.status is Status.CANCELLED:
        requester = "you" if req.requester == reader else "its requester"
        return f"{req.id} was cancelled {by.strip() or 'by ' + requester} at {when(req.updated_at)}"
    if req.status is Status.EXPIRED:
        return f"{req.id} expired at {when(req.updated_at)}"
    return f"{req.id} is {STATUS_WORDS[req.status]} ({when(req.updated_at)})"


def details_now(req: Request) -> str:
    """The request's details, with its key's status as the change left it once it is done: a break-glass is filed
    and done at once, so the status read when it was filed (`key_lines`: `` `AKIA…` *Active*, ``) is already past."""
    after = _KEY_AFTER.get(req.operation) if req.status is Status.SUCCEEDED and req.key_id else None
    if after is None:
        return req.details
    line = re.compile(rf"`{re.escape(req.key_id or '')}` \*(Active|Inactive)\*,")
    return line.sub(lambda m: f"`{req.key_id}` *{after}* (was {m.group(1)}),", req.details, count=1)


_PAST = {"deactivate": "deactivated", "reactivate": "reactivated", "delete": "deleted"}


def overtaken_text(o: Overtaken, at_time: Callable[[datetime | None], str] = utc) -> str:
    """Why a request a crash interrupted is not finished: what happened to its key after it was approved. In plain
    UTC for the audit log's detail; `at_time=when` for Slack, in the reader's time zone."""
    at = at_time(o.at)
    if o.by is Overtaker.BREAK_GLASS:
        what = f"the key was deactivated at once by {who(o.actor)} at {at} (break-glass {o.request_id})"
    elif o.by is Overtaker.REQUEST:
        what = f"the key was {_PAST.get(o.operation or '', 'changed')} by request {o.request_id} at {at}"
    elif o.by is Overtaker.EXPOSURE:
        what = f"the key was reported exposed at {at}"
    elif o.by is Overtaker.QUARANTINE:
        what = f"AWS quarantined the key's user (a scan saw it at {at})"
    elif o.by is Overtaker.OUTSIDE:
        what = f"the key was changed outside Keywarden at {at} ({escape(o.detail)})"
    elif o.by is Overtaker.TIME_BOUND:
        step = "deleted" if o.operation == "time_bound_deleted" else "switched off"
        what = f"the key's time was up: it was {step} at {at} (time-bound key of {o.request_id})"
    else:
        step = "deleted" if o.operation == "rotation_deleted" else "deactivated"
        what = f"the key was {step} by rotation {o.request_id} at {at}"
    return f"not finished: {what} after this request was approved; file a new request if it is still needed."
