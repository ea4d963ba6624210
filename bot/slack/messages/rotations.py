"""Block Kit builders for guided rotations: the plan, reminders, notices and the Reactivate button. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, assert_never

from bot.domain.delivery import secret_name
from bot.domain.outcomes import (
    CannotRollBack,
    Discarded,
    MovedOn,
    NoRotation,
    NotOwnerOrApprover,
    OldKeyGone,
    RollBack,
    RollBackFailed,
    RollBackPending,
    RolledBack,
)
from bot.domain.rotation import DELIVERY, KeyUse, Rotation, RotationState, Schedule
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
)
from bot.slack.messages.delivered import STAGES, delivered_plan_text, delivery_dates, title
from bot.slack.messages.requests import who

S = RotationState


def use_text(use: KeyUse, at: Callable[[datetime | None], str] = when) -> str:
    """The old key's last use; `at` writes its time (Slack's date formatting; `utc` for the audit log)."""
    if use.date is None:
        return "never used"
    where = use.where
    return f"last used {at(use.date)}" + (f" ({where})" if where else "")


def stored_use(r: Rotation) -> KeyUse:
    service, _, region = (r.old_last_used_where or "").partition(", ")
    return KeyUse(r.old_last_used, service or None, region or None)


def plan_text(
    account: str,
    user: str,
    old_key_id: str,
    pre_step: str | None,
    plan: Schedule,
    stored_under: str | None = None,
    *,
    delivered_to: str | None = None,
    quiet_hours: int = 24,
    names: AccountNames = SEVERAL_ACCOUNTS,
) -> str:
    """What the approval message shows: the key replaced, each date, and any step that comes first.

    `stored_under` (SECRET_PREFIX, keys delivered through Secrets Manager): the new key is stored, never revealed.
    `delivered_to` (a machine user of LOCATIONS_FILE): Keywarden writes it to its places, and cuts over by use."""
    if delivered_to is not None:
        grace_days = (plan.grace_ends - plan.created).days
        return delivered_plan_text(account, user, old_key_id, pre_step, delivered_to, quiet_hours, grace_days, names)
    lines = [f"*Rotation plan* for *{names.user(account, user)}*: replace `{old_key_id}` with a new key."]
    if pre_step:
        lines.append(
            f"• *First:* the inactive key `{pre_step}` is deleted right before the new key is created "
            "(a user can have only two keys)."
        )
    if stored_under is None:
        lines.append("• *On Reveal* (dates below assume Reveal today): the new key is created and shown once.")
    else:
        name = escape(secret_name(stored_under, account, user))
        lines.append(
            "• *On approval* (dates below assume approval today): the new key is created and stored in AWS Secrets "
            f"Manager as `{name}`; it is never shown in Slack."
        )
    if plan.reminders:
        lines.append(f"• *Reminders* to the owner: {', '.join(day(t) for t in plan.reminders)}.")
    lines.append(
        f"• *{day(plan.grace_ends)}*, end of the grace period: `{old_key_id}` is deactivated only if it was not "
        "used since the new key was created; if it is still in use it stays active and is checked daily."
    )
    lines.append(f"• *{day(plan.stall_at)}*: if it is still in use then, the rotation stalls and approvers are told.")
    lines.append(
        f"• *{day(plan.delete_earliest)}* at the earliest: `{old_key_id}` is deleted after "
        f"{(plan.delete_earliest - plan.grace_ends).days} days inactive with no use. Until then the owner can "
        "roll back with one button."
    )
    lines.append("_Approving approves every step of this plan._")
    return "\n".join(lines)


def _reactivate_button(rotation_id: str, old_key_id: str) -> dict[str, Any]:
    question = f"Reactivate `{old_key_id}` and stop rotation {rotation_id}? The new key stays."
    return button(
        "Reactivate", ids.ROLLBACK, rotation_id, "danger", confirm_dialog("Roll back?", question, "Reactivate")
    )


def build_grace_started(r: Rotation, delete_days: int, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    reminders = f" You will be reminded on {', '.join(day(t) for t in r.reminders)}." if r.reminders else ""
    text = (
        f"{title(r, names)}: the new key `{r.new_key_id}` is active. Move every application from "
        f"`{r.old_key_id}` to it by *{when(r.grace_ends_at)}*.{reminders}\nThen Keywarden checks `{r.old_key_id}`: "
        "not used since "
        f"{when(r.created_at)} → it is deactivated (you can reactivate it with one click) and deleted "
        f"{delete_days} days later; still in use → it stays active and you are told where it was used."
    )
    return f"Rotation {r.id}: move to {r.new_key_id} by {day(r.grace_ends_at)}", [section(text)]


def build_reminder(r: Rotation, use: KeyUse, now: datetime, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    left = r.grace_ends_at - now
    hours = int(left.total_seconds() // 3600)
    remaining = plural(hours // 24, "day") if hours >= 24 else plural(max(hours, 1), "hour")
    used = use_text(use)
    warning = (
        " :warning: That is after the new key was created: something still uses the old key."
        if use.date and use.date >= r.created_at
        else ""
    )
    text = (
        f":alarm_clock: {title(r, names)}: {remaining} left. On *{when(r.grace_ends_at)}* `{r.old_key_id}` is "
        f"deactivated unless it is used after {when(r.created_at)}.\n`{r.old_key_id}` was {used}.{warning}\n"
        f"Move what uses it to `{r.new_key_id}`."
    )
    return f"Reminder: rotation {r.id}, {remaining} left", [section(text)]


def build_deactivated(r: Rotation, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """The rotation's own deactivation of the old key, with the way back (only this one can be rolled back)."""
    text = (
        f"{title(r, names)}: `{r.old_key_id}` was not used since the new key was created, so it is now *deactivated*. "
        f"It is deleted on *{when(r.delete_after)}* if nothing tries to "
        f"use it. If something broke, *Reactivate* makes it active again (the new key `{r.new_key_id}` stays)."
    )
    blocks: Blocks = [
        section(text),
        {"type": "actions", "block_id": "rollback", "elements": [_reactivate_button(r.id, r.old_key_id)]},
    ]
    return f"Rotation {r.id}: {r.old_key_id} deactivated", blocks


def build_still_in_use(r: Rotation, use: KeyUse, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":warning: {title(r, names)}: `{r.old_key_id}` is still in use, so it stays active. It was used on "
        f"*{when(use.date)}* by *{use.service or 'an unknown service'}* in *{use.region or 'an unknown region'}*, "
        f"after the new key was created. Move that application to `{r.new_key_id}`; Keywarden checks again "
        f"daily. If it is still in use on {day(r.stall_at)}, the approvers are told."
    )
    return f"Rotation {r.id}: {r.old_key_id} is still in use", [section(text)]


def build_stalled(r: Rotation, use: KeyUse, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """For the approval channel."""
    text = (
        f":warning: *Rotation {r.id} is stalled* ({names.user(r.account, r.iam_user)}): `{r.old_key_id}` is still "
        "in use "
        f"{(r.stall_at - r.created_at).days} days after `{r.new_key_id}` was created; it was {use_text(use)}. "
        f"Owner: {who(r.owner)}. Keywarden keeps it active and checks daily; a `deactivate {r.old_key_id}` "
        "request ends it if the owner cannot move off it."
    )
    return f"Rotation {r.id} is stalled", [section(text)]


def build_stalled_owner(r: Rotation, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f"{title(r, names)} is stalled: `{r.old_key_id}` is still in use, and the approvers have been told. "
        f"Keywarden keeps checking daily and deactivates it once nothing uses it."
    )
    return f"Rotation {r.id} is stalled", [section(text)]


def build_finished(r: Rotation, outside: bool = False, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    how = "was already deleted outside Keywarden" if outside else "is deleted"
    text = f":white_check_mark: {title(r, names)} is complete: `{r.old_key_id}` {how}; `{r.new_key_id}` is the key now."
    return f"Rotation {r.id} is complete", [section(text)]


def build_rolled_back(r: Rotation, by: str | None, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    actor = f" by {who(by)}" if by else " outside Keywarden"
    text = (
        f":leftwards_arrow_with_hook: {title(r, names)} was rolled back{actor}: `{r.old_key_id}` is active again and "
        f"`{r.new_key_id}` stays. Both keys are active and nothing more happens automatically: when one is no "
        f"longer needed, `deactivate` it and then `delete` it."
    )
    return f"Rotation {r.id} rolled back", [section(text)]


def build_cancelled(r: Rotation, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    if r.note:  # the old key was turned off by someone else: the rotation cannot undo that
        text = (
            f":heavy_multiplication_x: {title(r, names)} is cancelled: {r.note}. The rotation does not roll that "
            f"back; to use `{r.old_key_id}` again, file `reactivate {r.old_key_id}` (it goes to approval). "
            f"`{r.new_key_id}` stays active."
        )
        return f"Rotation {r.id} cancelled", [section(text)]
    text = (
        f":heavy_multiplication_x: {title(r, names)} stopped: the new key `{r.new_key_id}` was deleted or deactivated "
        f"outside Keywarden. Nothing more happens to `{r.old_key_id}`; `list {r.iam_user}` shows the keys now."
    )
    return f"Rotation {r.id} cancelled", [section(text)]


_STAGE = {
    S.NEW_KEY_CREATED: "new key created",
    S.GRACE: "grace period",
    S.DEACTIVATING: "deactivating the old key",
    S.OLD_KEY_DEACTIVATED: "old key deactivated",
    S.DELETING: "deleting the old key",
    S.OLD_KEY_DELETED: "done",
    S.ROLLING_BACK: "rolling back",
    S.ROLLED_BACK: "rolled back",
    S.STALLED: "stalled: the old key is still in use",
    S.CANCELLED: "cancelled",
    **STAGES,  # a delivered rotation's own stages
}


def stage_dates(r: Rotation) -> str:
    if r.state in DELIVERY:
        return delivery_dates(r)
    if r.state in {S.OLD_KEY_DEACTIVATED, S.DELETING, S.ROLLING_BACK}:
        return f"deactivated {day(r.deactivated_at)}, deleted from {day(r.delete_after)} unless rolled back"
    if r.state is S.STALLED:
        return f"stalled since {day(r.stall_at)}; checked daily"
    used = stored_use(r)
    if r.state is S.GRACE and used.date and used.date >= r.created_at:
        return f"grace ended {day(r.grace_ends_at)}, old key still in use ({use_text(used)}); stalls {day(r.stall_at)}"
    return f"grace until {day(r.grace_ends_at)}, then deactivated if unused; stalls {day(r.stall_at)} if still in use"


def stage(r: Rotation) -> str:
    """Where a rotation is, and its next dates, in words."""
    return f"{_STAGE[r.state]}, {stage_dates(r)}"


def stage_name(r: Rotation) -> str:
    """Where a rotation is, in a few words and no dates (never its state's code)."""
    return _STAGE[r.state]


def key_note(r: Rotation, key_id: str) -> str:
    """The line `list` adds under a key that takes part in a rotation."""
    if key_id == r.new_key_id:
        return f":arrows_counterclockwise: new key of rotation {r.id} (replaces `{r.old_key_id}`): {_STAGE[r.state]}"
    return (
        f":arrows_counterclockwise: being replaced by `{r.new_key_id}` (rotation {r.id}): {_STAGE[r.state]}, "
        f"{stage_dates(r)}"
    )


def rotation_blocks(rotations: list[Rotation], names: AccountNames = SEVERAL_ACCOUNTS) -> Blocks:
    """The section `requests` adds for the caller's rotations in progress."""
    if not rotations:
        return []
    lines = [
        f"• *{r.id}* *{names.user(r.account, r.iam_user)}* `{r.old_key_id}` → `{r.new_key_id}`: {_STAGE[r.state]}, "
        f"{stage_dates(r)}"
        for r in rotations
    ]
    return [section("*Your rotations in progress*\n" + "\n".join(lines))]


def cannot_roll_back(r: Rotation) -> str:
    """Why a rotation's Reactivate changed nothing: where the rotation is."""
    if r.state is S.ROLLED_BACK:
        return f"Rotation {r.id} was already rolled back ({when(r.updated_at)}): `{r.old_key_id}` is active."
    if r.state in (S.OLD_KEY_DELETED, S.DELETING):
        return f"`{r.old_key_id}` was deleted on {day(r.updated_at)}; it cannot be reactivated. Use `{r.new_key_id}`."
    if r.state is S.ROLLING_BACK:
        return f"Rotation {r.id} is being rolled back right now."
    if r.state is S.CANCELLED:
        why = f" ({r.note})" if r.note else ""
        return (
            f"Rotation {r.id} was cancelled{why}, so it has nothing to roll back. To use `{r.old_key_id}` again, "
            f"file `reactivate {r.old_key_id}`: it goes to approval."
        )
    return f"`{r.old_key_id}` is still active (rotation {r.id}: {stage_name(r)}); there is nothing to roll back."


def rollback_reply(outcome: RollBack) -> str:
    """The answer to Reactivate (or, on a delivered rotation, Roll back), from what the rotation service did."""
    match outcome:
        case NoRotation(rotation_id):
            return f"There is no rotation {rotation_id}."
        case NotOwnerOrApprover():
            return "Only the rotation's owner or an approver can roll it back. Nothing was changed."
        case CannotRollBack(r):
            return cannot_roll_back(r)
        case OldKeyGone(r):
            return f"`{r.old_key_id}` was already deleted in AWS, so it cannot be reactivated. Use `{r.new_key_id}`."
        case RollBackFailed(r, error):
            again = "Roll back" if r.state in DELIVERY else "Reactivate"
            return f"{error} Nothing was changed; click {again} again."
        case RollBackPending(_, error):
            return f"{error} Keywarden finishes the roll-back once AWS answers."
        case MovedOn(r):
            return f"Rotation {r.id} moved on meanwhile; nothing was changed. Click again if it is still needed."
        case RolledBack(r):
            return f"Rotation {r.id} is rolled back: `{r.old_key_id}` is active again; `{r.new_key_id}` stays."
        case Discarded(r, holding):
            held = f" {', '.join(holding)} hold the deleted key: put a working key there." if holding else ""
            return (
                f"Rotation {r.id} is rolled back: `{r.new_key_id}` is deleted and `{r.old_key_id}` stays active.{held}"
            )
    assert_never(outcome)
