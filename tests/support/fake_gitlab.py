"""GitLab's project CI/CD variables API (REST v4) on loopback.

`/api/v4/projects/{id or url-encoded path}/variables[/{key}]`: GET, POST (create; 400 when the key is taken in that
scope), PUT (update; 404 when missing), selected by `filter[environment_scope]`. The PRIVATE-TOKEN header is checked
(401 unknown, 403 for a token below Maintainer on the project, 404 for a project it cannot see), and masked values
follow GitLab's rule (8 characters or more of the base64 alphabet and @:.~-). `job_variables` is what a CI job sees.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from tests.support.fake_http import Answer, FakeService

_MASKABLE = re.compile(r"^[A-Za-z0-9+/=@:.~-]{8,}$")
_FIELDS = ("value", "masked", "protected", "raw", "variable_type", "environment_scope", "description")


class FakeGitLab(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.projects: dict[str, int] = {}  # path -> id
        self.tokens: dict[str, dict[str, str]] = {}  # token -> project path -> role
        self.variables: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, key, scope) -> variable

    def add_project(self, path: str, token: str | None = None, role: str = "maintainer") -> None:
        self.projects.setdefault(path, len(self.projects) + 1)
        if token is not None:
            self.tokens.setdefault(token, {})[path] = role

    def job_variables(
        self, project: str, environment: str | None = None, *, protected_ref: bool = True
    ) -> dict[str, str]:
        """The variables a CI job of this project sees: scope `*` or its environment; protected ones only on a
        protected branch or tag."""
        seen: dict[str, str] = {}
        for (path, key, scope), variable in sorted(self.variables.items(), key=lambda item: item[0][2] != "*"):
            if path != project or (variable["protected"] and not protected_ref):
                continue
            if scope == "*" or scope == environment:
                seen[key] = variable["value"]
        return seen

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        match = re.fullmatch(r"/api/v4/projects/([^/]+)/variables(?:/([^/]+))?", path)
        if match is None:
            return 404, {"message": "404 Not Found"}
        ident, key = unquote(match.group(1)), match.group(2)
        project = next((p for p, i in self.projects.items() if ident in (p, str(i))), None)
        roles = self.tokens.get(headers.get("private-token", ""))
        if roles is None:
            return 401, {"message": "401 Unauthorized"}
        if project is None or project not in roles:
            return 404, {"message": "404 Project Not Found"}
        if roles[project] not in ("maintainer", "owner"):
            return 403, {"message": "403 Forbidden"}
        scope = (query.get("filter[environment_scope]") or ["*"])[0]
        body = body or {}
        if method == "GET" and key:
            found = self.variables.get((project, key, scope))
            return (200, {"key": key, **found}) if found else (404, {"message": "404 Variable Not Found"})
        if method == "PUT" and key:
            found = self.variables.get((project, key, scope))
            if found is None:
                return 404, {"message": "404 Variable Not Found"}
            return self._store(project, key, {**found, **{f: body[f] for f in _FIELDS if f in body}}, scope)
        if method == "POST" and not key:
            key = body.get("key", "")
            scope = body.get("environment_scope", "*")
            if (project, key, scope) in self.variables:
                return 400, {"message": {"key": [f"({key}) has already been taken"]}}
            variable = {"masked": False, "protected": False, "raw": False, "environment_scope": "*"}
            return self._store(project, key, {**variable, **{f: body[f] for f in _FIELDS if f in body}}, None)
        return 405, {"message": "405 Method Not Allowed"}

    def _store(self, project: str, key: str, variable: dict[str, Any], old_scope: str | None) -> Answer:
        if variable.get("masked") and not _MASKABLE.match(str(variable.get("value", ""))):
            return 400, {"message": {"value": ["is invalid"]}}
        if old_scope is not None:
            del self.variables[(project, key, old_scope)]
        self.variables[(project, key, variable["environment_scope"])] = variable
        return (200 if old_scope is not None else 201), {"key": key, **variable}
