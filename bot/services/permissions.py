"""Who may see or act on an IAM user, decided by bot/access.py on the user as it is now: its owner and tags read
live (iam:GetUser, as filing does), its administrator power from the ownership index. A refusal is audited and
changes nothing else.

The views of many rows (the audit log, the App Home) first judge each user on the ownership index, without an
AWS call, and confirm live only what that grants."""

from __future__ import annotations

from dataclasses import dataclass

from bot.access import Access, Scope, Subject
from bot.aws import AwsGateway, AwsNotFound
from bot.domain.audit_events import AuditRow
from bot.domain.inventory import CheckResult, ListResult
from bot.domain.keys import InputError, UserRef
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnershipIndex, owner_in
from bot.services.under_way import WorkUnderWay
from bot.slack.client import Person
from bot.store.audit import AuditLog

EVERYONE, OWNERS = "everyone", "owners"  # LIST_VISIBILITY
AUDIT_WINDOW = 500  # audit rows looked through for someone who approves for some users only
_BUTTON_WORDS = {"snooze": "snooze the alerts of", "rotate": "rotate", "deactivate": "deactivate"}


def indexed_subject(index: OwnershipIndex, account: str, user: str, *, fresh: bool = True) -> Subject:
    """The user as the ownership index last read it (`fresh=False`: without asking AWS); unknown: no facts."""
    owned = index.get(account, user, fresh=fresh)
    if owned is None:
        return Subject(account, user)
    admin = bool(owned.access and owned.access.admin_reason)
    return Subject(account, user, owned.owner, dict(owned.tags), admin)


@dataclass(kw_only=True, eq=False)
class Permissions:
    access: Access
    aws: AwsGateway
    index: OwnershipIndex
    inventory: InventoryService
    audit_log: AuditLog
    owner_tag: str
    list_visibility: str = EVERYONE
    under_way: WorkUnderWay | None = None  # `list` and `check` leave out what Keywarden's own work deals with

    def subject(self, account: str, user: str) -> Subject:
        """The user as it is now; InputError when it does not exist."""
        try:
            tags = self.aws.account(account).user_tags(user)
        except AwsNotFound:
            raise InputError(f"No IAM user `{user}` in account `{account}`.") from None
        indexed = indexed_subject(self.index, account, user)
        return Subject(account, user, owner_in(tags, self.owner_tag), tags, indexed.admin)

    def approves_for(self, user_id: str, account: str, user: str) -> bool:
        """Whether `user_id` approves for this IAM user as it is now (a user deleted since: as last indexed)."""
        try:
            subject = self.subject(account, user)
        except InputError:
            subject = indexed_subject(self.index, account, user)
        return self.access.scope_of(user_id).approves_for(subject)

    # activity, access
    def see(self, caller: str, account: str, user: str, what: str, key_id: str | None = None) -> None:
        """The user's owner (per its owner tag now) or an approver for it; anyone else is refused."""
        if self.access.in_scope(caller, self.subject(account, user)):
            return
        why = "not the user's owner nor an approver for it"
        self.audit_log.refused(caller, what, why, account=account, iam_user=user, key_id=key_id)
        raise InputError(
            f"Only the owner of `{user}` (per its owner tag) or an approver for it can see its {what}. "
            "Nothing was read from CloudTrail or Access Advisor."
        )

    # Buttons on alerts, digests and DMs that act on someone's key
    def act_on_key(self, caller: str, key_id: str, what: str) -> None:
        """Rotate, Deactivate, Reactivate, Snooze: the key's owner (now) or an approver for it; else refused."""
        account, user = self.inventory.locate(key_id)
        if self.access.in_scope(caller, self.subject(account, user)):
            return
        why = "neither the key's owner nor an approver for it"
        self.audit_log.refused(caller, what, why, account=account, iam_user=user, key_id=key_id)
        verb = _BUTTON_WORDS.get(what, what)
        raise InputError(f"Only the key's owner or an approver for it can {verb} `{key_id}`. Nothing was changed.")

    def may_act(self, caller: str, account: str, user: str) -> bool:
        """Whether the buttons on a key of this user (Deactivate now, Rotate) work for `caller`: the user's owner
        now or an approver for it. A read: nothing is audited (a click is judged again, and audited)."""
        try:
            return self.access.in_scope(caller, self.subject(account, user))
        except InputError:
            return False

    # list, check (LIST_VISIBILITY)
    def listing(self, caller: Person, ref: UserRef | None) -> ListResult:
        """`list`, without the findings Keywarden's own work already deals with (a rotation under way, a key an
        approved create just made)."""
        result = self._listing(caller, ref)
        return self.under_way.quiet_list(result) if self.under_way is not None else result

    def _listing(self, caller: Person, ref: UserRef | None) -> ListResult:
        """With LIST_VISIBILITY=owners another's user is shown only to its owner or an approver for it, and `list`
        alone shows the users whose owner tag names the caller now."""
        if self.list_visibility != OWNERS:
            return self.inventory.list_for(caller, ref)
        if ref is None:
            return self.inventory.list_for(caller, None, keep=lambda a, u: self._owns_now(caller.user_id, a, u))
        account, user = self.inventory.resolve(ref)
        self._visible(caller.user_id, "list", account, user)
        return self.inventory.list_for(caller, UserRef(account, user))

    def checking(self, caller: str, raw: str) -> CheckResult:
        """`check`. With LIST_VISIBILITY=owners a key of another's user is refused as `list` is."""
        result = self.inventory.check(raw)
        if self.list_visibility == OWNERS and result.account and result.user:
            self._visible(caller, "check", result.account, result.user, result.key_id)
        return self.under_way.quiet_check(result) if self.under_way is not None else result

    def _owns_now(self, caller: str, account: str, user: str) -> bool:
        try:
            return self.access.owns(caller, self.subject(account, user).owner)
        except InputError:
            return False  # deleted since the index was read

    def _visible(self, caller: str, what: str, account: str, user: str, key_id: str | None = None) -> None:
        try:
            subject = self.subject(account, user)
        except InputError:
            subject = indexed_subject(self.index, account, user)  # gone: judged as last indexed
        if self.access.in_scope(caller, subject):
            return
        why = "not the user's owner nor an approver for it (LIST_VISIBILITY=owners)"
        self.audit_log.refused(caller, what, why, account=account, iam_user=user, key_id=key_id)
        raise InputError(
            f"Here only the owner of `{user}` and its approvers may see its keys. `list` alone shows the users you own."
        )

    # audit, scan
    def audit(self, caller: str, subject: str | None, limit: int = 20) -> list[AuditRow]:
        """`audit [subject]`: for approvers, the rows about users they approve for or own (all of them for an
        approver of everything). A subject outside that is refused."""
        scope = self.access.scope_of(caller)
        if not scope.approver:
            self.audit_log.refused(caller, "audit", "not an approver")
            raise InputError("Only approvers can read the audit log.")
        if scope.everything:
            return self.audit_log.recent(subject, limit)
        rows = self.audit_log.recent(subject, AUDIT_WINDOW)
        judged: dict[tuple[str, str], bool] = {}
        shown: list[AuditRow] = []
        for row in rows:
            if row.account is None or row.iam_user is None:
                continue  # about no IAM user (a refused scan, ...): for approvers of everything
            target = (row.account, row.iam_user)
            if target not in judged:
                judged[target] = self._row_visible(caller, scope, *target)
            if judged[target]:
                shown.append(row)
                if len(shown) == limit:
                    break
        if subject and rows and not shown:
            first = rows[0]
            why = "not an approver for it"
            self.audit_log.refused(
                caller, "audit", why, account=first.account, iam_user=first.iam_user, key_id=first.key_id
            )
            raise InputError(f"`{subject}` is not among the IAM users you approve for or own: no events are shown.")
        return shown

    def _row_visible(self, caller: str, scope: Scope, account: str, user: str) -> bool:
        if account not in self.aws.list_aliases():
            return False
        if not self.access.in_scope(caller, indexed_subject(self.index, account, user), scope):
            return False  # out of scope as last indexed: no AWS call for it
        try:
            return self.access.in_scope(caller, self.subject(account, user), scope)
        except InputError:
            return True  # the user is gone: its history goes with what was last known of it

    def may_scan(self, caller: str) -> None:
        """A scan reads and posts every account's findings: approvers of everything only."""
        scope = self.access.scope_of(caller)
        if scope.everything:
            return
        self.audit_log.refused(
            caller, "scan", "an approver for some users only" if scope.approver else "not an approver"
        )
        if not scope.approver:
            raise InputError("Only approvers can run a scan.")
        raise InputError(
            "Only approvers for every IAM user can run a scan: it reads and posts every account's findings, "
            "and you approve for some users only. `audit` shows the events of yours."
        )
