"""The approval workflow: filing requests, deciding them exactly once, executing them, revealing secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from bot.access import Access, Decision
from bot.aws import AccountClient, AwsError, AwsGateway, AwsNotFound, AwsPermissionDenied, AwsUnavailable, NewKey
from bot.clock import Clock
from bot.domain.commands import Command
from bot.domain.delivery import SecretLocation, arn_account_id, policy_resource, secret_name
from bot.domain.inventory import Target
from bot.domain.keys import InputError, KeyFacts
from bot.domain.operations import REQUEST_OPERATIONS, admin_approval
from bot.domain.requests import (
    MAKES_KEY,
    OPEN,
    Operation,
    Request,
    Status,
    iam_user_of,
    outcome_needs_new_dm,
)
from bot.domain.rotation import PlanChanged, choose_keys, confirm_pre_step, schedule
from bot.services.inventory import InventoryService
from bot.services.rotations import RotationService, rotation_policy
from bot.settings import Settings
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import key_lines
from bot.slack.messages.requests import (
    build_approval_message,
    build_error_modal,
    build_pending_dm,
    build_reminder,
    build_requester_dm,
    build_secret_loading_modal,
    build_secret_modal,
    who,
)
from bot.slack.messages.rotations import plan_text
from bot.slack.notifier import Notifier
from bot.store.audit import SYSTEM
from bot.store.requests import DuplicateRequest, RequestStore

log = logging.getLogger(__name__)


class ApprovalService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: RequestStore,
        inventory: InventoryService,
        aws: AwsGateway,
        notifier: Notifier,
        directory: SlackDirectory,
        rotations: RotationService | None = None,
        access: Access | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._store = store
        self._inventory = inventory
        self._aws = aws
        self._notifier = notifier
        self._directory = directory
        self._access = access or Access(settings, directory)
        self._rotations = rotations  # a revealed rotate request hands its new key over to it
        self.on_change: Callable[..., None] | None = None  # (Slack user ids) whose App Home to refresh
        self._own_users: dict[str, str | None] = {}  # account alias -> Keywarden's own IAM user there, if any

    @property
    def access(self) -> Access:
        return self._access

    # Who may decide
    def is_approver(self, user_id: str) -> bool:
        """Asked live (the approver group is read from Slack each time): a removed member loses the right at once."""
        return self._access.is_approver(user_id)

    def _refused(
        self, user_id: str, attempted: str, why: str, request: Request | None = None, **target: str | None
    ) -> None:
        """Audit a refused attempt by someone not allowed (in its own transaction)."""
        if request is not None:
            target = {
                "request_id": request.id,
                "account": request.account,
                "iam_user": request.iam_user,
                "key_id": request.key_id,
            }
        self._store.audit.refused(user_id, attempted, why, **target)

    # Filing
    def file(self, requester: str, cmd: Command) -> Request:
        """Validate against live AWS state, store the request, post it for approval."""
        operation = Operation(cmd.name)
        target = self._target(cmd)
        self._refuse_own_identity(requester, operation, target)
        REQUEST_OPERATIONS[operation].check(target)
        if operation is Operation.ROTATE:
            self._refuse_second_rotation(target)
        decision = self._access.decide(requester, operation, target)
        if decision.deny:
            self._refused(
                requester,
                operation.value + (" --now" if cmd.now else ""),
                f"policy rule `{decision.rule}` denies it",
                account=target.account,
                iam_user=target.name,
                key_id=target.key.facts.key_id if target.key else None,
            )
            raise InputError(f"Refused by policy rule `{decision.rule}`: {decision.deny}")
        if decision.require_reason and not cmd.reason.strip():
            raise InputError(
                f"Policy rule `{decision.rule}` requires a reason: add it after the target, e.g. "
                f"`{operation.value} {cmd.key_id or cmd.user} <why you need this>`. Nothing was filed."
            )
        if cmd.now:
            return self._break_glass(requester, cmd, target, decision)
        now = self._clock()
        if decision.auto_approve:
            return self._auto_approve(requester, operation, target, cmd.reason, decision)
        request = self._add(
            requester,
            operation,
            target,
            cmd.reason,
            status=Status.PENDING,
            expires_at=now + timedelta(hours=self._settings.request_ttl_hours),
            decision=decision,
        )
        self.sync(request)
        return request

    def _auto_approve(
        self, requester: str, operation: Operation, target: Target, reason: str, decision: Decision
    ) -> Request:
        """A rule with `auto_approve: true`: approved at once by the policy, announced and audited as such."""
        request = self._add(
            requester,
            operation,
            target,
            reason,
            status=Status.APPROVED,
            expires_at=self._clock(),
            action="approved_by_policy",
            decision=decision,
        )
        self._after_approval(request)
        return self._store.get(request.id) or request

    def _break_glass(self, requester: str, cmd: Command, target: Target, decision: Decision) -> Request:
        """`deactivate --now`: the key's owner or an approver deactivates at once, announced to approvers.

        It supersedes the pending and approved requests on the key, so nobody can block it by filing first."""
        if not self._access.may_break_glass(requester, target, decision):
            key_id = target.key.facts.key_id if target.key else None
            self._refused(
                requester,
                "deactivate --now",
                "not allowed to break glass" + (f" by policy rule `{decision.rule}`" if decision.rule else ""),
                account=target.account,
                iam_user=target.name,
                key_id=key_id,
            )
            allowed = " or ".join(
                {"owner": "the key's owner", "approvers": "an approver"}[b] for b in decision.break_glass
            )
            raise InputError(
                f"Only {allowed or 'nobody'} may use `--now`"
                + (f" (policy rule `{decision.rule}`)" if decision.rule else "")
                + ". Without it, the request goes to approval."
            )
        request, superseded = self._store.add_break_glass(
            **self._fields(
                requester,
                Operation.DEACTIVATE,
                target,
                cmd.reason,
                status=Status.APPROVED,
                expires_at=self._clock(),
                note=f":rotating_light: *Break-glass*: deactivated at once by {who(requester)} (suspected compromise).",
                decision=decision,
            ),
            action="break_glass",
        )
        for old in superseded:
            self.sync(old)
        return self.execute(request.id) or request

    def enforce(self, account: str, user: str, key_id: str, reason: str, rule: str) -> Request:
        """ENFORCE: deactivate a key as a request filed by Keywarden and approved by `rule`, executed at once."""
        keys = self._inventory.user_keys(account, user)
        key = next((k for k in keys.keys if k.facts.key_id == key_id), None)
        if key is None:
            raise InputError(f"`{key_id}` is no longer a key of `{account}:{user}`.")
        target = Target(keys, key)
        REQUEST_OPERATIONS[Operation.DEACTIVATE].check(target)
        fields = self._fields(
            SYSTEM,
            Operation.DEACTIVATE,
            target,
            reason,
            status=Status.APPROVED,
            expires_at=self._clock(),
            note=f":lock: *Enforced* by Keywarden ({reason}); approved by `{rule}`.",
        )
        try:
            request = self._store.add(**fields, action="requested")
        except DuplicateRequest as e:
            raise InputError(f"request {e.existing} is already open for this key: left to it") from None
        self._store.note(request.id, rule, "approved", detail="built-in enforcement rule")
        return self.execute(request.id) or request

    def _add(
        self,
        requester: str,
        operation: Operation,
        target: Target,
        reason: str,
        *,
        status: Status,
        expires_at: datetime,
        action: str = "requested",
        decision: Decision | None = None,
    ) -> Request:
        try:
            return self._store.add(
                **self._fields(
                    requester, operation, target, reason, status=status, expires_at=expires_at, decision=decision
                ),
                action=action,
            )
        except DuplicateRequest as e:
            raise InputError(
                f"Request {e.existing} is already open for this "
                f"{'user' if operation in MAKES_KEY or not target.key else 'key'}: "
                f"wait for it, or `cancel {e.existing}` if it is yours."
            ) from None

    def _fields(
        self,
        requester: str,
        operation: Operation,
        target: Target,
        reason: str,
        *,
        status: Status,
        expires_at: datetime,
        note: str = "",
        decision: Decision | None = None,
    ) -> dict[str, Any]:
        """A new request's row, as the store takes it."""
        owns = self._owns(requester, target)
        decision = decision or self._access.decide(requester, operation, target)
        _, admin_line = admin_approval(operation, target, self._settings.require_extra_approval_for_admin)
        if decision.rule is not None:  # the rule's count is the count: no extra for admins or non-owners
            admin_line = admin_line.replace(" It needs one more approval than usual.", "")
        if decision.auto_approve:
            note = "\n".join(x for x in (note, f":robot_face: *Approved by policy* (rule `{decision.rule}`).") if x)
        return {
            "operation": operation,
            "account": target.account,
            "iam_user": target.name,
            "key_id": target.key.facts.key_id if target.key else None,
            "requester": requester,
            "reason": reason,
            # Without a policy a requester who does not own the user needs one more approver than usual; so does
            # an admin target (bot/access.py). With one, the rule's count.
            "approvals_needed": decision.approvals,
            "expires_at": expires_at,
            "details": "\n".join(x for x in (note, decision.line, admin_line, self._details(target, operation)) if x),
            "owner_ok": owns or decision.rule is not None,
            "status": status,
            "policy_rule": decision.rule,
            "policy": self._access.remember(decision, target),
        }

    def _target(self, cmd: Command) -> Target:
        if cmd.key_id:
            account, user = self._inventory.locate(cmd.key_id)
        else:
            assert cmd.user is not None
            account, user = self._inventory.resolve(cmd.user)
        keys = self._inventory.user_keys(account, user)
        key_id = cmd.key_id
        if cmd.name == Operation.ROTATE.value:  # the named key, or the user's only active key; refusals explain
            key_id, _ = choose_keys(user, [k.facts for k in keys.keys], key_id)
        key = next((k for k in keys.keys if k.facts.key_id == key_id), None) if key_id else None
        return Target(keys, key)

    def _refuse_own_identity(self, requester: str, operation: Operation, target: Target) -> None:
        """Keywarden never changes the keys of the IAM user it runs as (sts:GetCallerIdentity of that account)."""
        if target.account not in self._own_users:
            self._own_users[target.account] = iam_user_of(self._aws.account(target.account).caller_arn())
        if target.name != self._own_users[target.account]:
            return
        key_id = target.key.facts.key_id if target.key else None
        self._refused(
            requester,
            operation.value,
            "Keywarden's own IAM identity",
            account=target.account,
            iam_user=target.name,
            key_id=key_id,
        )
        raise InputError(
            f"`{target.name}` is the IAM user Keywarden itself runs as in account `{target.account}`, so Keywarden "
            "does not change its keys: an AWS administrator must do that outside Keywarden."
        )

    def _refuse_second_rotation(self, target: Target) -> None:
        running = self._rotations.in_progress_for_user(target.account, target.name) if self._rotations else None
        if running is not None:
            raise InputError(
                f"`{target.name}` is already being rotated ({running.id}: `{running.old_key_id}` → "
                f"`{running.new_key_id}`, {running.state.value}). Let it finish first; `requests` shows its dates."
            )

    def _owns(self, user_id: str, target: Target) -> bool:
        return self._access.owns(user_id, target.user.owner)

    def _details(self, target: Target, operation: Operation | None = None) -> str:
        now = self._clock()
        if operation is Operation.ROTATE and target.key is not None:
            facts = [k.facts for k in target.user.keys]
            old_key_id, pre_step = choose_keys(target.name, facts, target.key.facts.key_id)
            plan = schedule(now, rotation_policy(self._settings))
            keys = "\n".join(key_lines(k, now) for k in target.user.keys)
            return plan_text(target.account, target.name, old_key_id, pre_step, plan) + f"\n*Keys now:*\n{keys}"
        if target.key is not None:
            return key_lines(target.key, now)
        if not target.user.keys:
            return f"`{target.name}` has no access keys yet."
        return f"`{target.name}` has these keys now:\n" + "\n".join(key_lines(k, now) for k in target.user.keys)

    # Decisions
    def approve(self, request_id: str, approver: str) -> str | None:
        """Record an approval; the click that completes the count executes the request. Returns a reply."""
        request = self._store.get(request_id)
        if request is None:
            return f"Request {request_id} does not exist (any more)."
        if approver == request.requester:
            self._refused(approver, "approve", "own request", request)
            return "You cannot approve your own request: another approver must decide."
        # Read live once per click: it decides this click and re-checks everyone counted before.
        approvers = self._access.approvers_of(request, [approver, *request.approvers])
        if approver not in approvers:
            self._refused(approver, "approve", "not an approver", request)
            return "Only approvers can approve requests. Nothing was changed."
        outcome, request, dropped = self._store.approve(
            request_id, approver, approvers=approvers, reveal_ttl=timedelta(hours=self._settings.reveal_ttl_hours)
        )
        assert request is not None
        if outcome == "expired":
            return self._expire_late(request)
        if outcome == "late":
            return _late(request)
        withdrawn = ""
        if dropped:
            names = ", ".join(who(a) for a in dropped)
            one = len(dropped) == 1
            withdrawn = (
                f" {names} {'is no longer an approver' if one else 'are no longer approvers'}, so "
                f"{'that approval no longer counts' if one else 'those approvals no longer count'}."
            )
        if outcome == "duplicate":
            if dropped:
                self.sync(request)
            return (
                f"You already approved {request_id}; it needs another approver ({len(request.approvers)} of "
                f"{request.approvals_needed}).{withdrawn}"
            )
        if outcome == "partial":
            self.sync(request)
            more = " It stays pending until another approver approves." if dropped else ""
            return (
                f"Approval recorded: {len(request.approvers)} of {request.approvals_needed} for {request_id}."
                f"{withdrawn}{more}"
            )
        self._after_approval(request)
        return None

    def _expire_late(self, request: Request) -> str:
        """A click on a pending request past its expiry (the sweep had not run yet): it expires now."""
        expired = self._store.transition(request.id, Status.PENDING, Status.EXPIRED, actor=SYSTEM, action="expired")
        if expired is not None:
            self.sync(expired)
        return (
            f"{request.id} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC, before this click; nothing was "
            "changed. The requester can file it again."
        )

    def _after_approval(self, request: Request) -> None:
        if request.operation in MAKES_KEY:
            if self._settings.secret_delivery == "secretsmanager":
                self._deliver_to_secrets_manager(request)
                return
            self.sync(request)
            return
        self.sync(request)
        self.execute(request.id)

    def deny_refusal(self, request_id: str, approver: str) -> str | None:
        """Why this user may not deny this request now, or None when they may."""
        request = self._store.get(request_id)
        if request is None:
            return f"Request {request_id} does not exist (any more)."
        if approver == request.requester:
            self._refused(approver, "deny", "own request", request)
            return f"You cannot decide your own request; `cancel {request_id}` withdraws it."
        if approver not in self._access.approvers_of(request, [approver]):
            self._refused(approver, "deny", "not an approver", request)
            return "Only approvers can deny requests. Nothing was changed."
        if request.status is not Status.PENDING:
            return _late(request)
        if request.expires_at <= self._clock():
            return self._expire_late(request)
        return None

    def deny(self, request_id: str, approver: str, reason: str) -> str | None:
        refusal = self.deny_refusal(request_id, approver)
        if refusal:
            return refusal
        denied = self._store.transition(
            request_id,
            Status.PENDING,
            Status.DENIED,
            actor=approver,
            action="denied",
            detail=reason,
            decided_by=approver,
            decided_at=self._clock(),
            deny_reason=reason,
        )
        if denied is None:
            late = self._store.get(request_id)
            return _late(late) if late else f"Request {request_id} does not exist (any more)."
        self.sync(denied)
        return None

    def cancel(self, request_id: str, user_id: str) -> str:
        request = self._store.get(request_id)
        if request is not None and request.requester != user_id:
            self._refused(user_id, "cancel", "not the requester", request)
        if request is None or request.requester != user_id:
            return f"You have no request {request_id}. `requests` lists yours."
        cancelled = self._store.transition(
            request_id, Status.PENDING, Status.CANCELLED, actor=user_id, action="cancelled"
        )
        if cancelled is None:
            return f"{request_id} is {request.status.value} and can no longer be cancelled."
        self.sync(cancelled)
        return f"Request {request_id} is cancelled."

    def open_requests(self, user_id: str) -> list[Request]:
        return self._store.open_for(user_id)

    # Execution
    def execute(self, request_id: str) -> Request | None:
        """Run an approved request's AWS operation; the claim makes sure only one caller runs it."""
        request = self._store.transition(
            request_id, Status.APPROVED, Status.EXECUTING, actor=SYSTEM, action="executing"
        )
        if request is None:
            return None
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.execute is not None and request.key_id is not None
        client = self._aws.account(request.account)
        try:
            result = operation.execute(client, request.iam_user, request.key_id)
        except AwsUnavailable as e:
            # The call may or may not have reached AWS: ask AWS what happened rather than guess.
            final = self._settle_unknown(request, client, e.message)
        except AwsError as e:
            final = self._fail(request, e.message)
        else:
            final = self._store.transition(
                request_id, Status.EXECUTING, Status.SUCCEEDED, actor=SYSTEM, action="executed", result=result
            )
        if final is not None:
            self.sync(final)
            self._end_rotation(final)
        return final

    def _end_rotation(self, request: Request) -> None:
        """A deactivation of a rotation's old key, by anyone but the rotation, ends that rotation."""
        if request.status is Status.SUCCEEDED and request.operation is Operation.DEACTIVATE and self._rotations:
            self._rotations.old_key_deactivated_by(request)

    def _settle_unknown(self, request: Request, client: AccountClient, error: str) -> Request | None:
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.done is not None and request.key_id is not None
        try:
            done = operation.done(client, request.iam_user, request.key_id)
        except AwsError:
            log.warning("%s: outcome unknown, left for reconciliation: %s", request.id, error)
            self._notify_requester(request, None)  # "running": its DM says so, in place
            return None
        if done:
            return self._store.transition(
                request.id,
                Status.EXECUTING,
                Status.SUCCEEDED,
                actor=SYSTEM,
                action="executed",
                result="done (confirmed in AWS after a connection error)",
            )
        return self._fail(request, f"{error} AWS shows that nothing was changed.")

    def _fail(self, request: Request, message: str) -> Request | None:
        return self._store.transition(
            request.id,
            Status.EXECUTING,
            Status.FAILED,
            actor=SYSTEM,
            action="failed",
            outcome="failed",
            detail=message,
            result=message,
        )

    def reveal_refusal(self, request_id: str, user_id: str) -> str | None:
        """Why this user may not reveal this request's key now, or None when they may."""
        request = self._store.get(request_id)
        if request is None:
            return f"Request {request_id} does not exist (any more)."
        if request.requester != user_id:
            self._refused(user_id, "reveal", "not the requester", request)
            return "Only the requester can reveal this key."
        if not self._reveals:
            return (
                f"Keys are delivered through AWS Secrets Manager here (SECRET_DELIVERY=secretsmanager), never shown "
                f"in Slack: nothing was revealed. The DM about {request_id} names the secret once it is stored."
            )
        if request.status is not Status.APPROVED or request.operation not in MAKES_KEY:
            if request.status is Status.SUCCEEDED:
                return f"The key of {request_id} was already revealed; a secret is shown only once."
            return f"{request_id} is {request.status.value}: there is nothing to reveal."
        if self._clock() >= self._reveal_deadline(request):
            return f"The Reveal of {request_id} has expired; file a new request."
        return None

    def reveal(self, request_id: str, user_id: str, trigger_id: str = "", view_id: str | None = None) -> str | None:
        """Create the key and show its secret in a modal, once: in `view_id` when the caller has opened the
        window already (within Slack's 3 s of the click), else in one opened here. Returns a reply when
        nothing was shown."""
        refusal = self.reveal_refusal(request_id, user_id)
        if refusal:
            return refusal
        claimed = self._store.transition(
            request_id,
            Status.APPROVED,
            Status.EXECUTING,
            actor=user_id,
            action="reveal_started",
            claimed_at=self._clock(),
        )
        if claimed is None:
            return f"{request_id} is already being revealed."
        view_id = view_id or self._notifier.open_view(trigger_id, build_secret_loading_modal())
        if view_id is None:
            self._release(claimed, user_id, "the window could not be opened; no key was created")
            return "Slack could not open the window, so no key was created. Click Reveal again."
        client = self._aws.account(claimed.account)
        try:
            key, first = self._create_key(client, claimed)
        except AwsUnavailable as e:
            # The key may exist though nobody saw its secret: settle it from what AWS shows.
            self._notifier.update_view(view_id, build_error_modal(f"{e.message} Click Reveal again in a moment."))
            try:
                self._reconcile(claimed)
            except AwsError:
                log.warning("%s: left for reconciliation after %s", request_id, e.message)
            return None
        except AwsError as e:
            failed = self._fail(claimed, e.message)
            self._notifier.update_view(view_id, build_error_modal(e.message))
            if failed:
                self.sync(failed)
            return None
        if not self._notifier.update_view(
            view_id, build_secret_modal(claimed.account, claimed.iam_user, key.key_id, key.secret)
        ):
            self._discard(client, claimed, key.key_id, user_id)
            return "Slack could not show the secret, so the new key was deleted again. Click Reveal again."
        done = self._store.transition(
            request_id,
            Status.EXECUTING,
            Status.SUCCEEDED,
            actor=user_id,
            action="revealed",
            detail=first,
            new_key_id=key.key_id,
            result=f"{first}new key `{key.key_id}` created and revealed to {who(user_id)}",
        )
        if done:
            self.sync(done)
            self._start_rotation(done, key.key_id)
        return None

    def _reveal_deadline(self, request: Request) -> datetime:
        """Written with the approval; a request approved without one counts from its decision."""
        ttl = timedelta(hours=self._settings.reveal_ttl_hours)
        return request.reveal_expires_at or (request.decided_at or request.updated_at) + ttl

    def _create_key(self, client: AccountClient, request: Request) -> tuple[NewKey, str]:
        """Create the request's new key; a rotation first deletes the inactive key its plan named.

        Returns the key and a note of what was done first ("" when nothing).
        """
        if request.operation is not Operation.ROTATE:
            return client.create_access_key(request.iam_user), ""
        assert request.key_id is not None
        keys = [
            KeyFacts(request.account, k.user, k.key_id, k.status, k.created)
            for k in client.list_access_keys(request.iam_user)
        ]
        try:
            pre_step = confirm_pre_step(keys, request.key_id, request.created_at)
        except PlanChanged as e:
            raise AwsError(f"The rotation plan no longer holds: {e}. Nothing was changed; file a new request.") from e
        first = ""
        if pre_step:
            with suppress(AwsNotFound):  # already gone: the plan's first step is done either way
                client.delete_access_key(request.iam_user, pre_step)
            first = f"inactive key `{pre_step}` deleted first; "
        try:
            return client.create_access_key(request.iam_user), first
        except AwsError as e:  # the same kind of error, so callers still tell "unavailable" from "refused"
            raise type(e)(f"{first}{e.message}", permission=e.permission) from None

    def _start_rotation(self, request: Request, new_key_id: str) -> None:
        """Hand a revealed rotation to its schedule (the scheduler adopts it if this process dies first)."""
        if request.operation is Operation.ROTATE and self._rotations is not None and request.key_id:
            self._rotations.start(request, new_key_id, request.key_id)

    def _discard(self, client, request: Request, key_id: str, user_id: str) -> None:
        try:
            client.delete_access_key(request.iam_user, key_id)
        except AwsError as e:
            log.error("could not delete unrevealed key %s of %s: %s", key_id, request.iam_user, e.message)
            self._fail(request, f"the secret could not be shown and key {key_id} could not be deleted: {e.message}")
            return
        self._release(request, user_id, f"the secret could not be shown; new key {key_id} was deleted")

    def _release(self, request: Request, actor: str, why: str) -> None:
        self._store.transition(
            request.id,
            Status.EXECUTING,
            Status.APPROVED,
            actor=actor,
            action="reveal_failed",
            outcome="retry",
            detail=why,
        )

    def _deliver_to_secrets_manager(self, request: Request) -> None:
        claimed = self._store.transition(
            request.id, Status.APPROVED, Status.EXECUTING, actor=SYSTEM, action="executing", claimed_at=self._clock()
        )
        if claimed is None:
            return
        client = self._aws.account(claimed.account)
        name = secret_name(self._settings.secret_prefix, claimed.account, claimed.iam_user)
        location: SecretLocation | None = None
        try:
            key, first = self._create_key(client, claimed)
        except AwsUnavailable as e:
            # Whether the key exists is unknown: housekeeping settles it from AWS and delivers again.
            log.warning("%s: left for reconciliation after %s", request.id, e.message)
            return
        except AwsError as e:
            final = self._fail(claimed, e.message)
        else:
            payload = json.dumps({"aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret})
            try:
                arn = client.store_secret(name, payload, f"Access key of IAM user {claimed.iam_user} (Keywarden)")
            except AwsError as e:
                try:
                    client.delete_access_key(claimed.iam_user, key.key_id)
                except AwsError:
                    log.error("could not delete key %s after Secrets Manager failed", key.key_id)
                why = e.message
                if isinstance(e, AwsPermissionDenied):
                    why += (
                        f" The policy must allow it on `{policy_resource(self._settings.secret_prefix)}` "
                        "(SECRET_PREFIX names the secrets)."
                    )
                final = self._fail(claimed, f"storing the secret failed, the new key was deleted: {why}")
            else:
                location = SecretLocation(name, claimed.account, client.region, arn_account_id(arn))
                final = self._store.transition(
                    request.id,
                    Status.EXECUTING,
                    Status.SUCCEEDED,
                    actor=SYSTEM,
                    action="stored_secret",
                    new_key_id=key.key_id,
                    result=f"{first}new key `{key.key_id}` stored as secret `{name}`",
                    detail=f"{first}{name}",
                )
        if final is not None:
            self.sync(final, secret=location)
            if final.status is Status.SUCCEEDED and final.new_key_id:
                self._start_rotation(final, final.new_key_id)

    # Time
    def expire_due(self) -> int:
        """Expire pending requests past their time and approved keys never revealed."""
        count = 0
        reveal_ttl = timedelta(hours=self._settings.reveal_ttl_hours)
        for request in self._store.due_to_expire(self._clock(), reveal_ttl):
            expired = self._store.transition(
                request.id, {Status.PENDING, Status.APPROVED}, Status.EXPIRED, actor=SYSTEM, action="expired"
            )
            if expired is not None:
                count += 1
                self.sync(expired)
        return count

    def remind_due(self) -> int:
        """Remind a pending request's approvers once after REMIND_APPROVERS_HOURS, in the approval message's thread
        (and offer the requester a Nudge); after ESCALATE_AFTER_HOURS add the rule's escalate_to (or
        APPROVER_GROUP) and tell them. Each is stamped and audited in one transaction: never twice, never after a
        decision."""
        now = self._clock()
        remind = self._settings.remind_approvers_hours
        escalate = self._settings.escalate_after_hours
        count = 0
        for request in self._store.pending(now):
            waited = now - request.created_at
            if request.escalated_at is None and waited >= timedelta(hours=escalate):
                mentions = self._access.mentions_of(request, escalation=True)
                done = self._store.stamp_pending(
                    request.id, "escalated_at", actor=SYSTEM, action="escalated", detail=" ".join(mentions)
                )
                if done:
                    count += 1
                    self._thread(done, build_reminder(done, mentions, "escalated", escalate))
            elif request.reminded_at is None and request.escalated_at is None and waited >= timedelta(hours=remind):
                mentions = self._access.mentions_of(request)
                done = self._store.stamp_pending(
                    request.id, "reminded_at", actor=SYSTEM, action="reminded", detail=" ".join(mentions)
                )
                if done:
                    count += 1
                    self._thread(done, build_reminder(done, mentions, "reminded", remind))
                    posted = self._notifier.dm(done.requester, build_pending_dm(done, remind))
                    if posted:
                        self._store.record_delivery(done.id, dm_channel=posted[0], dm_ts=posted[1])
        return count

    def nudge(self, request_id: str, user_id: str) -> str:
        """The requester's Nudge: approvers reminded in the thread, at most once an hour, audited."""
        request = self._store.get(request_id)
        if request is None or request.requester != user_id:
            if request is not None:
                self._refused(user_id, "nudge", "not the requester", request)
            return f"You have no request {request_id}. `requests` lists yours."
        if request.status is not Status.PENDING:
            return f"{request_id} is {request.status.value}: there is nobody left to nudge."
        hour_ago = self._clock() - timedelta(hours=1)
        mentions = self._access.mentions_of(request, escalation=False)
        if request.escalated_at is not None:
            mentions += [m for m in self._access.mentions_of(request, escalation=True) if m not in mentions]
        done = self._store.stamp_pending(
            request_id, "nudged_at", actor=user_id, action="nudged", not_since=hour_ago, requester=user_id
        )
        if done is None:
            current = self._store.get(request_id)
            if current is not None and current.status is not Status.PENDING:
                return f"{request_id} is {current.status.value}: there is nobody left to nudge."
            last = current.nudged_at if current else None
            again = f" You can nudge again after {last + timedelta(hours=1):%H:%M} UTC." if last else ""
            return f"You nudged the approvers of {request_id} less than an hour ago.{again}"
        self._thread(done, build_reminder(done, mentions, "nudged", 0))
        return f"Nudged: the approvers of {request_id} were reminded."

    def _thread(self, request: Request, message: tuple) -> None:
        channel = request.channel or self._settings.approval_channel
        if channel:
            self._notifier.post(channel, message, thread_ts=request.message_ts)

    def reconcile_stuck(self, older_than: timedelta = timedelta(minutes=10)) -> int:
        """Finish requests a crash left behind, from what AWS really shows; nothing runs twice.

        `executing`: settled from AWS. `approved` without a Reveal (decided, never run): run now, or with
        Secrets Manager delivery delivered now; the approved -> executing claim lets one runner through.
        Approved keys never revealed expire instead (`expire_due`)."""
        before = self._clock() - older_than
        stuck = self._store.stuck(before)
        for request in stuck:
            try:
                self._reconcile(request)
            except AwsError as e:
                log.warning("could not reconcile %s yet: %s", request.id, e.message)
        delivered = self._settings.secret_delivery == "secretsmanager"
        waiting = self._store.stale_approved(before, key_making=delivered)
        for request in waiting:
            log.warning("%s was approved but never run; running it now", request.id)
            if request.operation in MAKES_KEY:
                self._deliver_to_secrets_manager(request)
            else:
                self.execute(request.id)
        return len(stuck) + len(waiting)

    def _reconcile(self, request: Request) -> None:
        client = self._aws.account(request.account)
        if request.operation in MAKES_KEY:
            # The key may have been created, but its secret cannot have reached anyone safely: remove it.
            orphans = self._unrevealed_keys(client, request)
            for key in orphans:
                with suppress(AwsNotFound):  # a delete resent after a lost answer
                    client.delete_access_key(request.iam_user, key.key_id)
            why = (
                f"interrupted; deleted unrevealed key {', '.join(k.key_id for k in orphans)}"
                if orphans
                else "interrupted"
            )
            released = self._store.transition(
                request.id, Status.EXECUTING, Status.APPROVED, actor=SYSTEM, action="reconciled", detail=why
            )
            if released and not self._reveals:
                self._deliver_to_secrets_manager(released)
            elif released:
                self._notifier.dm(request.requester, build_requester_dm(released))
            return
        operation = REQUEST_OPERATIONS[request.operation]
        assert operation.done and operation.execute and request.key_id
        if operation.done(client, request.iam_user, request.key_id):
            result = "confirmed in AWS after an interruption"
        else:
            result = operation.execute(client, request.iam_user, request.key_id)
        final = self._store.transition(
            request.id,
            Status.EXECUTING,
            Status.SUCCEEDED,
            actor=SYSTEM,
            action="reconciled",
            result=result,
            detail=result,
        )
        if final:
            self.sync(final)
            self._end_rotation(final)

    def _unrevealed_keys(self, client: AccountClient, request: Request) -> list:
        """The user's keys created since the request was claimed: made for it, and never shown to anyone.

        The claim is stamped by our clock, a key's CreateDate by AWS's. Their difference, measured now
        (the listing's Date header against our clock), is applied so that a skewed clock still finds the key.
        """
        keys, aws_now = client.access_keys_and_time(request.iam_user)
        since = request.claimed_at or request.updated_at
        if aws_now is not None:
            since += aws_now - self._clock()
        return [k for k in keys if k.created >= since - timedelta(seconds=2) and k.key_id != request.key_id]

    def resync(self, older_than: timedelta = timedelta(minutes=2)) -> int:
        """Re-send the Slack updates that Slack did not accept earlier."""
        stale = self._store.unsynced(self._clock() - older_than)
        for request in stale:
            self.sync(request)
        return len(stale)

    # Slack
    @property
    def _reveals(self) -> bool:
        """Whether new keys are revealed in Slack (False: they go to Secrets Manager, never to Slack)."""
        return self._settings.secret_delivery != "secretsmanager"

    def sync(self, request: Request, secret: SecretLocation | None = None) -> None:
        """Bring the approval message and the requester's DM up to date; remember success."""
        ok = True
        message = build_approval_message(request)
        if request.channel and request.message_ts:
            ok = self._notifier.update(request.channel, request.message_ts, message)
        elif self._settings.approval_channel:
            posted = self._notifier.post(self._settings.approval_channel, message)
            if posted:
                self._store.record_delivery(request.id, channel=posted[0], message_ts=posted[1])
            ok = posted is not None
        if request.notified_status != request.status.value and request.status is not Status.PENDING:
            ok = self._notify_requester(request, secret) and ok
        if ok:
            self._store.record_delivery(request.id, notified_status=request.status.value)
        if self.on_change is not None:
            self.on_change(request.requester, *request.approvers, *([request.decided_by] if request.decided_by else []))

    def _notify_requester(self, request: Request, secret: SecretLocation | None) -> bool:
        """Update the request's DM in place; a new DM only for a first word, or an outcome after a long wait."""
        stored = request.status is Status.SUCCEEDED and request.operation in MAKES_KEY and not self._reveals
        if stored and secret is None:
            secret = self._secret_location(request)  # a DM sent again later names the secret too
        dm = build_requester_dm(request, secret, reveal=self._reveals)
        new = outcome_needs_new_dm(request.status, request.decided_at, request.claimed_at, self._clock())
        if request.dm_channel and request.dm_ts and not new:
            return self._notifier.update(request.dm_channel, request.dm_ts, dm)
        posted = self._notifier.dm(request.requester, dm)
        if posted:
            self._store.record_delivery(request.id, dm_channel=posted[0], dm_ts=posted[1])
        return posted is not None

    def _secret_location(self, request: Request) -> SecretLocation:
        client = self._aws.account(request.account)
        try:
            account_id: str | None = client.account_id()
        except AwsError:
            account_id = None
        name = secret_name(self._settings.secret_prefix, request.account, request.iam_user)
        return SecretLocation(name, request.account, client.region, account_id)


def _late(request: Request) -> str:
    if request.status in OPEN - {Status.PENDING}:
        by = f" by {who(request.decided_by)}" if request.decided_by else ""
        return f"{request.id} was already approved{by} at {request.decided_at:%Y-%m-%d %H:%M} UTC."
    if request.decided_by:
        return (
            f"{request.id} was already {request.status.value} by {who(request.decided_by)} "
            f"at {request.decided_at:%Y-%m-%d %H:%M} UTC."
        )
    return f"{request.id} is already {request.status.value} ({request.updated_at:%Y-%m-%d %H:%M} UTC)."
