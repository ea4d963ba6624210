"""How Keywarden signs in to GitHub: a token (GITHUB_TOKEN), or a GitHub App's installation token.

An App signs a JSON Web Token (RS256, ten minutes at most) with its private key, finds the installation on the
repository (or takes GITHUB_APP_INSTALLATION_ID), and exchanges the JWT for an installation token (one hour),
kept until five minutes before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import jwt
import requests

from bot.domain.locations import LocationError
from bot.locations.base import TIMEOUT, JsonApi

API_VERSION = "2022-11-28"
_RENEW_BEFORE = 300  # seconds before an installation token expires that a new one is asked for


def github_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }


class TokenAuth:
    """GITHUB_TOKEN: the same token for every repository."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token_for(self, location: str, repository: str) -> str:
        return self._token


class AppAuth:
    """A GitHub App: an installation token per installation, asked for when needed and kept until near its end."""

    def __init__(
        self,
        api_url: str,
        app_id: str,
        private_key: str,
        installation_id: str | None = None,
        *,
        timeout: float = TIMEOUT,
        now: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self._app_id = app_id
        self._key = private_key
        self._installation = installation_id
        self._now = now
        self._api = JsonApi(api_url, self._app_headers, timeout=timeout, hints=_APP_HINTS, session=session)
        self._tokens: dict[str, tuple[str, float]] = {}  # installation id -> (token, expires at)
        self._installations: dict[str, str] = {}  # owner/repo -> installation id
        self._lock = threading.Lock()

    def _app_headers(self) -> dict[str, str]:
        issued = int(self._now()) - 60  # GitHub allows for clock drift this way
        claims = {"iat": issued, "exp": issued + 540, "iss": self._app_id}
        return github_headers(jwt.encode(claims, self._key, algorithm="RS256"))

    def token_for(self, location: str, repository: str) -> str:
        installation = self._installation or self._installation_of(location, repository)
        with self._lock:
            held = self._tokens.get(installation)
            if held is not None and held[1] - _RENEW_BEFORE > self._now():
                return held[0]
        reply = self._api.call(location, "POST", f"app/installations/{installation}/access_tokens", {})
        token, expires = reply.get("token"), _epoch(reply.get("expires_at"))
        if not isinstance(token, str) or not token:
            raise LocationError(location, "GitHub gave the App no installation token", transient=True)
        with self._lock:
            self._tokens[installation] = (token, expires if expires is not None else self._now() + 3600)
        return token

    def _installation_of(self, location: str, repository: str) -> str:
        with self._lock:
            known = self._installations.get(repository)
        if known is not None:
            return known
        reply = self._api.call(location, "GET", f"repos/{repository}/installation")
        installation = str(reply.get("id", ""))
        if not installation.isdigit():
            raise LocationError(location, "GitHub named no installation of the App on this repository")
        with self._lock:
            self._installations[repository] = installation
        return installation


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_APP_HINTS = {
    401: "GitHub refused the App's signature: check GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY",
    404: "The App is not installed on this repository: install it there (docs/locations.md)",
}
