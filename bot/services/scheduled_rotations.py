"""Rotations on schedule (`rotate_every_days` in LOCATIONS_FILE): each machine user whose active key is that old gets
a `rotate` request filed by Keywarden itself and approved by the built-in rule `locations` (the reviewed file is the
approval), unless a rule of the policy file denies it: a `deny` still wins. Its key is then delivered to its
locations (bot/services/approvals/located.py), users side by side with bounded parallelism, and the run posts one
summary to the alert channel, however many users it rotated.

The same job then takes every delivered rotation one step further (refused locations tried again, cut-overs,
claims left by a crash), and delivers the rotations a crash left approved but never run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.access import Access, Decision
from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.clock import Clock
from bot.domain.delivered import rotation_due
from bot.domain.inventory import Target
from bot.domain.keys import InputError
from bot.domain.locations import MachineUser
from bot.domain.operations import REQUEST_OPERATIONS, Operation
from bot.domain.requests import Request, Status
from bot.domain.rotation import RotationState
from bot.locations import Locations
from bot.services.approvals.filing import NO_RULE
from bot.services.approvals.located import LocationDelivery
from bot.services.delivered_rotations import DeliveredRotations
from bot.services.inventory import InventoryService
from bot.services.own_identity import IdentityUnknown, OwnIdentity
from bot.slack.messages.common import AccountNames
from bot.slack.messages.delivered import RunSummary, build_run_summary
from bot.slack.notifier import Notifier
from bot.store.audit import SYSTEM
from bot.store.requests import DuplicateRequest, RequestStore
from bot.store.rotations import RotationStore

log = logging.getLogger(__name__)
RULE = "locations"  # the built-in rule that approves what LOCATIONS_FILE schedules
S = RotationState


@dataclass(kw_only=True, eq=False)
class ScheduledRotations:
    places: Locations
    aws: AwsGateway
    clock: Clock
    store: RequestStore
    rotations: RotationStore
    inventory: InventoryService
    access: Access
    own: OwnIdentity
    delivery: LocationDelivery
    delivered: DeliveredRotations
    notifier: Notifier
    alert_channel: str | None
    reconcile_after: timedelta  # an approved rotation not run this long after approval was left by a crash
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts
    workers: int = 8  # users rotated at once

    def run(self) -> RunSummary:
        """Due users rotated and their keys delivered (with left-over approvals), side by side; one summary in the
        alert channel when anything was rotated or refused (users that could not be rotated are listed with it)."""
        started = time.monotonic()
        due = [(a, e) for e in self.places.book.users if e.rotate_every_days for a in self._accounts(e)]
        work: list[Callable[[], Done | None]] = [partial(self._rotate, a, e) for a, e in due]
        work += [partial(self._deliver, r) for r in self.left_approved()]
        summary = RunSummary()
        if work:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(work)), thread_name_prefix="rotate") as pool:
                for done in pool.map(_logged, work):
                    if done is not None:
                        done.add_to(summary)
        if summary.worth_telling and self.alert_channel:
            took = timedelta(seconds=time.monotonic() - started)
            self.notifier.post(self.alert_channel, build_run_summary(summary, took))
        return summary

    def left_approved(self) -> list[Request]:
        """Delivered rotations a crash left approved but never run (a person's click, or a run of this job)."""
        before = self.clock() - self.reconcile_after
        return [r for r in self.store.stale_approved(before, key_making=True) if self.delivery.delivers(r)]

    def advance(self) -> int:
        """The frequent part: left-over approvals delivered, every delivered rotation one step further."""
        for request in self.left_approved():
            _logged(partial(self._deliver, request))
        return self.delivered.advance_due()

    def _accounts(self, entry: MachineUser) -> list[str]:
        if entry.account is not None:
            return [entry.account]
        return [a for a in self.aws.list_aliases() if self.places.entry(a, entry.user) == entry]

    def _rotate(self, account: str, entry: MachineUser) -> Done | None:
        try:
            request = self._file_if_due(account, entry)
        except InputError as e:
            return Done(self.names.plain(account, entry.user), skipped=str(e))
        return self._deliver(request) if request is not None else None

    def _file_if_due(self, account: str, entry: MachineUser) -> Request | None:
        """The approved request for this user's rotation when it is due, None when it is not (or is under way);
        InputError with the reason when it is due but must not be rotated."""
        assert entry.rotate_every_days is not None
        try:
            keys = self.aws.account(account).list_access_keys(entry.user)
        except AwsNotFound:
            raise InputError(f"no IAM user `{entry.user}` in account `{account}`") from None
        active = [k for k in keys if k.status == "Active"]
        if not active or not any(rotation_due(k.created, entry.rotate_every_days, self.clock()) for k in active):
            return None
        if self.rotations.in_progress_for_user(account, entry.user) is not None:
            return None  # being rotated already
        try:
            if self.own.is_own_user(account, entry.user):
                raise InputError("it is the IAM user Keywarden itself runs as")
        except IdentityUnknown as e:
            raise InputError(f"Keywarden could not read its own identity ({e.message}); tried again next run") from None
        user = self.inventory.user_keys(account, entry.user)
        old = next((k for k in user.keys if k.facts.key_id == active[0].key_id), None)
        target = Target(user, old)
        REQUEST_OPERATIONS[Operation.ROTATE].check(target)  # two active keys, ...: InputError with guidance
        decision = self.access.decide(SYSTEM, Operation.ROTATE, target)
        if decision.deny and decision.rule != NO_RULE:  # a deny of the policy file wins over the schedule
            self.store.audit.refused(
                SYSTEM, "rotate (scheduled)", f"policy rule `{decision.rule}` denies it", account=account,
                iam_user=entry.user, key_id=active[0].key_id,
            )  # fmt: skip
            raise InputError(f"policy rule `{decision.rule}` denies it: {decision.deny}")
        return self._file(account, entry, target, decision)

    def _file(self, account: str, entry: MachineUser, target: Target, decision: Decision) -> Request | None:
        assert target.key is not None
        now = self.clock()
        try:
            request = self.store.add(
                operation=Operation.ROTATE,
                account=account,
                iam_user=entry.user,
                key_id=target.key.facts.key_id,
                requester=SYSTEM,
                reason=f"due: rotated every {entry.rotate_every_days} days (LOCATIONS_FILE)",
                approvals_needed=1,
                expires_at=now,
                details=f":robot_face: *Approved by* the built-in rule `{RULE}`; {entry.describe()}.",
                owner_ok=True,
                status=Status.APPROVED,
                action="approved_by_policy",
                policy_rule=RULE,
                policy=self.access.remember(decision, target) if decision.rule is not None else None,
            )
        except DuplicateRequest:
            return None  # a request for this user is open: left to it
        self.store.note(request.id, RULE, "approved", detail=f"built-in rule `{RULE}`: {entry.describe()}")
        return request

    def _deliver(self, request: Request) -> Done:
        name = self.names.plain(request.account, request.iam_user)
        rotation = self.delivery.deliver(request)
        if rotation is None:
            latest = self.store.get(request.id)
            why = latest.result if latest is not None and latest.result else "left for recovery (AWS did not answer)"
            return Done(name, skipped=why)
        places = len(self.delivered.holding(rotation))
        if rotation.state is S.DELIVERY_FAILED:
            return Done(name, places=places, failed=rotation.note or "delivery failed")
        return Done(name, places=places)


@dataclass(frozen=True)
class Done:
    """What one user's part of a run came to."""

    name: str  # account:user (user with one account)
    places: int = 0
    failed: str | None = None
    skipped: str | None = None

    def add_to(self, summary: RunSummary) -> None:
        summary.places += self.places
        if self.skipped is not None:
            summary.skipped.append(f"{self.name}: {self.skipped}")
        elif self.failed is not None:
            summary.failed.append(f"{self.name}: {self.failed}")
        else:
            summary.rotated.append(self.name)


def _logged(work: Callable[[], Done | None]) -> Done | None:
    try:
        return work()
    except AwsError as e:
        log.warning("scheduled rotation: %s; tried again next run", e.message)
    except Exception:  # one user's failure does not stop the others
        log.exception("scheduled rotation: a user's rotation failed")
    return None
