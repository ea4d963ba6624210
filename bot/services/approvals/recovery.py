"""Recovery: finishing what a crash or an outage left behind, from what AWS really shows; nothing runs twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.aws import AwsError
from bot.clock import Clock
from bot.domain.operations import REQUEST_OPERATIONS
from bot.services.approvals.delivery import SecretDelivery
from bot.services.approvals.execution import Execution
from bot.services.approvals.slack_sync import RequestSync
from bot.store.errors import StoreError
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class Recovery:
    clock: Clock
    store: RequestStore
    execution: Execution
    delivery: SecretDelivery
    sync: RequestSync

    def reconcile_stuck(self, older_than: timedelta = timedelta(minutes=10)) -> int:
        """Finish requests a crash left behind, from what AWS really shows; nothing runs twice.

        `executing`: settled from AWS. `approved` without a Reveal (decided, never run): run now, or with an
        unattended secret delivery (Secrets Manager) delivered now; the approved -> executing claim lets one
        runner through. Approved keys never revealed expire instead (`Decisions.expire_due`).

        Either way a request on a key that something overtook since its approval (a break-glass, another
        request, an exposure, ...) fails instead of running. When AWS or the database cannot say, the request
        is left as it is and tried again on the next round."""
        before = self.clock() - older_than
        stuck = self.store.stuck(before)
        for request in stuck:
            try:
                self.execution.settle_interrupted(request)
            except AwsError as e:
                log.warning("could not reconcile %s yet: %s", request.id, e.message)
            except StoreError as e:
                log.warning(
                    "could not reconcile %s yet: the database did not answer (%s)", request.id, type(e).__name__
                )
        waiting = self.store.stale_approved(before, key_making=self.delivery.unattended)
        for request in waiting:
            log.warning("%s was approved but never run; running it now", request.id)
            try:
                if REQUEST_OPERATIONS[request.operation].makes_key:
                    self.delivery.hand_over(request)
                else:
                    self.execution.execute(request.id, late=True)
            except StoreError as e:
                log.warning("could not run %s yet: the database did not answer (%s)", request.id, type(e).__name__)
        return len(stuck) + len(waiting)

    def resync(self, older_than: timedelta = timedelta(minutes=2)) -> int:
        """Re-send the Slack updates that Slack did not accept earlier."""
        stale = self.store.unsynced(self.clock() - older_than)
        for request in stale:
            self.sync.sync(request)
        return len(stale)
