"""Retiring a key for the role that took over its work (`retire <key-id>`, once approved): its states and dates.

Watching: each run reads the role's last use (iam:GetRole) and the key's (GetAccessKeyLastUsed), and asks the
cut-over (bot/domain/cutover.py) whether the key may be switched off; the owner is told what still holds it up, at
most daily. Switched off: after the grace period (ROTATION_DELETE_DAYS), deleted if still inactive and unused
since. A key someone else switched off, switched on again or deleted meanwhile is left alone, and that is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.keys import InputError
from bot.domain.transitions import check_move

WATCH_EVERY = timedelta(hours=1)  # how often a watched key and its role are read again
RETRY_AFTER = timedelta(minutes=15)  # after AWS could not be read


class Stage(StrEnum):
    WATCHING = "watching"  # waiting for the role to be in use and the key quiet
    SWITCHING_OFF = "switching-off"  # claim: the deactivation is under way
    SWITCHED_OFF = "switched-off"  # deleted after the grace period
    DELETING = "deleting"  # claim: the deletion is under way
    DELETED = "deleted"
    ENDED = "ended"  # left alone: the key changed outside the retirement (or is gone)


FINAL = frozenset({Stage.DELETED, Stage.ENDED})
CLAIMS = frozenset({Stage.SWITCHING_OFF, Stage.DELETING})
MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.WATCHING: frozenset({Stage.WATCHING, Stage.SWITCHING_OFF, Stage.ENDED}),
    Stage.SWITCHING_OFF: frozenset({Stage.SWITCHED_OFF, Stage.WATCHING, Stage.ENDED}),
    Stage.SWITCHED_OFF: frozenset({Stage.DELETING, Stage.ENDED}),
    Stage.DELETING: frozenset({Stage.DELETED, Stage.SWITCHED_OFF, Stage.ENDED}),
}


def check_stage_move(current: Stage, new: Stage) -> None:
    check_move(MOVES, current, new, f"a retirement {current.value}")


@dataclass(frozen=True)
class Retirement:
    request_id: str
    account: str
    iam_user: str
    key_id: str
    owner: str  # the Slack user told along the way (the requester)
    role_name: str
    permission_set: bool  # role_name is an Identity Center permission set
    state: Stage
    created_at: datetime
    updated_at: datetime
    next_at: datetime
    replacement_since: datetime | None = None  # when the role appeared (its creation date, as IAM gives it)
    told_at: datetime | None = None
    switched_off_at: datetime | None = None
    delete_at: datetime | None = None
    note: str | None = None


# `retire <key-id> --role <name-or-arn>`: the role to watch instead of the one `replace` suggests. IAM role names are
# 1-64 of `[A-Za-z0-9+=,.@_-]`; a role's ARN is `arn:<partition>:iam::<account id>:role<path><name>`, its path `/` or
# `/…/` of printable ASCII (IAM API Reference, CreateRole: RoleName and Path).
_ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_ROLE_ARN = re.compile(
    r"arn:aws[a-z-]{0,16}:iam::(\d{12}):role(/(?:[\x21-\x2e\x30-\x7e]+/)*)([A-Za-z0-9+=,.@_-]{1,64})"
)
_SESSION_ARN = re.compile(r"arn:aws[a-z-]{0,16}:sts::\d{12}:assumed-role/([^/]+)/.*")
ROLE_FORMS = "its name (`app-role`) or its ARN (`arn:aws:iam::123456789012:role/app-role`)"


@dataclass(frozen=True)
class RoleRef:
    """A role named with `--role`: its name, and the ARN when one was given (checked against the key's account)."""

    name: str
    arn: str | None = None


def parse_role(text: str) -> RoleRef:
    """A role's name or ARN as typed; InputError, in one line, when it is neither."""
    shown = text[:80]
    if text.startswith("arn:"):
        arn = _ROLE_ARN.fullmatch(text)
        if arn is not None and len(text) <= 2048:
            return RoleRef(arn.group(3), text)
        session = _SESSION_ARN.fullmatch(text)
        if session is not None:
            raise InputError(
                f"`{shown}` is a session of the role `{session.group(1)[:64]}`, not the role: give "
                f"`--role {session.group(1)[:64]}` or the role's own ARN."
            )
        raise InputError(f"`{shown}` is not the ARN of an IAM role: give {ROLE_FORMS}.")
    if _ROLE_NAME.fullmatch(text) is None:
        raise InputError(f"`{shown}` is not a role name (1 to 64 letters, digits and `+=,.@_-`): give {ROLE_FORMS}.")
    return RoleRef(text)
