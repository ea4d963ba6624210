"""Executing approved requests: each runs once, and an outcome left unknown is settled from what AWS shows."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.aws import AccountClient, AwsError, AwsGateway, AwsUnavailable
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.overtaken import overtaken
from bot.domain.requests import Request, Status
from bot.services.approvals.delivery import PlanNoLongerHolds, SecretDelivery
from bot.services.approvals.slack_sync import RequestSync
from bot.services.rotations import RotationService
from bot.services.trouble import logged
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, when
from bot.slack.messages.request_states import overtaken_text
from bot.slack.messages.trouble import change_failed
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class Execution:
    store: RequestStore
    aws: AwsGateway
    sync: RequestSync
    delivery: SecretDelivery
    rotations: RotationService  # a deactivation can end a rotation

    def run_approved(self, request: Request) -> None:
        """A request just approved: one that makes a key goes to the secret delivery, any other runs now."""
        if REQUEST_OPERATIONS[request.operation].makes_key:
            self.delivery.hand_over(request)
            return
        self.sync.sync(request)
        self.execute(request.id)

    def execute(self, request_id: str, *, late: bool = False) -> Request | None:
        """Run an approved request's AWS operation; the claim makes sure only one caller runs it.

        `late`: run long after its approval (recovery), so whatever happened to the key since wins."""
        request = self.store.transition(request_id, Status.APPROVED, Status.EXECUTING, actor=SYSTEM, action="executing")
        if request is None:
            return None
        if late and self._gave_way(request):
            return None
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.execute is not None and request.key_id is not None
        client = self.aws.account(request.account)
        try:
            result = operation.execute(client, request.iam_user, request.key_id)
        except AwsUnavailable as e:
            # The call may or may not have reached AWS: ask AWS what happened rather than guess.
            final = self._settle_unknown(request, client, e)
        except AwsError as e:
            final = fail(self.store, request, *aws_failure(request, e, self.sync.names))
        else:
            final = self.store.transition(
                request_id, Status.EXECUTING, Status.SUCCEEDED, actor=SYSTEM, action="executed", result=result
            )
        if final is not None:
            self.sync.sync(final)
            self._end_rotation(final)
        return final

    def settle_interrupted(self, request: Request) -> None:
        """A request a crash left executing, finished from what AWS shows: nothing runs twice."""
        if REQUEST_OPERATIONS[request.operation].makes_key:
            self.delivery.settle_interrupted(request)
            return
        if self._gave_way(request):
            return
        client = self.aws.account(request.account)
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.done and operation.execute and request.key_id
        if operation.done(client, request.iam_user, request.key_id):
            result = "confirmed in AWS after an interruption"
        else:
            result = operation.execute(client, request.iam_user, request.key_id)
        final = self.store.transition(
            request.id,
            Status.EXECUTING,
            Status.SUCCEEDED,
            actor=SYSTEM,
            action="reconciled",
            result=result,
            detail=result,
        )
        if final:
            self.sync.sync(final)
            self._end_rotation(final)

    def _gave_way(self, request: Request) -> bool:
        """A claimed request that something overtook since its approval (a break-glass, another request, an
        exposure, ...) fails without touching AWS: finishing it now could undo what came later. Reading the
        audit log may fail: the request then stays claimed, for the next try."""
        later = overtaken(request.id, self.store.audit.on_key_since_approval(request))
        if later is None:
            return False
        log.warning("%s overtaken by %s on its key: not finished", request.id, later.by.value)
        final = fail(self.store, request, overtaken_text(later, when), overtaken_text(later))
        if final is not None:
            self.sync.sync(final)
        return True

    def _end_rotation(self, request: Request) -> None:
        """A deactivation of a rotation's old key, by anyone but the rotation, ends that rotation."""
        if request.status is Status.SUCCEEDED and REQUEST_OPERATIONS[request.operation].deactivates_key:
            self.rotations.old_key_deactivated_by(request)

    def _settle_unknown(self, request: Request, client: AccountClient, error: AwsUnavailable) -> Request | None:
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.done is not None and request.key_id is not None
        try:
            done = operation.done(client, request.iam_user, request.key_id)
        except AwsError:
            log.warning("%s: outcome unknown, left for reconciliation: %s", request.id, error.message)
            self.sync.notify_requester(request)  # "running": its DM says so, in place
            return None
        if done:
            return self.store.transition(
                request.id,
                Status.EXECUTING,
                Status.SUCCEEDED,
                actor=SYSTEM,
                action="executed",
                result="done (confirmed in AWS after a connection error)",
            )
        return fail(self.store, request, *aws_failure(request, error, self.sync.names))


def aws_failure(request: Request, error: AwsError, names: AccountNames = SEVERAL_ACCOUNTS) -> tuple[str, str]:
    """A request's AWS failure told twice: people's words with a log reference (the approval message, the
    requester's DM, the Reveal window), and the operator's detail, logged and kept in the audit log under it.
    The account is named only where there are several (`names`)."""
    if isinstance(error, PlanNoLongerHolds):  # nothing was asked of AWS: its message is a person's
        return error.message, error.message
    reference = logged(error, f"{request.id} failed in AWS", log)
    account = names.account(error.account or request.account)
    words = change_failed(error.code, account, reference, done_first=error.done_first)
    return words, f"{error.message} (ref {reference})"


def fail(store: RequestStore, request: Request, message: str, detail: str | None = None) -> Request | None:
    """A claimed request (executing) failed: `message` says why to people (the approval message, the requester's
    DM); `detail` (the operator's, when it differs) goes with it into the audit log."""
    return store.transition(
        request.id,
        Status.EXECUTING,
        Status.FAILED,
        actor=SYSTEM,
        action="failed",
        outcome="failed",
        detail=detail or message,
        result=message,
    )
