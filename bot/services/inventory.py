"""Read-only views of keys: `list` and `check`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.aws import AwsError, AwsGateway, AwsNotFound, AwsPermissionDenied
from bot.clock import Clock
from bot.domain.findings import AWS_QUARANTINE, Thresholds, UserFacts, findings_for_user
from bot.domain.inventory import CheckResult, KeyOwner, KeyView, ListResult, UserKeys
from bot.domain.keys import (
    ACCESS_KEY_ID,
    AccessKey,
    InputError,
    KeyFacts,
    LastUsed,
    UserRef,
    compact_key_id,
    key_id_problems,
)
from bot.services.ownership import OwnershipIndex
from bot.settings.accounts import Account
from bot.slack.client import Person
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames
from bot.slack.messages.trouble import could_not_look
from bot.store.key_memory import KeyMemory

log = logging.getLogger(__name__)
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")


@dataclass(kw_only=True, eq=False)
class InventoryService:
    aws: AwsGateway
    index: OwnershipIndex
    memory: KeyMemory
    clock: Clock
    policy: Thresholds
    accounts: tuple[Account, ...]
    # "delivered to: SSM …" of a machine user of LOCATIONS_FILE
    delivered_to: Callable[[str, str], str | None] = lambda account, user: None
    names: AccountNames = SEVERAL_ACCOUNTS  # "in account `prod`" only where there are several
    _account_ids: dict[str, str] = field(default_factory=dict, init=False)

    # Users
    def resolve(self, ref: UserRef) -> tuple[str, str]:
        """The (account, user) a reference names; InputError when it names none or several."""
        aliases = self.aws.list_aliases()
        if ref.account:
            return ref.account, ref.name
        if len(aliases) == 1:
            return aliases[0], ref.name
        found = self.index.accounts_with_user(ref.name)
        if len(found) == 1:
            return found[0], ref.name
        if not found:
            raise InputError(f"No IAM user `{ref.name}` in any account ({', '.join(aliases)}).")
        raise InputError(
            f"`{ref.name}` exists in several accounts ({', '.join(found)}): name one, as `{found[0]}:{ref.name}`."
        )

    def user_keys_now(self, account: str, user: str) -> UserKeys:
        """`user_keys` with the user's tags and policies read from AWS just now, not from an index up to
        OWNERSHIP_TTL_MINUTES old: a request is filed on the owner and administrator power the user has now.

        One paginated GetAccountAuthorizationDetails (which refreshes the index for everyone): it needs no
        permission the index does not already have, where reading one user's policies takes a call per
        attached policy, per group and per group policy."""
        self.index.refresh(account)
        return self.user_keys(account, user)

    def user_keys(self, account: str, user: str) -> UserKeys:
        client = self.aws.account(account)
        try:
            keys = client.list_access_keys(user)
        except AwsNotFound:
            raise InputError(f"No IAM user `{user}`{self.names.in_account(account, escaped=False)}.") from None
        facts = [_facts(account, k, client.key_last_used(k.key_id)) for k in keys]
        self.memory.remember(account, {user: keys})
        now = self.clock()
        owned = self.index.get(account, user)
        access = owned.access if owned else None
        about = UserFacts(
            created=access.created if access else None,
            password_enabled=self._console_password(client, user) if any(f.active for f in facts) else None,
            admin_reason=access.admin_reason if access else None,
            direct_policies=access.direct_policies if access else (),
            quarantine=access.quarantine if access else (),
        )
        findings = findings_for_user(facts, self.policy, now, about)
        return UserKeys(
            account,
            user,
            owned.owner if owned else None,
            [KeyView(f, findings[f.key_id]) for f in facts],
            access.admin_reason if access else None,
            dict(owned.tags) if owned else {},
            self.delivered_to(account, user),
        )

    @staticmethod
    def _console_password(client, user: str) -> bool | None:
        """Whether the user has a console password; None (no finding) when Keywarden may not ask."""
        try:
            return client.has_console_password(user)
        except AwsError as e:
            log.info("could not read the login profile of %s: %s", user, e.message)
            return None

    def list_for(
        self, caller: Person, ref: UserRef | None, keep: Callable[[str, str], bool] | None = None
    ) -> ListResult:
        """A user's keys, or those of the users the caller owns (`keep`: which of them, by account and name)."""
        if ref is not None:
            return ListResult([self.user_keys(*self.resolve(ref))])
        owned = self.index.owned_by(caller.identities)
        if keep is not None:
            owned = [u for u in owned if keep(u.account, u.name)]
        if not owned:
            who = " or ".join(f"`{i}`" for i in sorted(caller.identities))
            return ListResult(
                [],
                f"You own no IAM users: none has the owner tag set to {who}. "
                "Name one with `list <user>`, or ask an admin to tag your users.",
            )
        return ListResult([self.user_keys(u.account, u.name) for u in owned])

    # Keys
    def check(self, raw: str) -> CheckResult:
        problems = key_id_problems(raw)
        key_id = compact_key_id(raw)
        if not ACCESS_KEY_ID.match(key_id):
            return CheckResult(raw, key_id, problems, next_step=_format_advice(key_id))
        found, denied = self._find_key(key_id)
        if found is not None:
            account, user = found
            keys = self.user_keys(account, user)
            view = next((k for k in keys.keys if k.facts.key_id == key_id), None)
            if view is not None:  # else deleted between the two calls
                notes = [keys.delivered_to] if keys.delivered_to else []
                return CheckResult(
                    raw, key_id, problems, account, user, view, notes=notes, next_step=_key_advice(view, key_id)
                )
        return self._missing_key(raw, key_id, problems, denied)

    def locate(self, key_id: str) -> tuple[str, str]:
        """The (account, user) that owns a key; InputError when no configured account has it."""
        found, denied = self._find_key(key_id)
        if found is None and denied:
            raise InputError(f"{could_not_look(key_id, denied if self.names.several else [])} Nothing was changed.")
        if found is None:
            raise InputError(f"`{key_id}` was not found in any configured account. `check {key_id}` explains.")
        return found

    def key_owner(self, key_id: str) -> KeyOwner:
        """Who owns a key id, found as `check` does: sts:GetAccessKeyInfo for the account, then the configured
        accounts' users. Only Keywarden's own credentials are used, whatever was pasted beside the id."""
        aws_account_id: str | None = None
        try:
            aws_account_id = self.aws.account(self.aws.list_aliases()[0]).key_owner_account(key_id)
        except AwsError as e:
            log.info("could not tell which account owns a key: %s", e.message)
        alias = self.alias_for(aws_account_id) if aws_account_id else None
        if aws_account_id and alias is None:
            return KeyOwner(key_id, aws_account_id=aws_account_id)  # an account Keywarden does not manage
        if not ACCESS_KEY_ID.match(key_id):  # temporary credentials belong to no IAM user
            return KeyOwner(key_id, alias, None, aws_account_id)
        for account in [alias] if alias else self.aws.list_aliases():
            try:
                used = self.aws.account(account).key_last_used(key_id)
            except (AwsNotFound, AwsPermissionDenied):
                continue
            return KeyOwner(key_id, account, used.user or None, aws_account_id or self.account_id_of(account))
        known = self.memory.get(key_id)
        if known is not None:  # deleted since; who had it is still worth saying
            return KeyOwner(key_id, known.account, known.iam_user, aws_account_id)
        return KeyOwner(key_id, alias, None, aws_account_id)

    def alias_for(self, aws_account_id: str) -> str | None:
        """The configured account with this AWS account id, if any."""
        for account in self.aws.accounts():
            if self.account_id_of(account.alias) == aws_account_id:
                return account.alias
        return None

    def account_id_of(self, alias: str) -> str | None:
        account = next((a for a in self.aws.accounts() if a.alias == alias), None)
        if account is None:
            return None
        try:
            return self._account_id(account)
        except AwsError as e:
            log.info("could not read the account id of %s: %s", alias, e.message)
            return None

    def _find_key(self, key_id: str) -> tuple[tuple[str, str] | None, list[str]]:
        """The (account, user) that owns the key, and the accounts AWS refused to let Keywarden look in."""
        denied: list[str] = []
        for account in self.aws.list_aliases():
            try:
                used = self.aws.account(account).key_last_used(key_id)
            except AwsNotFound:
                continue
            except AwsPermissionDenied as e:
                log.warning("could not look for key %s in account %s: %s", key_id, account, e.message)
                denied.append(account)
                continue
            return (account, used.user), denied
        return None, denied

    def _missing_key(self, raw: str, key_id: str, problems: list[str], denied: list[str]) -> CheckResult:
        """What is known of a key no readable account has: deleted (as remembered), another AWS account's, not
        looked for (AWS refused Keywarden), or unknown."""
        known = self.memory.get(key_id)
        if known is not None and known.account not in denied:
            if self.aws.account(known.account).user_exists(known.iam_user):
                step = (
                    f"It was a key of `{known.iam_user}`{self.names.in_account(known.account, escaped=False)} and has "
                    "been deleted. "
                    f"Use `list {known.iam_user}` to see the user's current keys."
                )
            else:
                step = (
                    f"It belonged to IAM user `{known.iam_user}`{self.names.in_account(known.account, escaped=False)}, "
                    "which no longer exists. Whoever uses it needs a key of another user."
                )
            return CheckResult(raw, key_id, problems, known.account, known.iam_user, next_step=step)
        foreign = self._foreign_account(key_id)
        if foreign:
            return CheckResult(
                raw,
                key_id,
                problems,
                foreign_account_id=foreign,
                next_step=f"The key belongs to AWS account {foreign}, which Keywarden does not manage: "
                "ask that account's administrators.",
            )
        if denied:  # not looked for everywhere: say so, never that it is gone
            return CheckResult(
                raw,
                key_id,
                problems,
                unread=tuple(denied),
                next_step="Look for it in the AWS console (IAM, Users, Security credentials), or ask whoever runs "
                "Keywarden to let it read the keys there.",
            )
        return CheckResult(
            raw,
            key_id,
            problems,
            next_step="No configured account has this key: it was deleted or never existed. "
            "Check you copied the right id; run `list` to see your keys.",
        )

    def _foreign_account(self, key_id: str) -> str | None:
        """The owning account id when it is not one of ours (None when ours or unknown)."""
        first = self.aws.list_aliases()[0]
        try:
            owner = self.aws.account(first).key_owner_account(key_id)
            ours = {self._account_id(a) for a in self.aws.accounts()}
        except AwsError as e:
            log.info("could not tell which account owns a key: %s", e.message)
            return None
        return None if owner in ours else owner

    def _account_id(self, account: Account) -> str:
        if account.alias not in self._account_ids:
            match = _ROLE_ACCOUNT.match(account.role_arn or "")
            self._account_ids[account.alias] = match.group(1) if match else self.aws.account(account.alias).account_id()
        return self._account_ids[account.alias]


def _facts(account: str, key: AccessKey, used: LastUsed) -> KeyFacts:
    return KeyFacts(
        account=account,
        user=key.user,
        key_id=key.key_id,
        status=key.status,
        created=key.created,
        last_used=used.date,
        last_service=used.service,
        last_region=used.region,
    )


def _format_advice(key_id: str) -> str:
    if key_id.startswith("ASIA"):
        return (
            "Temporary keys come with a session token and expire on their own: "
            "refresh the session (`aws sso login`, or assume the role again) instead of managing this key."
        )
    return "Copy the access key id again exactly (20 upper-case letters and digits starting with AKIA) and retry."


def _key_advice(view: KeyView, key_id: str) -> str:
    if not view.facts.active:
        return (
            f"The key is inactive, so AWS refuses every call signed with it. "
            f"Request `reactivate {key_id}` if it is still needed, or use the user's other key."
        )
    if any(f.code == AWS_QUARANTINE for f in view.findings):
        return (
            "AWS quarantined the key's user, so calls its policy denies fail with AccessDenied, and the key may "
            f"have leaked: `deactivate {key_id} --now`, then `rotate {key_id}`."
        )
    if view.findings:
        return (
            "The key is active. If a tool still fails, check that it has the matching secret and the right region; "
            f"a lost secret cannot be recovered: request `rotate {key_id}`."
        )
    return (
        "The key is active and healthy. If calls still fail, the secret or the session token may be wrong "
        "(a lost secret cannot be recovered), or the user lacks the permission the call needs."
    )
