"""Time-bound keys after their creation: the owner told before the end, the key switched off at its end and deleted a
day later, each step taken by the clock process or `python -m bot housekeeping`, whichever comes first.

Automation without a person in the loop, so it fails closed: each step reads the key's status in AWS just before it
acts, and does nothing but say so when the key changed meanwhile (switched off, on again or deleted by someone
else) or when AWS cannot be read (tried again at the next run). A step that calls AWS first claims the row
(`deactivating`, `deleting`), so two runners never both call; a claim left by a crash is finished from the key's
real status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.domain.keys import INACTIVE
from bot.domain.time_bound import (
    CLAIMS,
    DELETE_AFTER,
    RETRY_AFTER,
    KeyEnd,
    Step,
    TimeBoundKey,
    next_step,
)
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message
from bot.slack.messages.time_bound import build_deleted, build_left_alone, build_switched_off, build_warning
from bot.slack.notifier import Notifier
from bot.store.time_bound_keys import PREFIX, TimeBoundKeys

log = logging.getLogger(__name__)
E = KeyEnd

SWITCHED_OFF_BY_SOMEONE = (
    "it was already inactive when its time was up: someone else switched it off, so Keywarden leaves it alone and "
    "does not delete it"
)
SWITCHED_ON_AGAIN = (
    "it is active again after Keywarden switched it off: someone switched it on, so Keywarden leaves it alone and "
    "does not delete it"
)
GONE = "it is no longer in AWS: someone else deleted it, so there is nothing left to do"


@dataclass(kw_only=True, eq=False)
class TimeBoundService:
    clock: Clock
    keys: TimeBoundKeys
    aws: AwsGateway
    notifier: Notifier
    claim_timeout: timedelta  # a claim older than this was left by a crash
    on_change: Callable[..., None] | None = None  # (Slack user ids) whose App Home to refresh
    names: AccountNames = SEVERAL_ACCOUNTS  # its DMs name users `ci`, or `prod:ci` with several accounts

    def of_keys(self, key_ids: Iterable[str]) -> dict[str, TimeBoundKey]:
        """The time-bound keys among `key_ids` that have not ended, for `list`."""
        return self.keys.of_keys(key_ids)

    def advance_due(self) -> int:
        """Take every time-bound key whose time has come one step further; safe to run concurrently and repeatedly.
        Returns the number of steps taken."""
        done = 0
        for k in self.keys.due(self.clock()):
            try:
                done += self._advance(k)
            except AwsError as e:  # nothing was changed: the next run looks again
                log.warning(
                    "time-bound key %s of %s:%s: AWS could not be read (%s); nothing was changed, tried again at the "
                    "next run",
                    k.key_id,
                    k.account,
                    k.iam_user,
                    e.message,
                )
        return done

    def _advance(self, k: TimeBoundKey) -> int:
        if k.state in CLAIMS:  # left by a crash: take it over (one runner wins), then settle it from AWS
            taken = self.keys.move(
                k,
                k.state,
                k.state,
                action=PREFIX + "reconciling",
                detail="interrupted step resumed",
                next_at=self._claim_until(),
            )
            if taken is None:
                return 0
            k = taken
        live = self._live(k)
        step = next_step(k, live, self.clock())
        if step is Step.WAIT:
            return 0
        if step is Step.WARN:
            return self._warn(k)
        if step is Step.GONE:
            return self._end(k, E.GONE, GONE)
        if step is Step.SWITCHED_OFF_BY_SOMEONE:
            return self._end(k, E.LEFT_ALONE, SWITCHED_OFF_BY_SOMEONE)
        if step is Step.SWITCHED_ON_AGAIN:
            return self._end(k, E.LEFT_ALONE, SWITCHED_ON_AGAIN)
        if step is Step.CONFIRMED:
            return self._deactivated(k) if k.state is E.DEACTIVATING else self._deleted(k)
        if step is Step.DEACTIVATE:
            claimed = self.keys.move(k, k.state, E.DEACTIVATING, detail="its time is up", next_at=self._claim_until())
            return self._deactivate(claimed) if claimed else 0
        if step is Step.DELETE:
            claimed = self.keys.move(k, k.state, E.DELETING, detail="a day after its end", next_at=self._claim_until())
            return self._delete(claimed) if claimed else 0
        # REPEAT: the claim's AWS call had not happened
        return self._deactivate(k) if k.state is E.DEACTIVATING else self._delete(k)

    def _live(self, k: TimeBoundKey) -> str | None:
        """The key's status in AWS now; None when it (or its user) is gone. AwsError when AWS cannot say."""
        try:
            keys = self.aws.account(k.account).list_access_keys(k.iam_user)
        except AwsNotFound:
            return None
        return next((key.status for key in keys if key.key_id == k.key_id), None)

    def _claim_until(self) -> datetime:
        """When a claim taken now counts as left by a crash."""
        return self.clock() + self.claim_timeout

    # Steps
    def _warn(self, k: TimeBoundKey) -> int:
        warned = self.keys.move(k, E.ACTIVE, E.WARNED, detail=f"ends {k.ends_at:%Y-%m-%d %H:%M} UTC")
        if warned is None:
            return 0
        self._tell(warned, build_warning(warned, self.names))
        return 1

    def _deactivate(self, claimed: TimeBoundKey) -> int:
        try:
            self.aws.account(claimed.account).set_key_status(claimed.iam_user, claimed.key_id, INACTIVE)
        except AwsNotFound:
            return self._end(claimed, E.GONE, GONE)
        except AwsError as e:
            self._retry(claimed, E.WARNED, e)
            return 0
        return self._deactivated(claimed)

    def _deactivated(self, claimed: TimeBoundKey) -> int:
        now = self.clock()
        done = self.keys.move(
            claimed,
            E.DEACTIVATING,
            E.DEACTIVATED,
            detail="its time was up",
            deactivated_at=now,
            delete_at=now + DELETE_AFTER,
        )
        if done is None:
            return 0
        log.info("time-bound key %s of %s:%s switched off: its time was up", done.key_id, done.account, done.iam_user)
        self._tell(done, build_switched_off(done, self.names))
        return 1

    def _delete(self, claimed: TimeBoundKey) -> int:
        try:
            self.aws.account(claimed.account).delete_access_key(claimed.iam_user, claimed.key_id)
        except AwsNotFound:
            return self._end(claimed, E.GONE, GONE)
        except AwsError as e:
            self._retry(claimed, E.DEACTIVATED, e)
            return 0
        return self._deleted(claimed)

    def _deleted(self, claimed: TimeBoundKey) -> int:
        done = self.keys.move(claimed, E.DELETING, E.DELETED, detail="a day after its time was up")
        if done is None:
            return 0
        log.info("time-bound key %s of %s:%s deleted", done.key_id, done.account, done.iam_user)
        self._tell(done, build_deleted(done, self.names))
        return 1

    def _end(self, k: TimeBoundKey, state: KeyEnd, why: str) -> int:
        """Someone else changed the key: nothing is done to it; the audit log, the log and (when it matters) its
        owner are told."""
        ended = self.keys.move(k, k.state, state, outcome="cancelled", detail=why, note=why)
        if ended is None:
            return 0
        log.warning("time-bound key %s of %s:%s: %s", k.key_id, k.account, k.iam_user, why)
        if state is E.LEFT_ALONE:
            self._tell(ended, build_left_alone(ended, why, self.names))
        return 1

    def _retry(self, claimed: TimeBoundKey, back_to: KeyEnd, e: AwsError) -> None:
        """AWS refused the call: the claim goes back, and the step is tried again in a few minutes."""
        log.warning(
            "time-bound key %s of %s:%s: %s; tried again in %d minutes",
            claimed.key_id,
            claimed.account,
            claimed.iam_user,
            e.message,
            RETRY_AFTER // timedelta(minutes=1),
        )
        self.keys.move(
            claimed,
            claimed.state,
            back_to,
            action=PREFIX + "retry",
            outcome="retry",
            detail=e.message,
            next_at=self.clock() + RETRY_AFTER,
        )

    def _tell(self, k: TimeBoundKey, message: Message) -> None:
        if self.notifier.dm(k.owner, message) is None:
            log.warning("time-bound key %s: its owner %s could not be told (%s)", k.key_id, k.owner, message[0])
        if self.on_change is not None:
            self.on_change(k.owner)
