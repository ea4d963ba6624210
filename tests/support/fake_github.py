"""GitHub's Actions secrets API on loopback, with a real libsodium key pair per repository and environment.

What the REST API does: GET `…/secrets/public-key` gives `key_id` and the base64 public key; PUT `…/secrets/{name}`
takes `encrypted_value` (a base64 sealed box) and `key_id`, answers 201 (created) or 204 (updated); environments
under `/repos/{owner}/{repo}/environments/{name}/secrets`. Here the fake opens each sealed box with its private key,
so a test reads what a workflow would get (`workflow_secrets`). Tokens are checked (401 unknown, 403 without access,
404 for a repository the token cannot see); a GitHub App's JWT is verified with the App's public key
(`/repos/{repo}/installation`, `/app/installations/{id}/access_tokens`).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from tests.support.fake_http import Answer, FakeService

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


class FakeGitHub(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.repositories: dict[str, set[str]] = {}  # owner/repo -> its environments
        self.tokens: dict[str, set[str]] = {}  # token -> repositories it may write secrets of
        self.secrets: dict[tuple[str, str | None, str], str] = {}  # (repo, environment, name) -> plaintext
        self._keys: dict[tuple[str, str | None], tuple[str, PrivateKey]] = {}
        self.app_id = "4242"
        self.installation = 77
        self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.installation_tokens: dict[str, datetime] = {}  # token -> expires

    @property
    def app_private_key(self) -> str:
        return self._app_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def add_repository(self, repo: str, *environments: str, token: str | None = None) -> None:
        self.repositories.setdefault(repo, set()).update(environments)
        if token is not None:
            self.tokens.setdefault(token, set()).add(repo)

    def workflow_secrets(self, repo: str, environment: str | None = None) -> dict[str, str]:
        """What a workflow of this repository reads as `secrets.*` (in a job of `environment`, its secrets win)."""
        found = {name: value for (r, env, name), value in self.secrets.items() if r == repo and env is None}
        if environment is not None:
            found |= {name: value for (r, env, name), value in self.secrets.items() if r == repo and env == environment}
        return found

    def _key(self, repo: str, environment: str | None) -> tuple[str, PrivateKey]:
        if (repo, environment) not in self._keys:
            self._keys[(repo, environment)] = (str(secrets.randbits(60)), PrivateKey.generate())
        return self._keys[(repo, environment)]

    def rotate_public_key(self, repo: str, environment: str | None = None) -> None:
        """GitHub may change a repository's key: a value sealed with the old one is refused."""
        self._keys.pop((repo, environment), None)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        parts = path.strip("/").split("/")
        if parts[:1] == ["app"] or parts[-1:] == ["installation"]:
            return self._app(method, parts, headers)
        if len(parts) < 5 or parts[0] != "repos":
            return 404, NOT_FOUND
        repo = f"{parts[1]}/{parts[2]}"
        rest = parts[3:]
        environment = None
        if rest[:1] == ["environments"] and len(rest) >= 4:
            environment, rest = rest[1], rest[2:]
        elif rest[:1] == ["actions"]:
            rest = rest[1:]
        else:
            return 404, NOT_FOUND
        denied = self._authorise(headers, repo)
        if denied is not None:
            return denied
        if environment is not None and environment not in self.repositories[repo]:
            return 404, NOT_FOUND
        if rest == ["secrets", "public-key"] and method == "GET":
            key_id, key = self._key(repo, environment)
            return 200, {"key_id": key_id, "key": base64.b64encode(bytes(key.public_key)).decode()}
        if len(rest) == 2 and rest[0] == "secrets" and method == "PUT":
            return self._put(repo, environment, rest[1], body or {})
        return 404, NOT_FOUND

    def _authorise(self, headers: dict[str, str], repo: str) -> Answer | None:
        token = headers.get("authorization", "").removeprefix("Bearer ").removeprefix("token ")
        if token in self.installation_tokens:
            if self.installation_tokens[token] <= datetime.now(UTC):
                return 401, {"message": "Bad credentials"}
            allowed = set(self.repositories)
        elif token in self.tokens:
            allowed = self.tokens[token]
        else:
            return 401, {"message": "Bad credentials"}
        if repo not in self.repositories:
            return 404, NOT_FOUND
        if repo not in allowed:
            return 403, {"message": "Resource not accessible by personal access token"}
        return None

    def _put(self, repo: str, environment: str | None, name: str, body: dict[str, Any]) -> Answer:
        key_id, key = self._key(repo, environment)
        if body.get("key_id") != key_id or not isinstance(body.get("encrypted_value"), str):
            return 422, {"message": "Bad request: key_id does not match the current public key"}
        try:
            value = SealedBox(key).decrypt(base64.b64decode(body["encrypted_value"])).decode()
        except (CryptoError, ValueError):
            return 422, {"message": "Bad request: encrypted_value could not be decrypted"}
        new = (repo, environment, name) not in self.secrets
        self.secrets[(repo, environment, name)] = value
        return (201, {}) if new else (204, None)

    def _app(self, method: str, parts: list[str], headers: dict[str, str]) -> Answer:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, self._app_key.public_key(), algorithms=["RS256"])
        except jwt.PyJWTError:
            return 401, {"message": "A JSON web token could not be decoded"}
        if str(claims.get("iss")) != self.app_id or claims["exp"] - claims["iat"] > 600:
            return 401, {"message": "'Expiration time' claim ('exp') is too far in the future"}
        if parts[0] == "repos" and method == "GET":
            repo = f"{parts[1]}/{parts[2]}"
            return (200, {"id": self.installation}) if repo in self.repositories else (404, NOT_FOUND)
        if parts[:2] == ["app", "installations"] and parts[3:] == ["access_tokens"] and method == "POST":
            if parts[2] != str(self.installation):
                return 404, NOT_FOUND
            token = "ghs_" + secrets.token_hex(18)
            expires = datetime.now(UTC) + timedelta(hours=1)
            self.installation_tokens[token] = expires
            return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return 404, NOT_FOUND
