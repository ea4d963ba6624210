"""IAM in memory behind the AWS adapter's own interface: `FakeAwsGateway` and `FakeAccountClient` have the
methods of bot.aws's `AwsGateway` and `AccountClient` that the approval and rotation services call, with the
same signatures, and raise the adapter's own errors (bot/aws/errors.py) with the adapter's own messages.

Faithful to IAM where the services can tell: at most two keys per user (a third is `AwsLimitExceeded`),
deleting an active key is allowed, key ids are AKIA + 16 characters and secrets 40, a missing user or key is
`AwsNotFound` (GetAccessKeyLastUsed of a key no user has too, as moto answers). Every call is counted as the adapter counts it ("iam:UpdateAccessKey"), failures included.
`fail` makes the next calls of an operation fail as the adapter would report AWS's answer; with
`applied=True` the call takes effect first and only its answer is lost (`AwsUnavailable`: a lost answer).
The controls (`add_user`, `add_key`, `use_key`, `*_by_hand`, `statuses`) act as someone outside
Keywarden would: they are not counted.
"""

from __future__ import annotations

import json
import secrets
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from botocore.exceptions import ClientError, ReadTimeoutError

from bot.aws import (
    AwsError,
    AwsLimitExceeded,
    AwsNotFound,
    AwsPermissionDenied,
    AwsThrottled,
    AwsUnavailable,
    IamUser,
    NewKey,
    translate,
)
from bot.clock import Clock
from bot.domain.keys import ACTIVE, INACTIVE, AccessKey, LastUsed
from bot.domain.privilege import PolicyHolder, user_access
from bot.logs import remember_secret
from bot.settings.accounts import Account

T = TypeVar("T")
KEYS_PER_USER = 2  # IAM's AccessKeysPerUser quota
_ID_CHARS = string.ascii_uppercase + "234567"  # IAM's key ids are base32
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"
# What AWS answers (code, HTTP status) that the adapter turns into each error; AwsUnavailable is a read timeout.
_ANSWERS: dict[type[AwsError], tuple[str, int]] = {
    AwsPermissionDenied: ("AccessDenied", 403),
    AwsNotFound: ("NoSuchEntity", 404),
    AwsThrottled: ("Throttling", 400),
    AwsLimitExceeded: ("LimitExceeded", 409),
}


@dataclass
class FakeKey:
    user: str
    key_id: str
    status: str
    created: datetime
    used: LastUsed


@dataclass
class FakeUser:
    name: str
    arn: str
    tags: dict[str, str]
    created: datetime
    console: bool = False
    keys: list[FakeKey] = field(default_factory=list)


@dataclass
class _Fault:
    error: type[AwsError]
    applied: bool


class FakeAccountClient:
    """One account's IAM (and Secrets Manager, for that delivery) in memory."""

    region = "us-east-1"

    def __init__(self, alias: str, account_id: str, clock: Clock) -> None:
        self.alias = alias
        self.account_number = account_id
        self.calls: Counter[str] = Counter()  # API operations made, by "service:Operation", as the adapter counts
        self.secrets: dict[str, str] = {}  # Secrets Manager: name -> secret string
        self.created: list[NewKey] = []  # every key CreateAccessKey made, with its secret: to see where it went
        self._clock = clock
        self._users: dict[str, FakeUser] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._caller = f"arn:aws:sts::{account_id}:assumed-role/keywarden/keywarden"

    # Controls: the world as a test sets it up, and changes outside Keywarden (not counted)
    def add_user(self, name: str, *, owner: str | None = None, console: bool = False, **tags: str) -> FakeUser:
        """An IAM user; `owner` is its owner tag, `tags` any others."""
        all_tags = {**tags, **({"owner": owner} if owner else {})}
        user = FakeUser(name, f"arn:aws:iam::{self.account_number}:user/{name}", all_tags, self._clock(), console)
        self._users[name] = user
        return user

    def add_key(self, user: str, *, age_days: float = 0, status: str = ACTIVE) -> str:
        """A key made `age_days` ago, never used (`use_key` uses it); returns its id. IAM's two-key limit holds."""
        return self._new_key(self._user(user), self._clock() - timedelta(days=age_days), status).key_id

    def use_key(self, key_id: str, when: datetime, service: str = "sts", region: str = "us-east-1") -> None:
        """Something signed a call with the key at `when`: AWS records it as the key's last use."""
        key = self._key_anywhere(key_id)
        key.used = LastUsed(key.user, when, service, region)

    def set_status_by_hand(self, user: str, key_id: str, status: str) -> None:
        self._key(user, key_id).status = status

    def delete_by_hand(self, user: str, key_id: str) -> None:
        self._remove(user, key_id)

    def statuses(self, user: str) -> dict[str, str]:
        """The user's keys as AWS has them now: id -> Active / Inactive."""
        return {k.key_id: k.status for k in self._user(user).keys}

    def runs_as_user(self, name: str) -> None:
        """Keywarden's own credentials are those of IAM user `name` in this account (not an assumed role)."""
        self._caller = f"arn:aws:iam::{self.account_number}:user/{name}"

    def fail(self, operation: str, error: type[AwsError], *, times: int = 1, applied: bool = False) -> None:
        """The next `times` calls of `operation` ("iam:UpdateAccessKey") raise `error` as the adapter would.

        `applied`: AWS made the change and only the answer was lost (use it with AwsUnavailable)."""
        self._faults.setdefault(operation, []).extend(_Fault(error, applied) for _ in range(times))

    # The adapter's reads
    def account_id(self) -> str:
        return self._call("sts:GetCallerIdentity", lambda: self.account_number)

    def caller_arn(self) -> str:
        return self._call("sts:GetCallerIdentity", lambda: self._caller)

    def user_details(self) -> Iterator[IamUser]:
        def details() -> list[IamUser]:
            return [
                IamUser(u.name, u.arn, dict(u.tags), user_access(PolicyHolder(u.name), u.created, [], {}, {}))
                for u in self._users.values()
            ]

        yield from self._call("iam:GetAccountAuthorizationDetails", details)

    def user_exists(self, user: str) -> bool:
        return self._call("iam:GetUser", lambda: user in self._users)

    def user_tags(self, user: str) -> dict[str, str]:
        return self._call("iam:GetUser", lambda: dict(self._user(user).tags))

    def list_access_keys(self, user: str) -> list[AccessKey]:
        return self._call("iam:ListAccessKeys", lambda: self._listed(user))

    def access_keys_and_time(self, user: str) -> tuple[list[AccessKey], datetime | None]:
        """The keys and AWS's time of the answer (its Date header: whole seconds)."""
        return self._call("iam:ListAccessKeys", lambda: (self._listed(user), self._clock().replace(microsecond=0)))

    def key_last_used(self, key_id: str) -> LastUsed:
        return self._call("iam:GetAccessKeyLastUsed", lambda: self._key_anywhere(key_id).used)

    def has_console_password(self, user: str) -> bool:
        return self._call("iam:GetLoginProfile", lambda: self._user(user).console)

    # The adapter's writes
    def create_access_key(self, user: str) -> NewKey:
        def create() -> NewKey:
            key = self._new_key(self._user(user), self._clock(), ACTIVE)
            secret = "".join(secrets.choice(_SECRET_CHARS) for _ in range(40))
            remember_secret(secret)  # as the adapter does: the logs redact it
            self.created.append(NewKey(user, key.key_id, secret))
            return self.created[-1]

        return self._call("iam:CreateAccessKey", create)

    def set_key_status(self, user: str, key_id: str, status: str) -> None:
        if status not in (ACTIVE, INACTIVE):
            raise ValueError(f"IAM knows no key status {status!r}")

        def update() -> None:
            self._key(user, key_id).status = status

        self._call("iam:UpdateAccessKey", update)

    def delete_access_key(self, user: str, key_id: str) -> None:
        self._call("iam:DeleteAccessKey", lambda: self._remove(user, key_id))  # an active key too, as in IAM

    def store_secret(self, name: str, payload: str, description: str) -> str:
        json.loads(payload)  # what the delivery stores is JSON
        arn = f"arn:aws:secretsmanager:{self.region}:{self.account_number}:secret:{name}-AbCdEf"
        if name in self.secrets:
            self.calls["secretsmanager:CreateSecret"] += 1  # ResourceExistsException, then the value is put
            operation = "secretsmanager:PutSecretValue"
        else:
            operation = "secretsmanager:CreateSecret"

        def store() -> str:
            self.secrets[name] = payload
            return arn

        return self._call(operation, store)

    # How AWS answers
    def _call(self, operation: str, apply: Callable[[], T]) -> T:
        self.calls[operation] += 1
        queue = self._faults.get(operation)
        if not queue:
            return apply()
        fault = queue.pop(0)
        if fault.applied:
            apply()
        raise self._error(operation, fault.error)

    def _error(self, operation: str, kind: type[AwsError]) -> AwsError:
        if kind is AwsUnavailable:
            service = operation.split(":")[0]
            error = translate(ReadTimeoutError(endpoint_url=f"https://{service}.amazonaws.com/"), self.alias, service)
        else:
            code, status = _ANSWERS[kind]
            denied = f"{self._caller} is not authorized to perform: {operation}"
            error = self._answer(code, status, denied if kind is AwsPermissionDenied else code, operation)
        assert type(error) is kind, f"the adapter reads this answer as {type(error).__name__}, not {kind.__name__}"
        return error

    def _answer(self, code: str, status: int, message: str, operation: str = "iam:") -> AwsError:
        """AWS's error answer to `operation`, as the adapter raises it (only denials and throttling name it)."""
        service, action = operation.split(":")
        reply = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return translate(ClientError(reply, action), self.alias, service)  # type: ignore[arg-type]

    def _user(self, name: str) -> FakeUser:
        if name not in self._users:
            raise self._answer("NoSuchEntity", 404, f"The user with name {name} cannot be found.")
        return self._users[name]

    def _key(self, user: str, key_id: str) -> FakeKey:
        found = next((k for k in self._user(user).keys if k.key_id == key_id), None)
        if found is None:
            raise self._answer("NoSuchEntity", 404, f"The Access Key with id {key_id} cannot be found.")
        return found

    def _key_anywhere(self, key_id: str) -> FakeKey:
        found = next((k for u in self._users.values() for k in u.keys if k.key_id == key_id), None)
        if found is None:
            raise self._answer("NoSuchEntity", 404, f"The Access Key with id {key_id} cannot be found.")
        return found

    def _remove(self, user: str, key_id: str) -> None:
        self._user(user).keys.remove(self._key(user, key_id))

    def _listed(self, user: str) -> list[AccessKey]:
        return [AccessKey(k.user, k.key_id, k.status, k.created) for k in self._user(user).keys]

    def _new_key(self, user: FakeUser, created: datetime, status: str) -> FakeKey:
        if len(user.keys) >= KEYS_PER_USER:
            quota = f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}"
            raise self._answer("LimitExceeded", 409, quota, "iam:CreateAccessKey")
        key_id = "AKIA" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))
        key = FakeKey(user.name, key_id, status, created, LastUsed(user.name, None, None, None))
        user.keys.append(key)
        return key


class FakeAwsGateway:
    """The configured accounts, each a `FakeAccountClient` (account ids 123456789012, 123456789013, ...)."""

    def __init__(self, clock: Clock, accounts: tuple[Account, ...] = (Account("default"),)) -> None:
        self._accounts = {a.alias: a for a in accounts}
        self._clients = {
            a.alias: FakeAccountClient(a.alias, str(123456789012 + i), clock) for i, a in enumerate(accounts)
        }

    @property
    def aliases(self) -> list[str]:
        return list(self._accounts)

    def list_aliases(self) -> list[str]:
        return self.aliases

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def caller_arn(self, *, once: bool = False) -> str:  # `once`: the real gateway's single attempt at start-up
        """Keywarden's own identity: the first account is the one its own credentials belong to."""
        return next(iter(self._clients.values())).caller_arn()

    def account(self, alias: str) -> FakeAccountClient:
        if alias not in self._clients:
            raise AwsNotFound(f"No account `{alias}` is configured or found in the organisation.")
        return self._clients[alias]

    def call_counts(self) -> Counter[str]:
        """API operations made so far in every account, by "service:Operation"."""
        return sum((c.calls for c in self._clients.values()), Counter())
