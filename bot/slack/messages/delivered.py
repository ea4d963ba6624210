"""Block Kit builders for delivered rotations (LOCATIONS_FILE): where a new key went, what refused it, what still
uses the old key, the switch-off, the roll-back, and the scheduled run's summary. Pure; never a secret, only places
and key ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.cutover import Why
from bot.domain.delivered import Pass
from bot.domain.requests import Request, Status
from bot.domain.rotation import KeyUse, Rotation, RotationState
from bot.slack import ids
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    button,
    confirm_dialog,
    day,
    escape,
    plural,
    section,
    when,
    who,
)
from bot.slack.messages.requests import headline, outcome_line

S = RotationState
MAX_LINES = 10  # failures and skips listed in the summary; the rest are counted


def places_text(places: Sequence[str]) -> str:
    """`SSM /ci/deployer/aws, GitHub acme/api`."""
    return ", ".join(escape(p) for p in places) or "no place"


def use_line(use: KeyUse) -> str:
    """`used on <date> by sts in us-east-1`, or `never used`."""
    if use.date is None:
        return "never used"
    return (
        f"last used *{when(use.date)}* by *{use.service or 'an unknown service'}* in "
        f"*{use.region or 'an unknown region'}*"
    )


def title(r: Rotation, names: AccountNames) -> str:
    """`Rotation 7 of *ci*`: how a rotation is named in its messages."""
    return f"Rotation {r.id} of *{names.user(r.account, r.iam_user)}*"


def rollback_button(r: Rotation, holding: Sequence[str]) -> dict[str, Any]:
    """Roll back a delivery: the new key is deleted, the old one stays; the places that hold the new key are named."""
    question = f"Delete the new key `{r.new_key_id}` and keep `{r.old_key_id}`?"
    if holding:
        question += (
            f" {places_text(holding)} hold the new key: they stop working until a person puts a working key there."
        )
    return button("Roll back", ids.ROLLBACK, r.id, "danger", confirm_dialog("Roll back?", question[:300], "Roll back"))


def _actions(r: Rotation, holding: Sequence[str]) -> dict[str, Any]:
    return {"type": "actions", "block_id": "rollback", "elements": [rollback_button(r, holding)]}


# The requester's DM (a rotation filed by a person)
def build_delivered_request_dm(
    req: Request, places: Sequence[str], quiet_hours: int, grace_days: int, names: AccountNames = SEVERAL_ACCOUNTS
) -> Message:
    """The requester's DM about a rotation whose key Keywarden delivers: never a Reveal button, never a secret."""
    said = f"Your request {req.id} ({headline(req, names)})"
    where = places_text(places)
    if req.status is Status.APPROVED:
        by = f" by {who(req.decided_by)}" if req.decided_by else ""
        lines = [
            f":white_check_mark: *Approved*{by}.",
            f"Keywarden creates the new key and writes it to {where} itself.",
        ]
    elif req.status is Status.EXECUTING:
        lines = [f":hourglass_flowing_sand: *Delivering* the new key to {where}."]
    else:
        lines = [outcome_line(req)]
    if req.status in (Status.APPROVED, Status.EXECUTING):
        lines.append("Nobody sees the secret, in Slack or anywhere: it goes only where it is used.")
    elif req.status is Status.SUCCEEDED:
        lines.append(
            f"Nobody saw the secret. `{req.key_id}` stays active until the new key is in use and `{req.key_id}` has "
            f"not been used for {plural(quiet_hours, 'hour')}; then it is switched off, and deleted "
            f"{plural(grace_days, 'day')} later. You are told here if it is still in use."
        )
    return f"{said}: {req.status.value}", [section(f"{said}\n" + "\n".join(lines))]


def delivered_plan_text(
    account: str,
    user: str,
    old_key_id: str,
    pre_step: str | None,
    delivered_to: str,
    quiet_hours: int,
    grace_days: int,
    names: AccountNames = SEVERAL_ACCOUNTS,
) -> str:
    """The approval message's plan for a rotation whose key Keywarden delivers (`delivered_to`: `delivered to: …`)."""
    where = escape(delivered_to.removeprefix("delivered to: "))
    lines = [f"*Rotation plan* for *{names.user(account, user)}*: replace `{old_key_id}` with a new key."]
    if pre_step:
        lines.append(
            f"• *First:* the inactive key `{pre_step}` is deleted right before the new key is created "
            "(a user can have only two keys)."
        )
    lines += [
        f"• *On approval*: the new key is created and written by Keywarden to {where}; nobody sees it, there is no "
        f"Reveal. A place that refuses it is named and tried again, and `{old_key_id}` stays active meanwhile.",
        f"• `{old_key_id}` is switched off once the new key is in use and `{old_key_id}` has not been used for "
        f"{plural(quiet_hours, 'hour')}; until then the owner is told, at most daily, what still uses it.",
        f"• It is deleted {plural(grace_days, 'day')} after it was switched off, unless rolled back.",
        "_Approving approves every step of this plan._",
    ]
    return "\n".join(lines)


# The owner, and the alert channel
def build_delivery_failed(
    r: Rotation, outcome: Pass, retry: datetime, names: AccountNames = SEVERAL_ACCOUNTS
) -> Message:
    """A location refused the new key: the old key stays active, the places already written keep the new one."""
    failed = "\n".join(f"• *{escape(place)}*: {escape(why)}" for place, why in outcome.failed)
    kept = (
        f"{places_text(outcome.delivered)} already hold the new key `{r.new_key_id}` (both keys work)."
        if outcome.delivered
        else f"No place holds the new key `{r.new_key_id}` yet."
    )
    text = (
        f":warning: {title(r, names)}: the new key could not be delivered to every place.\n{failed}\n"
        f"`{r.old_key_id}` stays active, so nothing that uses it breaks. {kept} "
        f"Keywarden tries again {when(retry)}, and backs off while it fails; *Roll back* deletes the new key instead."
    )
    places = ", ".join(place for place, _ in outcome.failed)
    return f"Rotation {r.id}: delivery to {places} failed", [section(text), _actions(r, outcome.delivered)]


def build_delivered_late(r: Rotation, places: Sequence[str], names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":white_check_mark: {title(r, names)}: the new key `{r.new_key_id}` is now delivered to every place "
        f"({places_text(places)}). `{r.old_key_id}` is switched off once the new key is in use and it is quiet."
    )
    return f"Rotation {r.id}: delivered", [section(text)]


def build_old_key_in_use(
    r: Rotation, old: KeyUse, new: KeyUse, why: Why, holding: Sequence[str], names: AccountNames = SEVERAL_ACCOUNTS
) -> Message:
    """What holds the cut-over up, at most daily: the old key's last use (service, region), or a new key unused."""
    if why is Why.REPLACEMENT_UNUSED:
        lead = (
            f"nothing has used the new key `{r.new_key_id}` since it was delivered to {places_text(holding)} "
            f"on {day(r.delivered_at)}, and `{r.old_key_id}` was {use_line(old)}."
        )
    else:
        lead = (
            f"`{r.old_key_id}` is still in use: {use_line(old)}, after the new key was delivered "
            f"({day(r.delivered_at)}; the new key was {use_line(new)})."
        )
    text = (
        f":hourglass: {title(r, names)}: {lead}\nSo `{r.old_key_id}` stays active. Point what still uses it at "
        f"{places_text(holding)}; Keywarden switches the old key off once it is quiet, and tells you again "
        "tomorrow if it is not. *Roll back* deletes the new key instead."
    )
    return f"Rotation {r.id}: {r.old_key_id} is still in use", [section(text), _actions(r, holding)]


def build_switched_off(r: Rotation, new: KeyUse, quiet_hours: int, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":white_check_mark: {title(r, names)}: the new key is in use ({use_line(new)}) and `{r.old_key_id}` was not "
        f"used for {plural(quiet_hours, 'hour')}, so `{r.old_key_id}` is now *switched off*. It is deleted on "
        f"*{when(r.delete_after)}* if nothing tries to use it. If something broke, *Reactivate* makes it active "
        "again (the new key stays)."
    )
    question = f"Reactivate `{r.old_key_id}` and stop rotation {r.id}? The new key stays."
    reactivate = button(
        "Reactivate", ids.ROLLBACK, r.id, "danger", confirm_dialog("Roll back?", question, "Reactivate")
    )
    actions = {"type": "actions", "block_id": "rollback", "elements": [reactivate]}
    return f"Rotation {r.id}: {r.old_key_id} switched off", [section(text), actions]


def build_discarded(r: Rotation, by: str, holding: Sequence[str], names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """A delivery rolled back: the new key deleted, the old one kept; the places holding the deleted key named."""
    stale = (
        f"\n:warning: {places_text(holding)} still hold the deleted key: whatever reads it there fails until a "
        f"person puts a working key there (or `rotate {r.iam_user}` delivers a new one)."
        if holding
        else ""
    )
    text = (
        f":leftwards_arrow_with_hook: {title(r, names)} was rolled back by {who(by)}: the new key `{r.new_key_id}` is "
        f"deleted and `{r.old_key_id}` stays active.{stale}"
    )
    return f"Rotation {r.id} rolled back", [section(text)]


def build_new_key_gone(r: Rotation, holding: Sequence[str], names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":rotating_light: {title(r, names)}: the new key `{r.new_key_id}` was deleted or switched off outside "
        f"Keywarden, but {places_text(holding)} hold it: whatever reads it there fails. `{r.old_key_id}` is left "
        f"as it is. `rotate {r.iam_user}` delivers a new key to every place."
    )
    return f"Rotation {r.id}: the delivered key is gone", [section(text)]


# The scheduled run
@dataclass
class RunSummary:
    """One scheduled run of delivered rotations, for one message in the alert channel."""

    rotated: list[str] = field(default_factory=list)  # `account:user` (`user` with one account)
    places: int = 0  # locations written with a new key
    failed: list[str] = field(default_factory=list)  # `account:user: place: why`
    skipped: list[str] = field(default_factory=list)  # `account:user: why`

    @property
    def worth_telling(self) -> bool:
        return bool(self.rotated or self.failed)  # a user skipped on every run alone is not news every run


def build_run_summary(run: RunSummary, took: timedelta) -> Message:
    """The one message a scheduled run posts, however many users it rotated."""
    seconds = max(1, round(took.total_seconds()))
    lines = [
        f":arrows_counterclockwise: *Scheduled rotation*: {plural(len(run.rotated), 'machine user')} rotated in "
        f"{plural(seconds, 'second')}; their new keys were written to {plural(run.places, 'place')} by Keywarden, "
        "seen by nobody. Each old key is switched off once its consumers use the new one."
    ]
    if run.failed:
        lines.append(f":warning: *Waiting in delivery-failed* ({len(run.failed)}); the old keys stay active:")
        lines += [f"• {escape(line)}" for line in run.failed[:MAX_LINES]]
        if len(run.failed) > MAX_LINES:
            lines.append(f"• … and {len(run.failed) - MAX_LINES} more")
    if run.skipped:
        lines.append(f"*Not rotated* ({len(run.skipped)}):")
        lines += [f"• {escape(line)}" for line in run.skipped[:MAX_LINES]]
        if len(run.skipped) > MAX_LINES:
            lines.append(f"• … and {len(run.skipped) - MAX_LINES} more")
    text = "\n".join(lines)
    blocks: Blocks = [section(text[:2900])]
    return f"Scheduled rotation: {plural(len(run.rotated), 'machine user')} rotated", blocks


# Where a delivered rotation is, for `list`, `requests` and the App Home
STAGES = {
    S.DELIVERING: "delivering the new key",
    S.DELIVERY_FAILED: "delivery failed: the old key stays active",
    S.DELIVERED: "delivered: waiting for the old key to go quiet",
    S.SWITCHING_OFF: "switching the old key off",
    S.DISCARDING: "rolling back: deleting the new key",
}


def delivery_dates(r: Rotation) -> str:
    if r.state is S.DELIVERY_FAILED:
        return f"tried again {when(r.next_check_at)}; {r.note or ''}".rstrip("; ")
    if r.state is S.DELIVERED:
        return f"delivered {day(r.delivered_at)}; checked again {when(r.next_check_at)}"
    return f"since {when(r.updated_at)}"
