"""Block Kit builders for time-bound keys: the line on their request's messages, the owner's DMs, the note in `list`.
Pure functions."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.requests import Request, Status
from bot.domain.time_bound import KeyEnd, TimeBoundKey, describe_hours
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message, escape, plain, when


def time_bound_line(req: Request) -> str | None:
    """The request's time limit, for its approval message and its requester's DM; None when it has none."""
    hours = req.valid_for_hours
    if not hours:
        return None
    lasts = describe_hours(hours)
    if req.key_ends_at is not None:
        return (
            f":hourglass_flowing_sand: *Time-bound key* ({lasts}): switched off {when(req.key_ends_at)}, "
            "deleted a day later."
        )
    if req.status in (Status.PENDING, Status.APPROVED, Status.EXECUTING):
        earliest = req.created_at + timedelta(hours=hours)
        return (
            f":hourglass_flowing_sand: *Time-bound key* ({lasts}): switched off {lasts} after it is created, "
            f"so at {when(earliest)} at the earliest, and deleted a day later."
        )
    return f":hourglass_flowing_sand: *Time-bound key* ({lasts}): no key was made."


def build_warning(k: TimeBoundKey, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":hourglass: Your time-bound key {names.key(k)} is switched off {when(k.ends_at)}, when its time is up, and "
        "deleted a day later. Move whatever uses it to another key before then; for more time, ask for a new key "
        "(`create … --for …`)."
    )
    return plain(text)


def build_switched_off(k: TimeBoundKey, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":lock: Your time-bound key {names.key(k)} was switched off: its time was up ({when(k.ends_at)}). "
        f"It is deleted {when(k.delete_at)}."
    )
    return plain(text)


def build_deleted(k: TimeBoundKey, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = f":wastebasket: Your time-bound key {names.key(k)} was deleted, a day after its time was up."
    return plain(text)


def build_left_alone(k: TimeBoundKey, why: str, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":warning: Your time-bound key {names.key(k)}: {escape(why)}. If it is no longer needed, "
        f"`deactivate {k.key_id}` or `delete {k.key_id}` asks for that."
    )
    return plain(text)


def list_note(k: TimeBoundKey) -> str:
    """The line under a time-bound key in `list`."""
    if k.state in (KeyEnd.DEACTIVATING, KeyEnd.DEACTIVATED, KeyEnd.DELETING):
        return f":hourglass: expired {when(k.ends_at)} (time-bound): switched off, deleted {when(k.delete_at)}"
    return f":hourglass: expires {when(k.ends_at)} (time-bound key, request {k.request_id})"


def check_note(k: TimeBoundKey) -> str:
    """What `check` says of a time-bound key: when it ends (in the reader's time zone), and what follows."""
    if k.state in (KeyEnd.DEACTIVATING, KeyEnd.DEACTIVATED, KeyEnd.DELETING):
        return (
            f":hourglass: *Time-bound key* (request {k.request_id}): its time was up {when(k.ends_at)}; it is "
            f"switched off and deleted {when(k.delete_at)}."
        )
    return (
        f":hourglass: *Time-bound key* (request {k.request_id}): switched off {when(k.ends_at)}, when its time is up, "
        "and deleted a day later. For more time, ask for a new key (`create … --for …`)."
    )
