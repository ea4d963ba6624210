"""Where a machine user's key is used (LOCATIONS_FILE), and the one protocol every place a key is delivered to speaks.

Pure: the places as values, what a person reads of them, and which places belong to an IAM user. The adapters that
write to SSM, Secrets Manager, GitHub, GitLab, Kubernetes and Vault are in `bot/locations/`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["ssm", "secretsmanager", "github", "gitlab", "kubernetes", "vault"]
KINDS: tuple[Kind, ...] = ("ssm", "secretsmanager", "github", "gitlab", "kubernetes", "vault")
TITLES: dict[Kind, str] = {
    "ssm": "SSM",
    "secretsmanager": "Secrets Manager",
    "github": "GitHub",
    "gitlab": "GitLab",
    "kubernetes": "Kubernetes",
    "vault": "Vault",
}
# The names the two halves of a key are stored under, where a location stores them apart (id_name / secret_name).
DEFAULT_NAMES: dict[Kind, tuple[str, str]] = {
    "github": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "gitlab": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "kubernetes": ("aws_access_key_id", "aws_secret_access_key"),
    "vault": ("aws_access_key_id", "aws_secret_access_key"),
}
# SSM and Secrets Manager hold one JSON document with these two fields.
JSON_FIELDS = ("aws_access_key_id", "aws_secret_access_key")


@dataclass(frozen=True)
class Credentials:
    """An access key and its secret, in memory only; never in repr() or str()."""

    key_id: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(key_id={self.key_id!r}, secret=<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class LocationSpec:
    """One entry of a user's `deliver:` list, as the file says it (every kind's options; those it has not are None).

    `target`: the SSM parameter, the secret's name, `owner/repo`, the GitLab project, `namespace/name`, or the Vault
    `mount/path`. `line`: where the file says it (0 when not read from a file)."""

    kind: Kind
    target: str
    environment: str | None = None  # github: the environment's secrets; gitlab: the variables' environment scope
    id_name: str | None = None  # github, gitlab, kubernetes, vault: the name of the key id's secret or field
    secret_name: str | None = None  # ... and of the secret access key's
    kms_key: str | None = None  # ssm, secretsmanager: a customer managed KMS key (id, alias or ARN)
    region: str | None = None  # ssm, secretsmanager: another region than Keywarden's own
    mount: str | None = None  # vault: the KV v2 mount, when it holds a `/` (default: the first part of target)
    line: int = field(default=0, compare=False)

    def describe(self) -> str:
        """What a person reads: `SSM /ci/deployer/aws`, `GitHub acme/api (environment production)`; never a value."""
        text = f"{TITLES[self.kind]} {self.target}"
        if self.environment and self.kind == "github":
            text += f" (environment {self.environment})"
        elif self.environment and self.kind == "gitlab":
            text += f" (scope {self.environment})"
        if self.region:
            text += f" ({self.region})"
        return text

    @property
    def names(self) -> tuple[str, str]:
        """The names of the key id and of the secret, where this kind stores them apart."""
        default = DEFAULT_NAMES.get(self.kind, JSON_FIELDS)
        return self.id_name or default[0], self.secret_name or default[1]

    @property
    def place(self) -> tuple[str, ...]:
        """What two entries must not share: the same place written for two users would hold whichever came last."""
        scope = self.environment or ""
        if self.kind in ("ssm", "secretsmanager"):
            return (self.kind, self.region or "", self.target)
        if self.kind == "vault":
            return (self.kind, self.target)
        return (self.kind, self.target, scope, *self.names)


@dataclass(frozen=True)
class MachineUser:
    """A user of LOCATIONS_FILE: an IAM user whose key Keywarden delivers itself."""

    user: str
    account: str | None  # None: the one account that has this user
    deliver: tuple[LocationSpec, ...]
    rotate_every_days: int | None = None
    line: int = field(default=0, compare=False)

    def describe(self) -> str:
        """`delivered to: SSM /ci/deployer/aws, GitHub acme/api`."""
        return "delivered to: " + ", ".join(spec.describe() for spec in self.deliver)


@dataclass(frozen=True)
class LocationBook:
    """Every machine user of the file, and where it came from ('' when no LOCATIONS_FILE is set)."""

    users: tuple[MachineUser, ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len(self.users)

    def find(
        self, account: str, user: str, accounts_with_user: Callable[[str], Sequence[str]] | None = None
    ) -> MachineUser | None:
        """The entry for this account's user. An entry without `account:` is this account's only when the user is
        in no other account (`accounts_with_user`: the accounts that have a user, None when one is configured);
        when in doubt it is nobody's (a key is never delivered for the wrong account's user)."""
        for entry in self.users:
            if entry.user != user:
                continue
            if entry.account == account:
                return entry
            if entry.account is None:
                if accounts_with_user is None:
                    return entry
                if list(accounts_with_user(user)) == [account]:
                    return entry
        return None

    def ambiguous(self, accounts_with_user: Callable[[str], Sequence[str]]) -> list[str]:
        """One line for each entry without `account:` whose user is in several accounts."""
        lines = []
        for entry in self.users:
            if entry.account is None:
                found = list(accounts_with_user(entry.user))
                if len(found) > 1:
                    lines.append(
                        f"{self.source}:{entry.line}: locations: `{entry.user}` is in several accounts "
                        f"({', '.join(found)}): add `account:` (its key is not delivered until then)"
                    )
        return lines


class LocationError(Exception):
    """A location refused, failed or could not be reached. The message names the location and never holds a secret.

    `transient`: worth trying again later (a timeout, a server error, a rate limit); False when a person must act
    (a refused permission, a missing repository or namespace, a value the location will not take)."""

    def __init__(self, location: str, reason: str, *, transient: bool = False, status: int | None = None) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason
        self.transient = transient
        self.status = status


class Location(Protocol):
    """A place a key is delivered to. Every method raises LocationError (naming the location) when it fails.

    - `write(credentials)`: store the key there, replacing what was stored; safe to repeat (the same key written twice
      is one delivery).
    - `read_back()`: the access key id stored there now, None when nothing is stored, or when the location cannot
      be read (`readable` is False: GitHub Actions secrets are write-only).
    - `recover()`: the whole key stored there (None as above): a rotation that lost its new secret in a crash
      finishes delivering from a location already written instead of making another key.
    - `describe()`: what a person reads, such as `SSM /ci/deployer/aws`; never a value.
    """

    @property
    def spec(self) -> LocationSpec: ...

    @property
    def readable(self) -> bool: ...

    def describe(self) -> str: ...

    def write(self, credentials: Credentials) -> None: ...

    def read_back(self) -> str | None: ...

    def recover(self) -> Credentials | None: ...
