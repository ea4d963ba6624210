"""The places keys are delivered to (LOCATIONS_FILE): the file, and one adapter per kind, each a `Location`
(bot/domain/locations.py): SSM and Secrets Manager through bot/aws, GitHub (PyNaCl sealed boxes over HTTP), GitLab
(python-gitlab), Kubernetes (HTTP to the API server) and Vault (hvac). The only package that imports those clients.

`Locations` opens the places of a machine user; the clients (a GitHub App's tokens, GitLab's and Vault's clients,
the cluster's access) are made once, when first needed, and shared: every adapter is safe to use from many threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.aws import AwsError, AwsGateway, SecretStores
from bot.domain.locations import Location, LocationBook, LocationError, LocationSpec, MachineUser
from bot.locations.base import TIMEOUT
from bot.settings import Settings

AccountsWithUser = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class Reach:
    """How Keywarden reaches each kind of place: the variables of docs/locations.md, secrets as plain text."""

    github_api_url: str = "https://api.github.com/"
    github_token: str | None = None
    github_app_id: str | None = None
    github_app_private_key: str | None = None
    github_app_installation_id: str | None = None
    gitlab_url: str = "https://gitlab.com/"
    gitlab_token: str | None = None
    kubeconfig: str | None = None
    vault_addr: str | None = None
    vault_token: str | None = None
    timeout: float = TIMEOUT

    def __repr__(self) -> str:
        return "Reach(…)"  # it holds tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> Reach:
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        return cls(
            github_api_url=settings.github_api_url,
            github_token=secret(settings.github_token),
            github_app_id=settings.github_app_id,
            github_app_private_key=secret(settings.github_app_private_key),
            github_app_installation_id=settings.github_app_installation_id,
            gitlab_url=settings.gitlab_url,
            gitlab_token=secret(settings.gitlab_token),
            kubeconfig=settings.kubeconfig,
            vault_addr=settings.vault_addr,
            vault_token=secret(settings.vault_token),
        )

    def missing(self, kind: str, in_cluster: bool = False) -> str | None:
        """What must be set to reach this kind of place, None when it is."""
        if kind == "github" and not (self.github_token or self.github_app_id):
            return "GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)"
        if kind == "gitlab" and not self.gitlab_token:
            return "GITLAB_TOKEN"
        if kind == "vault" and not (self.vault_addr and self.vault_token):
            return "VAULT_ADDR and VAULT_TOKEN"
        if kind == "kubernetes" and not (self.kubeconfig or in_cluster):
            return "KUBECONFIG (or run in the cluster)"
        return None


class Locations:
    """The machine users of LOCATIONS_FILE and their places, ready to write."""

    def __init__(
        self,
        book: LocationBook,
        reach: Reach,
        aws: AwsGateway,
        accounts_with_user: AccountsWithUser | None = None,
    ) -> None:
        self.book = book
        self._reach = reach
        self._aws = aws
        self._accounts_with_user = accounts_with_user
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, aws: AwsGateway, accounts_with_user: AccountsWithUser) -> Locations:
        """LOCATIONS_FILE's machine users and their places (none without the file). With several accounts, an entry
        without `account:` is matched to the one account `accounts_with_user` finds the user in."""
        from bot.locations.file import load

        aliases = None if settings.organization is not None else settings.account_aliases
        book = load(settings.locations_file, aliases) if settings.locations_file else LocationBook()
        one_account = aliases is not None and len(aliases) == 1
        return cls(book, Reach.from_settings(settings), aws, None if one_account else accounts_with_user)

    def entry(self, account: str, user: str) -> MachineUser | None:
        """The file's entry for this user, None when its key is not delivered by Keywarden."""
        return self.book.find(account, user, self._accounts_with_user)

    def delivered_to(self, account: str, user: str) -> str | None:
        """`delivered to: SSM /ci/deployer/aws, GitHub acme/api`, None when the user is not in the file."""
        entry = self.entry(account, user) if self.book.users else None
        return entry.describe() if entry else None

    def of(self, account: str, user: str) -> list[Location]:
        """Every place this user's key is delivered to, in the file's order ([] when none)."""
        entry = self.entry(account, user)
        return [self.open(account, user, spec) for spec in entry.deliver] if entry else []

    def open(self, account: str, user: str, spec: LocationSpec) -> Location:
        """The adapter of one place; LocationError when what it needs is not configured."""
        reach = self._reach
        if spec.kind in ("ssm", "secretsmanager"):
            try:
                stores = SecretStores(self._aws.account(account), spec.region, reach.timeout)
            except AwsError as e:
                raise LocationError(spec.describe(), e.message) from None
            if spec.kind == "ssm":
                from bot.locations.ssm import SsmParameter

                return SsmParameter(spec, stores, user)
            from bot.locations.secrets_manager import SecretsManagerSecret

            return SecretsManagerSecret(spec, stores, user)
        if (missing := reach.missing(spec.kind, _in_cluster())) is not None:
            raise LocationError(spec.describe(), f"{missing} is not set")
        if spec.kind == "github":
            from bot.locations.github import GitHubSecrets

            return GitHubSecrets(spec, reach.github_api_url, self._client("github"), timeout=reach.timeout)
        if spec.kind == "gitlab":
            from bot.locations.gitlab import GitLabVariables

            return GitLabVariables(spec, self._client("gitlab"))
        if spec.kind == "kubernetes":
            from bot.locations.kubeconfig import KubeconfigError
            from bot.locations.kubernetes import KubernetesSecret

            try:
                access = self._client("kubernetes")
            except KubeconfigError as e:
                raise LocationError(spec.describe(), str(e)) from None
            return KubernetesSecret(spec, access, timeout=reach.timeout)
        from bot.locations.vault import VaultSecret

        return VaultSecret(spec, self._client("vault"), timeout=reach.timeout)

    def _client(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._clients:
                self._clients[kind] = _make_client(kind, self._reach)
            return self._clients[kind]

    def problems(self) -> list[str]:
        """One line per kind of place the file uses that Keywarden cannot reach as configured."""
        return unreachable_kinds(self.book, self._reach)


def _make_client(kind: str, reach: Reach) -> Any:
    if kind == "github":
        from bot.locations.github_auth import AppAuth, TokenAuth

        if reach.github_app_id and reach.github_app_private_key:
            return AppAuth(
                reach.github_api_url,
                reach.github_app_id,
                reach.github_app_private_key,
                reach.github_app_installation_id,
                timeout=reach.timeout,
            )
        return TokenAuth(reach.github_token or "")
    if kind == "gitlab":
        from bot.locations.gitlab import client

        return client(reach.gitlab_url, reach.gitlab_token or "", reach.timeout)
    if kind == "kubernetes":
        from bot.locations.kubeconfig import cluster_access

        return cluster_access(reach.kubeconfig)
    from bot.locations.vault import client as vault_client

    return vault_client(reach.vault_addr or "", reach.vault_token or "", reach.timeout)


def _in_cluster() -> bool:
    import os

    from bot.locations.kubeconfig import SERVICE_ACCOUNT

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def unreachable_kinds(book: LocationBook, reach: Reach) -> list[str]:
    from bot.locations.file import kinds_used

    lines = []
    for kind, line in kinds_used(book).items():
        missing = reach.missing(kind, _in_cluster())
        if missing is not None:
            lines.append(f"{book.source}:{line}: deliver: a {kind} location needs {missing}")
    return lines


__all__ = ["AccountsWithUser", "Locations", "Reach", "unreachable_kinds"]
