"""Break-glass (`deactivate --now`) in words: what it did, as far as it got, and the line its request keeps."""

from __future__ import annotations

from bot.domain.requests import Request, Status
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, who


def break_glass_headline(req: Request, *, you: bool = False, names: AccountNames = SEVERAL_ACCOUNTS) -> str:
    """What a break-glass did, as far as it got: deactivated, being deactivated, or tried and failed. `you`: told
    to the person who did it (their DM), not about them (the approval channel, for review)."""
    target = f"`{req.key_id}` of *{names.user(req.account, req.iam_user)}*"
    actor, review = ("You", "") if you else (who(req.requester), ", for review")
    if req.status is Status.SUCCEEDED:
        return f"{actor} deactivated {target} at once (break-glass){review}"
    if req.status is Status.FAILED:
        return f"{actor} tried to deactivate {target} at once (break-glass); it failed"
    being = "are" if you else "is"
    return f"{actor} {being} deactivating {target} at once (break-glass){review}"


def break_glass_note(requester: str) -> str:
    """The line a break-glass request keeps in its details. Its reason is the one given, shown as every request's
    is: a break-glass is not assumed to be a compromise."""
    return f":rotating_light: *Break-glass*: deactivated at once by {who(requester)}, without approval."
