"""What a guided rotation tells people: a DM to its owner at each stage, and the approval channel when it stalls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.domain.rotation import KeyUse, Rotation
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message
from bot.slack.messages.rotations import (
    build_cancelled,
    build_deactivated,
    build_finished,
    build_grace_started,
    build_reminder,
    build_rolled_back,
    build_stalled,
    build_stalled_owner,
    build_still_in_use,
)
from bot.slack.notifier import Notifier

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class RotationNotices:
    notifier: Notifier
    approval_channel: str | None
    delete_days: int
    names: AccountNames = SEVERAL_ACCOUNTS  # `ci` or `prod:ci`

    def grace_started(self, r: Rotation) -> None:
        self._tell_owner(r, build_grace_started(r, self.delete_days, self.names))

    def reminder(self, r: Rotation, use: KeyUse, now: datetime) -> None:
        self._tell_owner(r, build_reminder(r, use, now, self.names))

    def still_in_use(self, r: Rotation, use: KeyUse) -> None:
        self._tell_owner(r, build_still_in_use(r, use, self.names))

    def stalled(self, r: Rotation, use: KeyUse) -> None:
        """The owner, and the approvers in their channel: the old key is still in use at the stall date."""
        self._tell_owner(r, build_stalled_owner(r, self.names))
        if self.approval_channel:
            self.notifier.post(self.approval_channel, build_stalled(r, use, self.names))

    def deactivated(self, r: Rotation) -> None:
        self._tell_owner(r, build_deactivated(r, self.names))

    def finished(self, r: Rotation, *, outside: bool = False) -> None:
        """The old key is deleted: by the rotation, or (`outside`) found already gone in AWS."""
        self._tell_owner(r, build_finished(r, outside=outside, names=self.names))

    def cancelled(self, r: Rotation) -> None:
        self._tell_owner(r, build_cancelled(r, self.names))

    def rolled_back(self, r: Rotation, by: str | None) -> None:
        """The old key is active again: rolled back by `by` (a Slack user), or reactivated outside (None)."""
        self._tell_owner(r, build_rolled_back(r, by, self.names))

    def _tell_owner(self, r: Rotation, message: Message) -> None:
        if self.notifier.dm(r.owner, message) is None:
            log.warning("could not tell %s about rotation %s (%s)", r.owner, r.id, r.state.value)
