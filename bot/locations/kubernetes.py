"""A Kubernetes Secret: `data.aws_access_key_id` and `data.aws_secret_access_key` of namespace/name.

Plain HTTP to the API server (bot/locations/kubeconfig says how it is reached). The Secret is patched (JSON merge
patch: other keys stay), so a Role needs only get and patch on that one Secret; a Secret that does not exist yet is
created, which needs create on secrets in the namespace (a Role cannot name a Secret that does not exist).
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from binascii import Error as Base64Error

from bot.domain.locations import Credentials, LocationError, LocationSpec
from bot.locations.base import TIMEOUT, JsonApi, Place, pair
from bot.locations.kubeconfig import ClusterAccess, KubeconfigError
from bot.logs import remember_secret

HINTS = {
    401: "The API server refused Keywarden's credentials: check the service account token or KUBECONFIG",
    403: "Keywarden needs get and patch on this Secret (a Role with resourceNames: docs/locations.md); "
    "create on secrets to make it when it does not exist",
    404: "No such namespace",
}
MERGE_PATCH = "application/merge-patch+json"


class KubernetesSecret(Place):
    """`kubernetes: namespace/name` (optional `id_name`, `secret_name` for the two keys of its data)."""

    def __init__(self, spec: LocationSpec, access: ClusterAccess, *, timeout: float = TIMEOUT) -> None:
        super().__init__(spec)
        self._namespace, self._name = spec.target.split("/", 1)
        self._access = access
        self._api = JsonApi(
            access.server, self._headers, timeout=timeout, hints=HINTS, verify=access.verify, cert=access.cert
        )

    def _headers(self) -> dict[str, str]:
        try:
            return self._access.headers()
        except KubeconfigError as e:
            raise LocationError(self.describe(), str(e)) from None

    @property
    def _secrets(self) -> str:
        return f"api/v1/namespaces/{self._namespace}/secrets"

    def write(self, credentials: Credentials) -> None:
        remember_secret(credentials.secret)
        id_name, secret_name = self.spec.names
        data = {id_name: _b64(credentials.key_id), secret_name: _b64(credentials.secret)}
        where = self.describe()
        patched = self._api.call(
            where, "PATCH", f"{self._secrets}/{self._name}", {"data": data}, missing_ok=True, content_type=MERGE_PATCH
        )
        if patched is not None:
            return
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self._name,
                "namespace": self._namespace,
                "labels": {"app.kubernetes.io/managed-by": "keywarden"},
            },
            "type": "Opaque",
            "data": data,
        }
        self._api.call(where, "POST", self._secrets, secret)

    def recover(self) -> Credentials | None:
        found = self._api.call(self.describe(), "GET", f"{self._secrets}/{self._name}", missing_ok=True)
        if not isinstance(found, dict):
            return None
        data = found.get("data") or {}
        id_name, secret_name = self.spec.names
        try:
            return pair(_text(data.get(id_name)), _text(data.get(secret_name)))
        except (Base64Error, UnicodeDecodeError, TypeError):
            return None


def _b64(value: str) -> str:
    return b64encode(value.encode()).decode()


def _text(value: object) -> str | None:
    return b64decode(value, validate=True).decode() if isinstance(value, str) else None
