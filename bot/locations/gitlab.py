"""GitLab CI/CD variables of a project: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, masked and protected.

Through python-gitlab (GITLAB_URL, GITLAB_TOKEN). A variable is updated where it exists (in its environment scope)
and created otherwise; masked (never printed in job logs), protected (only protected branches and tags see it) and
raw (no `$` expansion). Readable: a token that may write variables may read them.
"""

from __future__ import annotations

from typing import Literal

import gitlab
import requests
from gitlab.exceptions import GitlabError

from bot.domain.locations import Credentials, LocationError, LocationSpec
from bot.locations.base import Place, refused, unreachable
from bot.logs import remember_secret

HINTS = {
    401: "GitLab refused the token: check GITLAB_TOKEN (revoked or expired?)",
    403: "The token needs the `api` scope and the Maintainer role on this project (docs/locations.md)",
    404: "No such project, or the token cannot see it: check the file and the token's project",
    400: "GitLab refused the variable (a masked value must be 8 characters or more of the base64 alphabet)",
}


def client(url: str, token: str, timeout: float) -> gitlab.Gitlab:
    """One python-gitlab client for every project (its requests session is shared)."""
    return gitlab.Gitlab(url.rstrip("/"), private_token=token, timeout=timeout, retry_transient_errors=False)


class GitLabVariables(Place):
    """`gitlab: group/project` (optional `environment` as the variables' scope, `id_name`, `secret_name`)."""

    def __init__(self, spec: LocationSpec, gl: gitlab.Gitlab) -> None:
        super().__init__(spec)
        self._gl = gl
        self._scope = spec.environment or "*"

    def _variables(self):  # -> ProjectVariableManager
        return self._gl.projects.get(self.spec.target, lazy=True).variables

    def _filter(self) -> dict[str, str]:
        return {"filter[environment_scope]": self._scope}

    def write(self, credentials: Credentials) -> None:
        remember_secret(credentials.secret)
        id_name, secret_name = self.spec.names
        for name, value in ((id_name, credentials.key_id), (secret_name, credentials.secret)):
            data = {
                "value": value,
                "masked": True,
                "protected": True,
                "raw": True,
                "variable_type": "env_var",
                "environment_scope": self._scope,
            }
            with self._failures():
                try:
                    self._variables().update(name, data, query_data=self._filter())
                except GitlabError as e:
                    if e.response_code != 404:
                        raise
                    self._variables().create({"key": name, **data})

    def recover(self) -> Credentials | None:
        id_name, secret_name = self.spec.names
        values = []
        for name in (id_name, secret_name):
            with self._failures():
                try:
                    values.append(self._variables().get(name, query_data=self._filter()).value)
                except GitlabError as e:
                    if e.response_code != 404:
                        raise
                    return None
        held = values[1] if len(values) == 2 else None
        if isinstance(held, str):
            remember_secret(held)
        return Credentials(values[0], values[1]) if all(isinstance(v, str) and v for v in values) else None

    def _failures(self) -> _Translate:
        return _Translate(self.describe(), self._gl.timeout or 0)


class _Translate:
    """python-gitlab's and requests' exceptions as LocationErrors naming the location."""

    def __init__(self, location: str, timeout: float) -> None:
        self._location = location
        self._timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> Literal[False]:
        if error is None or isinstance(error, LocationError):
            return False
        if isinstance(error, GitlabError):
            raise refused(self._location, error.response_code, str(error.error_message), HINTS) from None
        if isinstance(error, requests.RequestException):
            raise unreachable(self._location, error, self._timeout) from None
        return False
