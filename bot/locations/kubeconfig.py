"""How Keywarden reaches the Kubernetes API: in a cluster, the pod's service account; outside, KUBECONFIG.

A kubeconfig's current context gives the server, its CA and the user: a token (or token file), a client
certificate and key, or an exec plugin (such as `aws eks get-token`) whose ExecCredential token is kept until it
expires. (The kubernetes client package does the same, but pulls in a large dependency tree whose python-dateutil
requirement botocore cannot share: docs/locations.md.)
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(ValueError):
    """The cluster cannot be reached as configured: one line saying why."""


@dataclass
class ClusterAccess:
    """The API server, how to trust it, and how to sign in (`token()` is read at each request: files rotate)."""

    server: str
    verify: bool | str = True
    cert: tuple[str, str] | None = None
    token: Callable[[], str | None] = field(default=lambda: None)

    def headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}


def cluster_access(kubeconfig: str | None, env: Mapping[str, str] | None = None) -> ClusterAccess:
    """In-cluster when KUBERNETES_SERVICE_HOST is set and the service account is mounted; else `kubeconfig`."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if host and (SERVICE_ACCOUNT / "token").is_file() and not kubeconfig:
        ca = SERVICE_ACCOUNT / "ca.crt"
        server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        return ClusterAccess(server, str(ca) if ca.is_file() else True, token=_file_token(SERVICE_ACCOUNT / "token"))
    if not kubeconfig:
        raise KubeconfigError("not in a cluster and KUBECONFIG is not set: set KUBECONFIG to a kubeconfig file")
    return from_kubeconfig(Path(kubeconfig.split(os.pathsep)[0]))


def from_kubeconfig(path: Path) -> ClusterAccess:
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KubeconfigError(f"KUBECONFIG {path} cannot be read ({type(e).__name__})") from None
    base = path.parent
    context = _named(config, "contexts", config.get("current-context"), "context")
    cluster = _named(config, "clusters", context.get("cluster"), "cluster")
    user = _named(config, "users", context.get("user"), "user") if context.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"KUBECONFIG {path}: the current context's cluster has no server URL")
    verify: bool | str = True
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster.get("certificate-authority-data"):
        verify = _material(cluster["certificate-authority-data"], "ca.crt")
    elif cluster.get("certificate-authority"):
        verify = str(base / cluster["certificate-authority"])
    cert = _client_cert(user, base)
    return ClusterAccess(server.rstrip("/"), verify, cert, _user_token(user, base))


def _named(config: dict[str, Any], section: str, name: object, kind: str) -> dict[str, Any]:
    for item in config.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(kind), dict):
            return item[kind]
    raise KubeconfigError(f"KUBECONFIG: no {kind} named {name!r} (the current context's)")


def _client_cert(user: dict[str, Any], base: Path) -> tuple[str, str] | None:
    if user.get("client-certificate-data") and user.get("client-key-data"):
        return _material(user["client-certificate-data"], "client.crt"), _material(
            user["client-key-data"], "client.key"
        )
    if user.get("client-certificate") and user.get("client-key"):
        return str(base / user["client-certificate"]), str(base / user["client-key"])
    return None


def _user_token(user: dict[str, Any], base: Path) -> Callable[[], str | None]:
    if isinstance(user.get("token"), str):
        token = user["token"]
        return lambda: token
    if isinstance(user.get("tokenFile"), str):
        return _file_token(base / user["tokenFile"])
    if isinstance(user.get("exec"), dict):
        return ExecToken(user["exec"])
    return lambda: None


def _file_token(path: Path) -> Callable[[], str | None]:
    def read() -> str | None:
        try:
            return path.read_text().strip() or None
        except OSError:
            return None

    return read


class ExecToken:
    """A kubeconfig exec plugin's token (client.authentication.k8s.io ExecCredential), kept until it expires."""

    def __init__(self, spec: dict[str, Any], now: Callable[[], float] = time.time) -> None:
        self._command = [str(spec.get("command", "")), *(str(a) for a in spec.get("args") or [])]
        self._env = {str(e["name"]): str(e["value"]) for e in spec.get("env") or [] if isinstance(e, dict)}
        self._now = now
        self._held: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            if self._held is not None and self._held[1] - 60 > self._now():
                return self._held[0]
            try:
                done = subprocess.run(
                    self._command, env={**os.environ, **self._env}, capture_output=True, timeout=60, check=True
                )
                status = json.loads(done.stdout).get("status", {})
            except (OSError, subprocess.SubprocessError, ValueError, AttributeError):
                raise KubeconfigError(f"the kubeconfig exec plugin `{self._command[0]}` gave no token") from None
            token = status.get("token")
            if not isinstance(token, str):
                raise KubeconfigError(f"the kubeconfig exec plugin `{self._command[0]}` gave no token")
            expires = status.get("expirationTimestamp")
            until = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() if expires else self._now() + 600
            self._held = (token, until)
            return token


_material_dir: str | None = None
_material_lock = threading.Lock()


def _material(data: str, name: str) -> str:
    """Base64 certificate or key data written to a private file (requests takes paths), removed at exit."""
    global _material_dir
    with _material_lock:
        if _material_dir is None:
            _material_dir = tempfile.mkdtemp(prefix="keywarden-kube-")
            atexit.register(shutil.rmtree, _material_dir, True)
        path = Path(_material_dir) / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(data))
        return str(path)
