"""LOCATIONS_FILE: the machine users whose keys Keywarden delivers, and where; validated like the policy file."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.locations import KINDS, TITLES, LocationBook, LocationSpec, MachineUser
from bot.yaml_file import FileProblems, node_line, read_text, validate


class LocationsFileError(FileProblems):
    """A malformed locations file: one line per problem, each `file:line: field: problem`."""


def _shaped(pattern: str, form: str, refuse: str | None = None):  # -> Callable[[str], str]
    compiled = re.compile(pattern)
    refused = re.compile(refuse, re.IGNORECASE) if refuse else None

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or (refused is not None and refused.match(value)):
            raise ValueError(f"{value!r} is not {form}")
        return value

    return AfterValidator(check)


_SSM = _shaped(
    r"/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+){0,14}",
    "an SSM parameter name such as /ci/deployer/aws (letters, digits and _.- in parts split by single slashes, "
    "not starting with aws or ssm)",
    refuse=r"/?(aws|ssm)",
)
_SECRET = _shaped(r"[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager name such as ci/deployer (letters, digits, /_+=.@-)")
_GITHUB = _shaped(
    r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", "a repository as owner/name, such as acme/api"
)
_GITLAB = _shaped(
    r"\d{1,20}|[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+",
    "a GitLab project as group/project (groups may nest, such as acme/platform/api) or a numeric project id",
)
_KUBERNETES = _shaped(
    r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?",
    "namespace/secret-name, such as payments/aws-creds (lower-case letters, digits and -)",
)
_VAULT = _shaped(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.@-]+)+", "a KV version 2 mount and path, such as secret/ci/deployer")
_ENVIRONMENT = _shaped(r"[A-Za-z0-9_.*-](?:[A-Za-z0-9_.*/ -]{0,253}[A-Za-z0-9_.*-])?", "an environment name")
_NAME = _shaped(r"[A-Za-z0-9_.-]{1,253}", "a name of letters, digits and _.-")
_KMS = _shaped(r"[A-Za-z0-9:/_-]{1,2048}", "a KMS key id, alias/<name> or key ARN")
_REGION = _shaped(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}", "an AWS region such as eu-west-1")
_MOUNT = _shaped(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", "a Vault mount such as secret or kv/team")
_IAM_USER = _shaped(r"[\w+=,.@-]{1,64}", "an IAM user name")
_ALIAS = _shaped(r"[a-z0-9][a-z0-9-]{0,62}", "an account alias as ACCOUNTS names it (such as default or prod)")
_GITHUB_SECRET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GITLAB_VARIABLE = re.compile(r"[A-Za-z0-9_]{1,255}")
# Which options each kind takes, besides its own key.
_OPTIONS = {
    "ssm": {"kms_key", "region"},
    "secretsmanager": {"kms_key", "region"},
    "github": {"environment", "id_name", "secret_name"},
    "gitlab": {"environment", "id_name", "secret_name"},
    "kubernetes": {"id_name", "secret_name"},
    "vault": {"mount", "id_name", "secret_name"},
}
_ANY_OPTION = sorted(set().union(*_OPTIONS.values()))
KIND_LIST = ", ".join(KINDS)


class DeliverModel(BaseModel):
    """One place, as `- ssm: /ci/deployer/aws` with the options of its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ssm: Annotated[str | None, _SSM] = None
    secretsmanager: Annotated[str | None, _SECRET] = None
    github: Annotated[str | None, _GITHUB] = None
    gitlab: Annotated[str | None, _GITLAB] = None
    kubernetes: Annotated[str | None, _KUBERNETES] = None
    vault: Annotated[str | None, _VAULT] = None
    environment: Annotated[str | None, _ENVIRONMENT] = None
    id_name: Annotated[str | None, _NAME] = None
    secret_name: Annotated[str | None, _NAME] = None
    kms_key: Annotated[str | None, _KMS] = None
    region: Annotated[str | None, _REGION] = None
    mount: Annotated[str | None, _MOUNT] = None

    @model_validator(mode="after")
    def _one_kind(self) -> DeliverModel:
        kind = self._kind()
        extra = [o for o in _ANY_OPTION if getattr(self, o) is not None and o not in _OPTIONS[kind]]
        if extra:
            raise ValueError(f"`{extra[0]}` does not apply to {kind} (it takes {', '.join(sorted(_OPTIONS[kind]))})")
        if self.id_name is not None and self.id_name == self.secret_name:
            raise ValueError("`id_name` and `secret_name` must differ")
        if check := _KIND_CHECKS.get(kind):
            check(self)
        return self

    def _kind(self) -> str:
        """The one kind of place this location names."""
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a location names exactly one of {KIND_LIST}" + (f" (not {' and '.join(kinds)})" if kinds else "")
            )
        return kinds[0]

    @property
    def names(self) -> list[str]:
        """The names given to the key id and the secret (id_name, secret_name), where set."""
        return [n for n in (self.id_name, self.secret_name) if n is not None]

    def spec(self, line: int) -> LocationSpec:
        kind = next(k for k in KINDS if getattr(self, k) is not None)
        return LocationSpec(
            kind,
            getattr(self, kind),
            environment=self.environment,
            id_name=self.id_name,
            secret_name=self.secret_name,
            kms_key=self.kms_key,
            region=self.region,
            mount=self.mount,
            line=line,
        )


def _check_github(place: DeliverModel) -> None:
    if bad := [n for n in place.names if not _GITHUB_SECRET.fullmatch(n) or n.upper().startswith("GITHUB_")]:
        raise ValueError(f"{bad[0]!r} is not a GitHub secret name (letters, digits, _; not GITHUB_…)")
    if place.environment and "*" in place.environment:
        raise ValueError("a GitHub environment is one name, without *")


def _check_gitlab(place: DeliverModel) -> None:
    if bad := [n for n in place.names if not _GITLAB_VARIABLE.fullmatch(n)]:
        raise ValueError(f"{bad[0]!r} is not a GitLab variable name (letters, digits, _)")


def _check_vault(place: DeliverModel) -> None:
    if place.mount and not (place.vault or "").startswith(place.mount + "/"):
        raise ValueError(f"the path `{place.vault}` must start with its mount `{place.mount}/`")


# What each kind checks of its names and options beyond their shapes, after the options shared by all kinds.
_KIND_CHECKS: dict[str, Callable[[DeliverModel], None]] = {
    "github": _check_github,
    "gitlab": _check_gitlab,
    "vault": _check_vault,
}


class UserModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[str, _IAM_USER]
    account: Annotated[str | None, _ALIAS] = None
    rotate_every_days: int | None = Field(default=None, ge=1, le=365)
    deliver: tuple[DeliverModel, ...]

    @field_validator("deliver")
    @classmethod
    def _some(cls, deliver: tuple[DeliverModel, ...]) -> tuple[DeliverModel, ...]:
        if not deliver:
            raise ValueError("name at least one location to deliver the key to")
        return deliver


class LocationsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    locations: tuple[UserModel, ...]


def load(path: str | Path, accounts: Collection[str] | None = None) -> LocationBook:
    """Read and validate a locations file; LocationsFileError lists every problem with its line.

    `accounts`: the configured aliases (each `account:` must be one), None when not known in advance (discovery)."""
    return parse(read_text(path, LocationsFileError), str(path), accounts)


def parse(text: str, source: str, accounts: Collection[str] | None = None) -> LocationBook:
    model = validate(
        text,
        source,
        LocationsModel,
        "locations",
        LocationsFileError,
        unknown={"deliver": f"a location is one of {KIND_LIST}"},
    )
    node = yaml.compose(text)
    users: list[MachineUser] = []
    problems: list[str] = []
    named: dict[str, tuple[str | None, int]] = {}  # user -> (account, line) of its first entry
    places: dict[tuple[str, ...], tuple[str, int]] = {}  # place -> (user, line) that writes it
    for i, entry in enumerate(model.locations):
        line = node_line(node, ["locations", i])
        if accounts is not None and entry.account is not None and entry.account not in accounts:
            where = node_line(node, ["locations", i, "account"])
            problems.append(
                f"{source}:{where}: locations.{i}.account: `{entry.account}` is not a configured account "
                f"({', '.join(sorted(accounts))})"
            )
        first = named.get(entry.user)
        if first is not None and (first[0] is None or entry.account is None or first[0] == entry.account):
            problems.append(
                f"{source}:{line}: locations.{i}.user: `{entry.user}` is listed twice (first on line {first[1]}); "
                "list it once, or name a different `account:` for each"
            )
        named.setdefault(entry.user, (entry.account, line))
        specs = []
        for j, deliver in enumerate(entry.deliver):
            spec = deliver.spec(node_line(node, ["locations", i, "deliver", j]))
            owner = places.get(spec.place)
            if owner is not None:
                problems.append(
                    f"{source}:{spec.line}: locations.{i}.deliver.{j}: {spec.describe()} is already written for "
                    f"`{owner[0]}` (line {owner[1]}): one place holds one key"
                )
            places.setdefault(spec.place, (entry.user, spec.line))
            specs.append(spec)
        users.append(MachineUser(entry.user, entry.account, tuple(specs), entry.rotate_every_days, line))
    if problems:
        raise LocationsFileError(problems)
    return LocationBook(tuple(users), source)


def kinds_used(book: LocationBook) -> dict[str, int]:
    """Each kind of location the file uses, with the first line that uses it."""
    found: dict[str, int] = {}
    for entry in book.users:
        for spec in entry.deliver:
            found.setdefault(spec.kind, spec.line)
    return found


__all__ = ["TITLES", "LocationsFileError", "kinds_used", "load", "parse"]
