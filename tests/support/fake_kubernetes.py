"""The Kubernetes API's core/v1 Secrets on loopback, with bearer tokens and RBAC as a Role grants it.

GET, PATCH (`application/merge-patch+json`: a `null` value removes a key) and POST (create; 409 when it exists) of
`/api/v1/namespaces/{namespace}/secrets[/{name}]`, answering Status objects as the API server does. Each token has
rules `(namespace, name or None for any, verbs)`; a missing namespace is 404. `mounted` is what a pod that mounts
the Secret reads: the decoded data.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.support.fake_http import Answer, FakeService


def status(code: int, reason: str, message: str) -> Answer:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeKubernetes(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.namespaces: set[str] = set()
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.rules: dict[str, list[tuple[str, str | None, set[str]]]] = {}  # token -> rules
        self.patch_types: list[str] = []

    def allow(self, token: str, namespace: str, name: str | None, *verbs: str) -> None:
        self.namespaces.add(namespace)
        self.rules.setdefault(token, []).append((namespace, name, set(verbs)))

    def mounted(self, namespace: str, name: str) -> dict[str, str]:
        data = self.secrets[(namespace, name)].get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def _may(self, token: str, verb: str, namespace: str, name: str | None) -> bool:
        return any(
            ns == namespace and (allowed is None or allowed == name) and verb in verbs
            for ns, allowed, verbs in self.rules.get(token, [])
        )

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        match = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?", path)
        if match is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        namespace, name = match.groups()
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.rules:
            return status(401, "Unauthorized", "Unauthorized")
        verb = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update"}.get(method, "?")
        if not self._may(token, verb, namespace, name):
            return status(
                403,
                "Forbidden",
                f'secrets "{name or ""}" is forbidden: User "system:serviceaccount:keywarden:keywarden" cannot {verb} '
                f'resource "secrets" in API group "" in the namespace "{namespace}"',
            )
        if namespace not in self.namespaces:
            return status(404, "NotFound", f'namespaces "{namespace}" not found')
        if method == "GET" and name:
            found = self.secrets.get((namespace, name))
            return (200, found) if found else status(404, "NotFound", f'secrets "{name}" not found')
        if method == "PATCH" and name:
            self.patch_types.append(headers.get("content-type", ""))
            found = self.secrets.get((namespace, name))
            if found is None:
                return status(404, "NotFound", f'secrets "{name}" not found')
            if headers.get("content-type") != "application/merge-patch+json":
                return status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
            data = {**(found.get("data") or {}), **((body or {}).get("data") or {})}
            found["data"] = {k: v for k, v in data.items() if v is not None}
            found["metadata"]["resourceVersion"] = str(int(found["metadata"]["resourceVersion"]) + 1)
            return 200, found
        if method == "POST" and not name:
            body = body or {}
            name = (body.get("metadata") or {}).get("name", "")
            if (namespace, name) in self.secrets:
                return status(409, "AlreadyExists", f'secrets "{name}" already exists')
            body.setdefault("metadata", {})["resourceVersion"] = "1"
            self.secrets[(namespace, name)] = body
            return 201, body
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
