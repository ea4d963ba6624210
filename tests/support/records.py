"""Domain records as the unit tests build them: one default for every field, each test overriding what it is about."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.rotation import Rotation, RotationState


def a_rotation(at: datetime, state: RotationState, **changes: Any) -> Rotation:
    """A rotation of `ci`'s key AKIAOLD… to AKIANEW… for UALICE in `state`, every date `at`, nothing done yet;
    `changes` set any other field."""
    values: dict[str, Any] = dict(
        id="R-ABCDEF",
        account="default",
        iam_user="ci",
        old_key_id="AKIAOLDOLDOLDOLDOLD1",
        new_key_id="AKIANEWNEWNEWNEWNEW1",
        owner="UALICE",
        state=state,
        created_at=at,
        updated_at=at,
        grace_ends_at=at,
        next_check_at=at,
        stall_at=at,
        deactivated_at=None,
        delete_after=None,
        reminders_sent=0,
        old_last_used=None,
        old_last_used_where=None,
        note=None,
    )
    return Rotation(**(values | changes))
