"""Break-glass (`deactivate --now`) in words: what it did, as far as it got, and the line its request keeps."""

from __future__ import annotations

from bot.domain.requests import Request, Status
from bot.slack.messages.common import escape, who


def break_glass_headline(req: Request) -> str:
    """What a break-glass did, as far as it got: deactivated, being deactivated, or tried and failed."""
    target = f"`{req.key_id}` of *{escape(req.account)}:{escape(req.iam_user)}*"
    if req.status is Status.SUCCEEDED:
        return f"{who(req.requester)} deactivated {target} at once (break-glass), for review"
    if req.status is Status.FAILED:
        return f"{who(req.requester)} tried to deactivate {target} at once (break-glass); it failed"
    return f"{who(req.requester)} is deactivating {target} at once (break-glass), for review"


def break_glass_note(requester: str) -> str:
    """The line a break-glass request keeps in its details. Its reason is the one given, shown as every request's
    is: a break-glass is not assumed to be a compromise."""
    return f":rotating_light: *Break-glass*: deactivated at once by {who(requester)}, without approval."
