"""Keywarden's own work on a user's keys, and the findings it already deals with: those are not announced.

During a rotation's grace period the user has two active keys and the old key is still too old: the owner did
what the findings ask, and the rotation switches the old key off when the grace period ends. A key made by an
approved `create` gives its user a second active key on purpose: for a grace period the two keys are expected.
Such findings are quiet (counted in the digest, never in a DM), and the key shows the work under way instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.catalogue import KEY_AGE_WARNING, KEY_TOO_OLD, KEY_UNUSED, TWO_ACTIVE_KEYS


class Work(StrEnum):
    ROTATION = "rotation"  # a guided rotation in progress: old and new key side by side
    NEW_KEY = "new-key"  # an approved create made a key recently


# What a rotation deals with on the key it replaces: it is switched off when the grace period ends.
REPLACED_KEY_FINDINGS = frozenset({KEY_TOO_OLD, KEY_AGE_WARNING, KEY_UNUSED})


@dataclass(frozen=True)
class UnderWay:
    work: Work
    request_id: str
    account: str
    iam_user: str
    new_key_id: str
    old_key_id: str | None  # the key a rotation replaces
    next_date: datetime  # rotation: when the old key is checked (and switched off if unused); new key: grace ends

    def covers(self, account: str, iam_user: str, key_id: str | None, code: str, now: datetime) -> bool:
        """Whether this work deals with the finding `code` on this user (and key)."""
        if (account, iam_user) != (self.account, self.iam_user):
            return False
        if self.work is Work.NEW_KEY:
            return code == TWO_ACTIVE_KEYS and now < self.next_date
        return code == TWO_ACTIVE_KEYS or (key_id == self.old_key_id and code in REPLACED_KEY_FINDINGS)


def covering(
    under_way: Iterable[UnderWay], account: str, iam_user: str, key_id: str | None, code: str, now: datetime
) -> UnderWay | None:
    """The work under way that deals with this finding, if any (a rotation before a new key)."""
    found = [w for w in under_way if w.covers(account, iam_user, key_id, code, now)]
    return min(found, key=lambda w: w.work is not Work.ROTATION) if found else None
