"""Vault KV version 2: `aws_access_key_id` and `aws_secret_access_key` in the secret at mount/path.

Through hvac (VAULT_ADDR, VAULT_TOKEN). A write reads the secret first and writes a new version holding its other
fields too, with check-and-set on the version read (a write by someone else in between is refused, not lost): the
token's policy needs create, read and update on `<mount>/data/<path>`.
"""

from __future__ import annotations

from typing import Any

import hvac
import requests
from hvac import exceptions
from hvac.exceptions import VaultError

from bot.domain.locations import Credentials, LocationError, LocationSpec
from bot.locations.base import TIMEOUT, Place, pair, refused, unreachable
from bot.logs import remember_secret

_STATUS = {
    exceptions.InvalidRequest: 400,
    exceptions.Unauthorized: 401,
    exceptions.Forbidden: 403,
    exceptions.InvalidPath: 404,
    exceptions.RateLimitExceeded: 429,
    exceptions.InternalServerError: 500,
    exceptions.VaultNotInitialized: 501,
    exceptions.BadGateway: 502,
    exceptions.VaultDown: 503,
}
HINTS = {
    401: "Vault refused the token: check VAULT_TOKEN (expired or revoked?)",
    400: "Vault refused the write (another version was written since it was read, or the mount is not KV version 2)",
    403: "The token's policy needs create, read and update on this path's data/ (docs/locations.md), or the token "
    "has expired: check VAULT_TOKEN",
    404: "No such mount",
}


def client(addr: str, token: str, timeout: float = TIMEOUT) -> hvac.Client:
    # hvac hands the timeout to requests, which takes seconds as a float (its stubs say int)
    return hvac.Client(url=addr.rstrip("/"), token=token, timeout=timeout)  # type: ignore[arg-type]


class VaultSecret(Place):
    """`vault: mount/path` (optional `mount` when the mount holds a `/`, `id_name`, `secret_name`)."""

    def __init__(self, spec: LocationSpec, vault: hvac.Client, *, timeout: float = TIMEOUT) -> None:
        super().__init__(spec)
        self._vault = vault
        self._timeout = timeout
        self._mount = spec.mount or spec.target.split("/", 1)[0]
        self._path = spec.target[len(self._mount) + 1 :]

    def _read(self) -> tuple[dict[str, Any], int]:
        """The secret's fields and version (({}, 0) when there is none yet)."""
        try:
            reply = self._vault.secrets.kv.v2.read_secret_version(
                path=self._path, mount_point=self._mount, raise_on_deleted_version=False
            )
        except VaultError as e:
            if isinstance(e, exceptions.InvalidPath):
                return {}, 0
            raise self._refused(e) from None
        except requests.RequestException as e:
            raise unreachable(self.describe(), e, self._timeout) from None
        data = (reply or {}).get("data") or {}
        fields = data.get("data") or {}
        version = (data.get("metadata") or {}).get("version") or 0
        return (fields if isinstance(fields, dict) else {}), int(version)

    def write(self, credentials: Credentials) -> None:
        remember_secret(credentials.secret)
        fields, version = self._read()
        id_name, secret_name = self.spec.names
        fields = {**fields, id_name: credentials.key_id, secret_name: credentials.secret}
        try:
            self._vault.secrets.kv.v2.create_or_update_secret(
                path=self._path, secret=fields, cas=version, mount_point=self._mount
            )
        except VaultError as e:
            raise self._refused(e) from None
        except requests.RequestException as e:
            raise unreachable(self.describe(), e, self._timeout) from None

    def recover(self) -> Credentials | None:
        fields, _ = self._read()
        id_name, secret_name = self.spec.names
        return pair(fields.get(id_name), fields.get(secret_name))

    def _refused(self, error: VaultError) -> LocationError:
        status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), None)
        said = "; ".join(str(e) for e in error.errors) if isinstance(error.errors, list) else str(error.errors or "")
        failure = refused(self.describe(), status, said, HINTS)
        if status == 400 and "check-and-set" in said:
            failure.transient = True  # written by someone else in between: read again and write
        return failure
