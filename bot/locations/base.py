"""What every location shares: the key as JSON, failures in words that name the place and never hold a secret,
and JSON over HTTP with a timeout (GitHub, Kubernetes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests

from bot.domain.locations import JSON_FIELDS, Credentials, LocationError, LocationSpec
from bot.logs import redact, remember_secret

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds to connect, and to wait for each answer
_DETAIL = 300  # characters of a server's own words kept in a message


class Place:
    """The parts of the Location protocol every kind shares: `describe`, and `read_back` from `recover`."""

    readable = True

    def __init__(self, spec: LocationSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> LocationSpec:
        return self._spec

    def describe(self) -> str:
        return self._spec.describe()

    def read_back(self) -> str | None:
        held = self.recover()
        return held.key_id if held is not None else None

    def recover(self) -> Credentials | None:  # pragma: no cover - every readable kind has its own
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def as_json(credentials: Credentials) -> str:
    """The key as SSM and Secrets Manager hold it: {"aws_access_key_id": …, "aws_secret_access_key": …}."""
    remember_secret(credentials.secret)
    return json.dumps(dict(zip(JSON_FIELDS, (credentials.key_id, credentials.secret), strict=True)))


def pair(key_id: object, secret: object) -> Credentials | None:
    """A key read back from a location: None unless both halves are there as text."""
    if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
        return None
    remember_secret(secret)
    return Credentials(key_id, secret)


def from_json(text: str | None) -> Credentials | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return pair(value.get(JSON_FIELDS[0]), value.get(JSON_FIELDS[1]))


def detail(text: str) -> str:
    """A server's own words, short, on one line, with any secret the bot handled redacted."""
    one_line = " ".join(str(text).split())
    return redact(one_line[:_DETAIL] + ("…" if len(one_line) > _DETAIL else ""))


def refused(location: str, status: int | None, said: str, hints: Mapping[int, str]) -> LocationError:
    """A location's answer as a LocationError: what it said and what to do, transient when trying again may help."""
    transient = status is None or status == 429 or status >= 500
    what = {
        401: "refused the credentials (401)",
        403: "refused permission (403)",
        404: "was not found (404)",
        409: "refused the write as a conflict (409)",
        422: "refused the value (422)",
        429: "asked to slow down (429); it is tried again later",
    }.get(status or 0, f"answered {status}" + ("; it is tried again later" if transient else ""))
    reason = what + (f": {detail(said)}" if said else "")
    hint = hints.get(status or 0)
    return LocationError(location, reason + (f". {hint}" if hint else ""), transient=transient, status=status)


def unreachable(location: str, error: Exception, timeout: float) -> LocationError:
    if isinstance(error, requests.Timeout):
        why = f"did not answer within {timeout:g} s"
    else:
        why = f"could not be reached ({type(error).__name__})"
    return LocationError(location, why + "; it is tried again later", transient=True)


class JsonApi:
    """JSON over HTTP to one service (thread-safe: one requests session, urllib3's pool)."""

    def __init__(
        self,
        base_url: str,
        headers: Callable[[], dict[str, str]],
        *,
        timeout: float = TIMEOUT,
        hints: Mapping[int, str] | None = None,
        session: requests.Session | None = None,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._headers = headers
        self.timeout = timeout
        self._hints = hints or {}
        self._session = session or requests.Session()
        self._verify = verify
        self._cert = cert

    def call(
        self,
        location: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        content_type: str = "application/json",
    ) -> Any:
        """The answer's JSON ({} when empty); None for a 404 when `missing_ok`; LocationError otherwise."""
        headers = {"Accept": "application/json", **self._headers()}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            reply = self._session.request(
                method,
                self.base_url + path.lstrip("/"),
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=self.timeout,
                verify=self._verify,
                cert=self._cert,
                allow_redirects=False,
            )
        except requests.RequestException as e:
            raise unreachable(location, e, self.timeout) from None
        if reply.status_code == 404 and missing_ok:
            return None
        if reply.status_code >= 300:
            raise refused(location, reply.status_code, _said(reply), self._hints)
        if not reply.content:
            return {}
        try:
            return reply.json()
        except ValueError:
            raise LocationError(location, "answered with something other than JSON", transient=True) from None


def _said(reply: requests.Response) -> str:
    """The message of an error answer: `message` of a JSON body (GitHub, Kubernetes), or its text."""
    try:
        body = reply.json()
    except ValueError:
        return reply.text
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("errors") or body)
    return str(body)
