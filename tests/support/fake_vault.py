"""Vault's KV version 2 engine on loopback: `/v1/{mount}/data/{path}` with versions, check-and-set and ACL policies.

GET answers the latest version (`data.data`, `data.metadata.version`), 404 `{"errors": []}` when there is none; POST
or PUT `{"data": …, "options": {"cas": n}}` writes a new version (400 when cas is not the current version). The
X-Vault-Token is checked against its policy: `create` for a path with no version yet, `update` for one that has one,
`read` to read; 403 `permission denied` otherwise. An unknown mount answers 404 `no handler for route`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.fake_http import Answer, FakeService

DENIED = (403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})


class FakeVault(FakeService):
    def __init__(self, mounts: tuple[str, ...] = ("secret",)) -> None:
        super().__init__()
        self.mounts = set(mounts)
        self.versions: dict[str, list[dict[str, Any]]] = {}  # mount/data/path -> versions, oldest first
        self.policies: dict[str, dict[str, set[str]]] = {}  # token -> api path -> capabilities
        self.race_next_write: dict[str, Any] | None = None  # someone else's write, just before the next one

    def grant(self, token: str, path: str, *capabilities: str) -> None:
        self.policies.setdefault(token, {}).setdefault(path, set()).update(capabilities)

    def latest(self, path: str) -> dict[str, Any]:
        """What `vault kv get` shows of mount/path (path as a consumer writes it: secret/ci/deployer)."""
        mount, rest = next(
            (m, path[len(m) + 1 :]) for m in sorted(self.mounts, key=len, reverse=True) if path.startswith(m + "/")
        )
        return self.versions[f"{mount}/data/{rest}"][-1]

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        api = path.removeprefix("/v1/")
        mount = next((m for m in sorted(self.mounts, key=len, reverse=True) if api.startswith(m + "/data/")), None)
        if mount is None:
            return 404, {"errors": [f'no handler for route "{api}". route entry not found.']}
        policy = self.policies.get(headers.get("x-vault-token", ""))
        if policy is None:
            return DENIED
        versions = self.versions.get(api, [])
        if method == "GET":
            if "read" not in policy.get(api, set()):
                return DENIED
            if not versions:
                return 404, {"errors": []}
            version = len(versions)
            metadata = {"version": version, "created_time": datetime.now(UTC).isoformat(), "deletion_time": ""}
            return 200, {"data": {"data": versions[-1], "metadata": metadata}}
        if method in ("POST", "PUT"):
            needed = "update" if versions else "create"
            if needed not in policy.get(api, set()):
                return DENIED
            body = body or {}
            if self.race_next_write is not None:
                versions.append(self.race_next_write)
                self.versions[api], self.race_next_write = versions, None
            cas = (body.get("options") or {}).get("cas")
            if cas is not None and cas != len(versions):
                return 400, {"errors": ["check-and-set parameter did not match the current version"]}
            versions.append(dict(body.get("data") or {}))
            self.versions[api] = versions
            return 200, {"data": {"version": len(versions), "created_time": datetime.now(UTC).isoformat()}}
        return 405, {"errors": ["unsupported operation"]}
