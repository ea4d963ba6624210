"""Filing a request: checked against live AWS state and the policy, stored, and posted for approval; or
approved at once by a policy rule, by break-glass `--now`, or by Keywarden's own enforcement.

Nothing is filed for the IAM user Keywarden itself runs as (in any account with the hub's account id), nor while
Keywarden cannot read its own identity: a person is told to try again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.access import Access, Decision
from bot.aws import AwsGateway
from bot.clock import Clock
from bot.domain.commands import Command
from bot.domain.inventory import Target, UserKeys
from bot.domain.keys import InputError
from bot.domain.operations import REQUEST_OPERATIONS, Operation, Picks, admin_approval
from bot.domain.requests import Request, Status
from bot.domain.rotation import choose_keys, schedule
from bot.services.approvals.execution import Execution
from bot.services.approvals.slack_sync import RequestSync
from bot.services.inventory import InventoryService
from bot.services.own_identity import IdentityUnknown, OwnIdentity
from bot.services.ownership import owner_in
from bot.services.retirements import check_named_role
from bot.services.rotations import RotationService, rotation_policy
from bot.settings import Settings
from bot.slack.messages.break_glass import break_glass_note
from bot.slack.messages.common import key_lines
from bot.slack.messages.rotations import plan_text, stage_name
from bot.store.audit import SYSTEM
from bot.store.requests import DuplicateRequest, RequestStore, open_target

NO_RULE = "(none)"  # Access.decide's rule when a policy file applies and none of its rules matches


class LeftAlone(InputError):
    """Enforcement must not touch this key now (Keywarden's own user, a rotation or request on it, a deny rule)."""


@dataclass(kw_only=True, eq=False)
class RequestFiling:
    settings: Settings
    clock: Clock
    store: RequestStore
    inventory: InventoryService
    aws: AwsGateway
    access: Access
    sync: RequestSync
    execution: Execution
    rotations: RotationService  # one rotation of a user at a time
    own: OwnIdentity

    def file(self, requester: str, cmd: Command) -> Request:
        """Validate against live AWS state, store the request, post it for approval."""
        operation = Operation(cmd.name)
        spec = REQUEST_OPERATIONS[operation]
        target = self._target(cmd, spec.picks)
        self._refuse_own_identity(requester, operation, target)
        spec.check(target)
        if cmd.role is not None:  # `retire --role`: a role of the key's account, or nothing is filed
            check_named_role(self.aws, target.account, cmd.role, self.sync.names)
        if spec.starts_rotation:
            self._refuse_second_rotation(target)
        decision = self.access.decide(requester, operation, target)
        if decision.deny:
            attempted = operation.value + (" --now" if cmd.now else "")
            self._refused(requester, attempted, f"policy rule `{decision.rule}` denies it", target)
            raise InputError(f"Refused by policy rule `{decision.rule}`: {decision.deny}")
        if decision.require_reason and not cmd.reason.strip():
            raise InputError(
                f"Policy rule `{decision.rule}` requires a reason: add it after the target, e.g. "
                f"`{operation.value} {cmd.key_id or cmd.user} <why you need this>`. Nothing was filed."
            )
        if cmd.now:
            return self._break_glass(requester, operation, cmd.reason, target, decision)
        now = self.clock()
        if decision.auto_approve:
            return self._auto_approve(requester, operation, target, cmd, decision)
        request = self._add(
            requester,
            operation,
            target,
            cmd.reason,
            status=Status.PENDING,
            expires_at=now + timedelta(hours=self.settings.request_ttl_hours),
            decision=decision,
            valid_for_hours=cmd.valid_for_hours,
            retire_role=cmd.role.name if cmd.role else None,
        )
        self.sync.sync(request)
        return request

    def enforcement_target(self, account: str, user: str, key_id: str) -> Target:
        """The key as it is now, for ENFORCE. LeftAlone when it must not be touched: Keywarden's own IAM user (or
        its identity unknown), a rotation of the user in progress, an open request on the key, or a policy rule
        that denies deactivating it. InputError when the key is gone or no longer active; AwsError as raised."""
        try:
            if self.own.is_own_user(account, user):
                raise LeftAlone("Keywarden's own IAM user")
        except IdentityUnknown as e:
            raise LeftAlone(f"Keywarden could not tell whether it is its own IAM user ({e.message})") from None
        rotation = self.rotations.in_progress_for_user(account, user)
        if rotation is not None:
            raise LeftAlone(f"rotation {rotation.id} of `{user}` is in progress")
        for operation in (Operation.DEACTIVATE, Operation.ROTATE):  # a request on the key, or a rotation of it
            target_name = open_target(operation, account, user, key_id)
            request = self.store.find_open(target_name)
            if request is not None and request.key_id == key_id:
                raise LeftAlone(f"request {request.id} ({request.operation.value}) is open for it")
        keys = self._live(self.inventory.user_keys(account, user))
        key = next((k for k in keys.keys if k.facts.key_id == key_id), None)
        if key is None:
            raise InputError(f"`{key_id}` is no longer a key of `{account}:{user}`.")
        target = Target(keys, key)
        REQUEST_OPERATIONS[Operation.DEACTIVATE].check(target)
        decision = self.access.decide(SYSTEM, Operation.DEACTIVATE, target)
        if decision.deny and decision.rule != NO_RULE:
            raise LeftAlone(f"policy rule `{decision.rule}` denies deactivating it")
        return target

    def enforce(self, account: str, user: str, key_id: str, reason: str, rule: str) -> Request:
        """ENFORCE: deactivate a key as a request filed by Keywarden and approved by `rule`, executed at once.
        Everything `enforcement_target` checks is read again here, just before acting."""
        target = self.enforcement_target(account, user, key_id)
        fields = self._fields(
            SYSTEM,
            Operation.DEACTIVATE,
            target,
            reason,
            status=Status.APPROVED,
            expires_at=self.clock(),
            note=f":lock: *Enforced* by Keywarden ({reason}); approved by `{rule}`.",
            decision=Decision(rule, 1),  # the built-in rule approved it: no rule of the policy file did
        )
        try:
            request = self.store.add(**fields, action="requested")
        except DuplicateRequest as e:
            raise InputError(f"request {e.existing} is already open for this key: left to it") from None
        self.store.note(request.id, rule, "approved", detail="built-in enforcement rule")
        return self.execution.execute(request.id) or request

    def open_requests(self, user_id: str) -> list[Request]:
        """The user's own requests still open (`requests`)."""
        return self.store.open_for(user_id)

    def _auto_approve(
        self, requester: str, operation: Operation, target: Target, cmd: Command, decision: Decision
    ) -> Request:
        """A rule with `auto_approve: true`: approved at once by the policy, announced and audited as such."""
        request = self._add(
            requester,
            operation,
            target,
            cmd.reason,
            status=Status.APPROVED,
            expires_at=self.clock(),
            action="approved_by_policy",
            decision=decision,
            valid_for_hours=cmd.valid_for_hours,
            retire_role=cmd.role.name if cmd.role else None,
        )
        self.execution.run_approved(request)
        return self.store.get(request.id) or request

    def _break_glass(
        self, requester: str, operation: Operation, reason: str, target: Target, decision: Decision
    ) -> Request:
        """`deactivate --now`: the key's owner or an approver deactivates at once, announced to approvers.

        It supersedes the pending and approved requests on the key, so nobody can block it by filing first."""
        if not self.access.may_break_glass(requester, target, decision):
            self._refused(
                requester,
                f"{operation.value} --now",
                "not allowed to break glass" + (f" by policy rule `{decision.rule}`" if decision.rule else ""),
                target,
            )
            allowed = " or ".join(
                {"owner": "the key's owner", "approvers": "an approver"}[b] for b in decision.break_glass
            )
            raise InputError(
                f"Only {allowed or 'nobody'} may use `--now`"
                + (f" (policy rule `{decision.rule}`)" if decision.rule else "")
                + ". Without it, the request goes to approval."
            )
        request, superseded = self.store.add_break_glass(
            **self._fields(
                requester,
                operation,
                target,
                reason,
                status=Status.APPROVED,
                expires_at=self.clock(),
                note=break_glass_note(requester),
                decision=decision,
            ),
            action="break_glass",
        )
        for old in superseded:
            self.sync.sync(old)
        done = self.execution.execute(request.id) or request
        return self.store.get(request.id) or done  # with where the approval channel was told, if it was

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
        valid_for_hours: int | None = None,
        retire_role: str | None = None,
    ) -> Request:
        try:
            return self.store.add(
                **self._fields(
                    requester, operation, target, reason, status=status, expires_at=expires_at, decision=decision
                ),
                action=action,
                valid_for_hours=valid_for_hours,
                retire_role=retire_role,
            )
        except DuplicateRequest as e:
            raise InputError(
                f"Request {e.existing} is already open for this "
                f"{'user' if REQUEST_OPERATIONS[operation].makes_key or not target.key else 'key'}: "
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
        owns = self.access.owns(requester, target.user.owner)
        decision = decision or self.access.decide(requester, operation, target)
        _, admin_line = admin_approval(operation, target, self.settings.require_extra_approval_for_admin)
        if decision.rule is not None:  # the rule's count is the count: no extra for admins or non-owners
            admin_line = admin_line.replace(" It needs one more approval than usual.", "")
        if decision.auto_approve:
            note = "\n".join(x for x in (note, f":robot_face: *Approved by policy* (rule `{decision.rule}`).") if x)
        return {
            "operation": operation,
            "account": target.account,
            "iam_user": target.iam_user,
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
            "policy": self.access.remember(decision, target),
        }

    def _target(self, cmd: Command, picks: Picks) -> Target:
        if cmd.key_id:
            account, user = self.inventory.locate(cmd.key_id)
        else:
            assert cmd.user is not None
            account, user = self.inventory.resolve(cmd.user)
        # Tags (owner, policy rules) and administrator power (the "target is an administrator" line, its extra
        # approval, `target_admin` rules) as they are now: one read gives both.
        keys = self.inventory.user_keys_now(account, user)
        key_id = cmd.key_id
        if picks is Picks.KEY_OR_USER:  # the named key, or the user's only active key; refusals explain
            key_id, _ = choose_keys(user, [k.facts for k in keys.keys], key_id)
        key = next((k for k in keys.keys if k.facts.key_id == key_id), None) if key_id else None
        return Target(keys, key)

    def _live(self, keys: UserKeys) -> UserKeys:
        """Rules and ownership are decided on the user's tags as they are now, not as the index last read them.
        (ENFORCE: administrator power as the scan that chose the key has just read it.)"""
        tags = self.aws.account(keys.account).user_tags(keys.user)
        return replace(keys, tags=tags, owner=owner_in(tags, self.settings.owner_tag))

    def _refuse_own_identity(self, requester: str, operation: Operation, target: Target) -> None:
        """Keywarden never changes the keys of the IAM user it runs as, in any account with the hub's account id
        (whatever alias or member role serves it); nor anyone's while it cannot read its own identity."""
        try:
            own = self.own.is_own_user(target.account, target.iam_user)
        except IdentityUnknown as e:
            self._refused(requester, operation.value, f"Keywarden's own identity unknown: {e.message}", target)
            raise InputError(
                f"Keywarden could not read its own AWS identity ({e.message}), so it cannot be sure "
                f"`{target.iam_user}` is not the IAM user it runs as. Nothing was filed: try again in a few minutes."
            ) from None
        if not own:
            return
        self._refused(requester, operation.value, "Keywarden's own IAM identity", target)
        raise InputError(
            f"`{target.iam_user}` is the IAM user Keywarden itself runs as in account `{target.account}`, so Keywarden "
            "does not change its keys: an AWS administrator must do that outside Keywarden."
        )

    def _refuse_second_rotation(self, target: Target) -> None:
        running = self.rotations.in_progress_for_user(target.account, target.iam_user)
        if running is not None:
            raise InputError(
                f"`{target.iam_user}` is already being rotated ({running.id}: `{running.old_key_id}` → "
                f"`{running.new_key_id}`, {stage_name(running)}). Let it finish first; `requests` shows its dates."
            )

    def _refused(self, requester: str, attempted: str, why: str, target: Target) -> None:
        """Audit a refused attempt on `target` (in its own transaction)."""
        key_id = target.key.facts.key_id if target.key else None
        self.store.audit.refused(
            requester, attempted, why, account=target.account, iam_user=target.iam_user, key_id=key_id
        )

    def _details(self, target: Target, operation: Operation) -> str:
        now = self.clock()
        if REQUEST_OPERATIONS[operation].starts_rotation and target.key is not None:
            facts = [k.facts for k in target.user.keys]
            old_key_id, pre_step = choose_keys(target.iam_user, facts, target.key.facts.key_id)
            plan = schedule(now, rotation_policy(self.settings))
            keys = "\n".join(key_lines(k, now) for k in target.user.keys)
            stored_under = self.settings.stored_secret_prefix
            plan_lines = plan_text(
                target.account, target.iam_user, old_key_id, pre_step, plan, stored_under,
                delivered_to=target.user.delivered_to, quiet_hours=self.settings.cutover_quiet_hours,
                names=self.sync.names,
            )  # fmt: skip
            return plan_lines + f"\n*Keys now:*\n{keys}"
        if target.key is not None:
            return key_lines(target.key, now)
        if not target.user.keys:
            return f"`{target.iam_user}` has no access keys yet."
        return f"`{target.iam_user}` has these keys now:\n" + "\n".join(key_lines(k, now) for k in target.user.keys)
