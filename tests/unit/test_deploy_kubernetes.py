"""deploy/kubernetes/ builds with kustomize, every object is valid against the Kubernetes schema (offline), and the
processes run as the Procfile says: two web replicas with probes, one clock, migrations first, locked down."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest version still supported by the big managed services

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed: `kubectl kustomize` builds the base"
)


@cache
def built(folder: Path = BASE) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return tuple(yaml.safe_load_all(out.stdout))


def the(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in built() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines if line)}


def test_every_object_is_valid_against_the_kubernetes_schema() -> None:
    kinds = sorted(o["kind"] for o in built())
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    for obj in built():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_does_find_problems() -> None:
    """Not vacuous: a field the schema does not know, and a probe without a handler's port, are refused."""
    web = yaml.safe_load(yaml.safe_dump(the("Deployment", "keywarden-web")))
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)
    del web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"]
    del web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)


def test_web_runs_two_replicas_ready_on_healthz_alive_on_livez_after_the_migrations() -> None:
    web = the("Deployment", "keywarden-web")
    pod = web["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert web["spec"]["replicas"] == 2 and web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["command"] == ["sh", "-c", "exec " + procfile()["web"]]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert pod["terminationGracePeriodSeconds"] == 30
    (migrate,) = pod["initContainers"]
    assert " ".join(migrate["command"]) == procfile()["release"]
    service = the("Service", "keywarden-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert the("PodDisruptionBudget", "keywarden-web")["spec"]["minAvailable"] == 1


def test_one_clock_with_probes_on_its_metrics_port() -> None:
    clock = the("Deployment", "keywarden-clock")
    (container,) = clock["spec"]["template"]["spec"]["containers"]
    assert clock["spec"]["replicas"] == 1
    assert " ".join(container["command"]) == procfile()["clock"]
    assert {"name": "METRICS_PORT", "value": "9100"} in container["env"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}


def pods() -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in built() if o["kind"] == "Deployment"]


def test_settings_come_from_a_config_map_and_tokens_from_a_secret_that_is_not_shipped() -> None:
    (settings,) = [o for o in built() if o["kind"] == "ConfigMap"]
    assert settings["metadata"]["name"].startswith("keywarden-settings-")  # hashed: a change rolls the pods
    secrets = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_ADMIN_TOKEN", "DATABASE_URL", "AUDIT_WEBHOOK_SECRET"}
    assert not secrets & set(settings["data"])
    assert not [o for o in built() if o["kind"] == "Secret"]  # created by the operator, never in git
    for pod in pods():
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            assert container["envFrom"] == [
                {"configMapRef": {"name": settings["metadata"]["name"]}},
                {"secretRef": {"name": "keywarden-secrets"}},
            ]
    readme = (BASE / "README.md").read_text()
    assert "kubectl create secret generic keywarden-secrets" in readme


def test_pods_run_as_a_user_on_a_read_only_root_with_limits() -> None:
    for pod in pods():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
        assert pod["serviceAccountName"] == "keywarden"
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]


def test_the_aws_identity_is_the_service_accounts_and_documented() -> None:
    account = the("ServiceAccount", "keywarden")
    assert account["automountServiceAccountToken"] is False  # no Kubernetes API calls
    documented = (BASE / "serviceaccount.yaml").read_text() + (BASE / "README.md").read_text()
    assert "eks.amazonaws.com/role-arn" in documented  # IRSA
    assert "create-pod-identity-association" in documented  # EKS Pod Identity


def test_with_workers_web_only_records_and_workers_do_the_work() -> None:
    objects = built(BASE.parent / "kubernetes-workers")
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    (settings,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert settings["data"]["WORK_IN"] == "worker"
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert set(deployments) == {"keywarden-web", "keywarden-clock", "keywarden-worker"}
    worker = deployments["keywarden-worker"]["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert " ".join(container["command"]) == procfile()["worker"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert worker["terminationGracePeriodSeconds"] >= 20  # its drain on SIGTERM
