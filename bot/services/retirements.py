"""Retiring keys for the roles that took over their work (`retire <key-id>`, once approved), step by step, by the
clock process or `python -m bot housekeeping`, whichever comes first.

Automation without a person in the loop, so it fails closed: every run reads the key's status and last use and the
role's (iam:GetRole) from AWS, and the cut-over (bot/domain/cutover.py) decides; nothing is done when AWS cannot be
read. Just before switching the key off, both last uses are read again and the cut-over asked again. A key someone
else switched off, switched on again or deleted is left alone (and that is said). A step that calls AWS first
claims the row, so two runners never both call; a claim left by a crash is settled from the key's real status.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import metrics
from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.aws.roles import role_use
from bot.clock import Clock
from bot.domain.cutover import Cutover, Step, Uses, decide
from bot.domain.keys import ACTIVE, INACTIVE, InputError, LastUsed
from bot.domain.retirement import CLAIMS, RETRY_AFTER, WATCH_EVERY, Retirement, RoleRef, Stage
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message
from bot.slack.messages.roles import (
    build_retired,
    build_retirement_deleted,
    build_retirement_left,
    build_still_waiting,
    build_watching,
    no_such_role,
)
from bot.slack.notifier import Notifier
from bot.store.retirements import PREFIX, Retirements, RoleOf

log = logging.getLogger(__name__)
S = Stage

GONE = "the key is no longer in AWS: someone else deleted it"
SWITCHED_OFF_BY_SOMEONE = (
    "the key was switched off by someone else, so Keywarden leaves it alone and does not delete it"
)
SWITCHED_ON_AGAIN = "the key is active again after Keywarden switched it off, so Keywarden leaves it alone"


@dataclass(frozen=True)
class _Live:
    status: str | None  # None: the key (or its user) is gone
    key_use: LastUsed | None = None
    uses: Uses | None = None


@dataclass(kw_only=True, eq=False)
class RetirementService:
    clock: Clock
    store: Retirements
    aws: AwsGateway
    notifier: Notifier
    role_of: RoleOf  # the role `replace` suggested for a key (bot/services/workloads.replacement_role)
    quiet: timedelta  # CUTOVER_QUIET_HOURS
    delete_after: timedelta  # ROTATION_DELETE_DAYS: switched off this long, then deleted
    claim_timeout: timedelta
    on_change: Callable[..., None] | None = None  # (Slack user ids) whose App Home to refresh
    names: AccountNames = SEVERAL_ACCOUNTS  # its DMs name users `ci`, or `prod:ci` with several accounts

    def of_keys(self, key_ids: Iterable[str]) -> dict[str, Retirement]:
        return self.store.of_keys(key_ids)

    def advance_due(self) -> int:
        """Adopt newly approved retirements, then take every due one a step further; safe to run concurrently."""
        done = 0
        for adopted in self.store.adopt(self.role_of):
            self._tell(adopted, build_watching(adopted, self.names))
            done += 1
        for r in self.store.due(self.clock()):
            try:
                done += self._advance(r)
            except AwsError as e:  # nothing was changed: a later run looks again
                log.warning(
                    "retiring %s of %s:%s: AWS could not be read (%s); tried again later",
                    r.key_id,
                    r.account,
                    r.iam_user,
                    e.message,
                )
                self.store.move(
                    r,
                    r.state,
                    r.state if r.state not in CLAIMS else _before(r.state),
                    audit=False,
                    next_at=self.clock() + RETRY_AFTER,
                )
        return done

    def _advance(self, r: Retirement) -> int:
        if r.state in CLAIMS:  # left by a crash: settle it from the key's real status
            return self._settle(r)
        live = self._live(r, with_uses=r.state is S.WATCHING)
        if live.status is None:
            return self._end(r, GONE)
        if r.state is S.WATCHING:
            if live.status == INACTIVE:
                return self._end(r, SWITCHED_OFF_BY_SOMEONE)
            return self._watch(r, live)
        if live.status == ACTIVE:  # switched off by Keywarden, on again since
            return self._end(r, SWITCHED_ON_AGAIN)
        claimed = self.store.move(r, S.SWITCHED_OFF, S.DELETING, detail="after the grace period", next_at=self._claim())
        return self._delete(claimed) if claimed else 0

    def _live(self, r: Retirement, *, with_uses: bool) -> _Live:
        """The key's status (and, watching, both last uses). AwsError when AWS cannot say."""
        client = self.aws.account(r.account)
        try:
            keys = client.list_access_keys(r.iam_user)
        except AwsNotFound:
            return _Live(None)
        status = next((k.status for k in keys if k.key_id == r.key_id), None)
        if status is None or not with_uses:
            return _Live(status)
        key_use = client.key_last_used(r.key_id)
        role = role_use(client, r.role_name, permission_set=r.permission_set)
        uses = Uses(role.created if role else None, role.last_used if role else None, key_use.date)
        return _Live(status, key_use, uses)

    def _claim(self) -> datetime:
        return self.clock() + self.claim_timeout

    # Watching
    def _watch(self, r: Retirement, live: _Live) -> int:
        now = self.clock()
        decision = decide(live.uses, quiet=self.quiet, now=now, last_told=r.told_at)
        since = live.uses.replacement_since if live.uses else None
        if decision.step is Step.SWITCH_OFF:
            claimed = self.store.move(
                r,
                S.WATCHING,
                S.SWITCHING_OFF,
                detail="the role is in use and the key quiet",
                next_at=self._claim(),
                replacement_since=since,
            )
            return self._switch_off(claimed) if claimed else 0
        if decision.tell_owner:
            moved = self.store.move(
                r,
                S.WATCHING,
                S.WATCHING,
                action=PREFIX + "waiting",
                detail=decision.why.value,
                told_at=now,
                replacement_since=since,
                next_at=now + WATCH_EVERY,
            )
            if moved is not None:
                self._tell(moved, build_still_waiting(moved, decision, live.key_use, self.names))
            return 1 if moved else 0
        self.store.move(r, S.WATCHING, S.WATCHING, audit=False, replacement_since=since, next_at=now + WATCH_EVERY)
        return 0

    def _switch_off(self, claimed: Retirement) -> int:
        """Read both last uses again and ask the cut-over again, just before acting; then switch the key off."""
        live = self._live(claimed, with_uses=True)
        if live.status != ACTIVE:
            return self._end(claimed, GONE if live.status is None else SWITCHED_OFF_BY_SOMEONE)
        again: Cutover = decide(live.uses, quiet=self.quiet, now=self.clock(), last_told=claimed.told_at)
        if again.step is not Step.SWITCH_OFF:
            self.store.move(
                claimed,
                S.SWITCHING_OFF,
                S.WATCHING,
                detail=f"not yet: {again.why.value}",
                next_at=self.clock() + WATCH_EVERY,
            )
            return 0
        try:
            self.aws.account(claimed.account).set_key_status(claimed.iam_user, claimed.key_id, INACTIVE)
        except AwsNotFound:
            return self._end(claimed, GONE)
        return self._switched_off(claimed)

    def _switched_off(self, claimed: Retirement) -> int:
        now = self.clock()
        done = self.store.move(
            claimed,
            S.SWITCHING_OFF,
            S.SWITCHED_OFF,
            detail=f"replaced by {claimed.role_name}",
            switched_off_at=now,
            delete_at=now + self.delete_after,
            next_at=now + self.delete_after,
        )
        if done is None:
            return 0
        metrics.key_replaced_by_role()
        log.info(
            "retired %s of %s:%s: switched off, %s in use", done.key_id, done.account, done.iam_user, done.role_name
        )
        self._tell(done, build_retired(done, self.names))
        return 1

    # Deleting
    def _delete(self, claimed: Retirement) -> int:
        with contextlib.suppress(AwsNotFound):  # already gone: deleted is what was wanted
            self.aws.account(claimed.account).delete_access_key(claimed.iam_user, claimed.key_id)
        return self._deleted(claimed)

    def _deleted(self, claimed: Retirement) -> int:
        done = self.store.move(claimed, S.DELETING, S.DELETED, detail=f"replaced by {claimed.role_name}")
        if done is None:
            return 0
        self._tell(done, build_retirement_deleted(done, self.names))
        return 1

    def _settle(self, r: Retirement) -> int:
        """A claim a crash left: finished from what AWS shows, never repeated blindly."""
        status = self._live(r, with_uses=False).status
        if r.state is S.SWITCHING_OFF:
            if status == INACTIVE:
                return self._switched_off(r)
            if status is None:
                return self._end(r, GONE)
            self.store.move(r, S.SWITCHING_OFF, S.WATCHING, detail="interrupted: decided again", next_at=self.clock())
            return 0
        if status is None:
            return self._deleted(r)
        self.store.move(
            r, S.DELETING, S.SWITCHED_OFF, detail="interrupted: deleted at the next run", next_at=self.clock()
        )
        return 0

    def _end(self, r: Retirement, why: str) -> int:
        ended = self.store.move(r, r.state, S.ENDED, outcome="cancelled", detail=why, note=why)
        if ended is None:
            return 0
        log.warning("retiring %s of %s:%s stopped: %s", r.key_id, r.account, r.iam_user, why)
        self._tell(ended, build_retirement_left(ended, why, self.names))
        return 1

    def _tell(self, r: Retirement, message: Message) -> None:
        if self.notifier.dm(r.owner, message) is None:
            log.warning("retiring %s: its owner %s could not be told (%s)", r.key_id, r.owner, message[0])
        if self.on_change is not None:
            self.on_change(r.owner)


def check_named_role(aws: AwsGateway, account: str, ref: RoleRef, names: AccountNames) -> None:
    """`retire --role`: the role must exist in the key's account and, named by its ARN, be that very role; InputError
    (one line) otherwise, before anything is filed. AwsError when IAM cannot be read."""
    found = role_use(aws.account(account), ref.name)
    if found is None or (ref.arn is not None and found.arn != ref.arn):
        raise InputError(no_such_role(ref, names.in_account(account, escaped=False), found.arn if found else None))


def _before(claim: Stage) -> Stage:
    return S.WATCHING if claim is S.SWITCHING_OFF else S.SWITCHED_OFF
