"""GitHub Actions secrets of a repository or of one of its environments.

Each value is sealed (libsodium sealed box, PyNaCl) with the repository's or environment's public key and PUT with
that key's id; GitHub alone can open it, and gives it to workflows as `${{ secrets.AWS_ACCESS_KEY_ID }}` and
`${{ secrets.AWS_SECRET_ACCESS_KEY }}`. Secrets cannot be read back: `readable` is False.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import Protocol
from urllib.parse import quote

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from bot.domain.locations import Credentials, LocationError, LocationSpec
from bot.locations.base import TIMEOUT, JsonApi, Place, detail
from bot.locations.github_auth import github_headers
from bot.logs import remember_secret

HINTS = {
    401: "GitHub refused the token: check GITHUB_TOKEN (or the App's key)",
    403: "The token or App needs the repository permission Secrets: read and write (and, for an environment, "
    "Environments: read and write) on this repository (docs/locations.md)",
    404: "No such repository or environment, or the token cannot see it: check the file and the token's "
    "repository access",
}


class Auth(Protocol):
    def token_for(self, location: str, repository: str) -> str: ...


def seal(public_key: str, value: str) -> str:
    """`value` in a sealed box for the base64 public key, base64-encoded, as GitHub's API takes it."""
    box = SealedBox(PublicKey(b64decode(public_key)))
    return b64encode(box.encrypt(value.encode())).decode()


class GitHubSecrets(Place):
    """`github: owner/repo` (optional `environment`, `id_name`, `secret_name`)."""

    readable = False

    def __init__(self, spec: LocationSpec, api_url: str, auth: Auth, *, timeout: float | None = None) -> None:
        super().__init__(spec)
        self._auth = auth
        self._api = JsonApi(api_url, self._headers, hints=HINTS, timeout=timeout or TIMEOUT)
        if spec.environment:  # /repos/{owner}/{repo}/environments/{environment_name}/secrets
            self._secrets = f"repos/{spec.target}/environments/{quote(spec.environment, safe='')}/secrets"
        else:  # /repos/{owner}/{repo}/actions/secrets
            self._secrets = f"repos/{spec.target}/actions/secrets"

    def _headers(self) -> dict[str, str]:
        return github_headers(self._auth.token_for(self.describe(), self.spec.target))

    def write(self, credentials: Credentials) -> None:
        remember_secret(credentials.secret)
        where = self.describe()
        key = self._api.call(where, "GET", f"{self._secrets}/public-key")
        key_id, public_key = key.get("key_id"), key.get("key")
        if not isinstance(key_id, str) or not isinstance(public_key, str):
            raise LocationError(where, "GitHub gave no public key to seal the secrets with", transient=True)
        id_name, secret_name = self.spec.names
        for name, value in ((id_name, credentials.key_id), (secret_name, credentials.secret)):
            try:
                sealed = seal(public_key, value)
            except (CryptoError, ValueError, TypeError) as e:
                raise LocationError(where, f"GitHub's public key is not usable ({detail(str(e))})") from None
            self._api.call(where, "PUT", f"{self._secrets}/{name}", {"encrypted_value": sealed, "key_id": key_id})

    def read_back(self) -> str | None:
        return None  # GitHub gives a secret's name and dates, never its value

    def recover(self) -> Credentials | None:
        return None
