"""A Kubernetes Secret over HTTP against a fake API server with RBAC: what a pod mounts, a Role for the one Secret,
creating it where allowed, how the cluster is reached (kubeconfig token, token file, exec plugin, in-cluster), and
refusals, errors and timeouts that name the place and hold no secret."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.aws import AwsGateway
from bot.domain.locations import LocationBook, LocationError, LocationSpec
from bot.locations import Locations, Reach, kubeconfig
from bot.locations.kubeconfig import ClusterAccess, KubeconfigError, cluster_access
from bot.locations.kubernetes import KubernetesSecret
from tests.support.fake_kubernetes import FakeKubernetes
from tests.support.locations import new_key, refused

TOKEN = "k8s-keywarden-token"


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes().start()
    fake.allow(TOKEN, "payments", "aws-creds", "get", "patch")  # the Role of docs/locations.md
    fake.allow(TOKEN, "ci", None, "get", "patch", "create")  # may create Secrets in `ci`
    fake.namespaces.add("billing")  # no Role there
    fake.secrets[("payments", "aws-creds")] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "aws-creds", "namespace": "payments", "resourceVersion": "1"},
        "data": {"region": "ZXUtd2VzdC0x"},  # eu-west-1, a key Keywarden leaves alone
    }
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def healed(cluster: FakeKubernetes) -> Iterator[None]:
    yield
    cluster.heal()


def write_kubeconfig(path: Path, server: str, user: dict) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ops",
        "contexts": [{"name": "ops", "context": {"cluster": "c", "user": "keywarden"}}],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "keywarden", "user": user}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def place(cluster: FakeKubernetes, target: str = "payments/aws-creds", token: str = TOKEN, timeout: float = 5):
    access = ClusterAccess(cluster.url, token=lambda: token)
    return KubernetesSecret(LocationSpec("kubernetes", target), access, timeout=timeout)


def test_a_pod_mounts_the_key_and_the_secrets_other_keys_stay(cluster: FakeKubernetes) -> None:
    location, key = place(cluster), new_key()
    location.write(key)
    assert cluster.mounted("payments", "aws-creds") == {
        "region": "eu-west-1",
        "aws_access_key_id": key.key_id,
        "aws_secret_access_key": key.secret,
    }
    assert cluster.patch_types[-1] == "application/merge-patch+json"
    assert location.read_back() == key.key_id and location.recover() == key
    assert location.describe() == "Kubernetes payments/aws-creds"


def test_a_secret_that_does_not_exist_is_created_where_the_role_allows(
    cluster: FakeKubernetes, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    location = place(cluster, "ci/deployer")
    assert location.read_back() is None
    location.write(key)
    assert cluster.mounted("ci", "deployer") == {"aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret}
    assert cluster.secrets[("ci", "deployer")]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "keywarden"}
    cluster.allow(TOKEN, "payments", "aws-other", "get", "patch")
    with refused(key, "Kubernetes payments/aws-other", caplog) as caught:
        place(cluster, "payments/aws-other").write(key)  # named in a Role, but not there: create is not allowed
    assert caught[0].status == 403 and "create on secrets" in caught[0].reason


@pytest.mark.parametrize(
    ("target", "token", "status", "words"),
    [
        ("billing/aws-creds", TOKEN, 403, "get and patch on this Secret"),
        ("nowhere/aws-creds", TOKEN, 403, "resourceNames"),
        ("payments/aws-creds", "expired", 401, "service account token or KUBECONFIG"),
    ],
)
def test_a_refusal_names_the_place_and_what_to_grant(
    cluster: FakeKubernetes, caplog: pytest.LogCaptureFixture, target: str, token: str, status: int, words: str
) -> None:
    key = new_key()
    with refused(key, f"Kubernetes {target}", caplog) as caught:
        place(cluster, target, token).write(key)
    assert caught[0].status == status and not caught[0].transient and words in caught[0].reason


def test_a_missing_namespace_is_named(cluster: FakeKubernetes, caplog: pytest.LogCaptureFixture) -> None:
    cluster.allow(TOKEN, "gone", None, "get", "patch", "create")
    cluster.namespaces.discard("gone")
    key = new_key()
    with refused(key, "Kubernetes gone/aws-creds", caplog) as caught:
        place(cluster, "gone/aws-creds").write(key)
    assert caught[0].status == 404 and 'namespaces "gone" not found' in caught[0].reason


def test_server_errors_and_timeouts_are_transient(cluster: FakeKubernetes, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    cluster.fail(503, {"kind": "Status", "message": "etcdserver: request timed out"})
    with refused(key, "Kubernetes payments/aws-creds", caplog) as caught:
        place(cluster).write(key)
    assert caught[0].transient and caught[0].status == 503 and "etcdserver" in caught[0].reason
    release = cluster.hang()
    with refused(key, "Kubernetes payments/aws-creds", caplog) as caught:
        place(cluster, timeout=0.2).read_back()
    release.set()
    assert caught[0].transient and caught[0].reason.startswith("did not answer within 0.2 s")


def test_kubeconfig_with_a_token_a_token_file_or_an_exec_plugin(cluster: FakeKubernetes, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": TOKEN}}
    plugin = {"command": sys.executable, "args": ["-c", f"print({json.dumps(json.dumps(credential))})"]}
    for user in ({"token": TOKEN}, {"tokenFile": "token"}, {"exec": plugin}):
        path = write_kubeconfig(tmp_path / "config", cluster.url, user)
        access = cluster_access(str(path), env={})
        key = new_key()
        KubernetesSecret(LocationSpec("kubernetes", "payments/aws-creds"), access).write(key)
        assert cluster.mounted("payments", "aws-creds")["aws_access_key_id"] == key.key_id, user


def test_in_a_cluster_the_service_account_is_used(
    cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text(TOKEN)
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", tmp_path)
    access = cluster_access(None, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert access.server == "https://10.0.0.1:443" and access.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert access.verify is True  # no ca.crt mounted: the system's CAs
    with pytest.raises(KubeconfigError, match="not in a cluster and KUBECONFIG is not set"):
        cluster_access(None, env={})


def test_a_kubeconfig_keywarden_cannot_use_is_one_line_naming_the_place(tmp_path: Path) -> None:
    spec = LocationSpec("kubernetes", "payments/aws-creds")
    broken = tmp_path / "config"
    broken.write_text("current-context: nowhere\ncontexts: []\n")
    locations = Locations(LocationBook(), Reach(kubeconfig=str(broken)), AwsGateway(()))
    with pytest.raises(LocationError, match=r"^Kubernetes payments/aws-creds: KUBECONFIG: no context named 'nowhere'"):
        locations.open("default", "ci", spec)
    missing = Locations(LocationBook(), Reach(kubeconfig=str(tmp_path / "absent")), AwsGateway(()))
    with pytest.raises(LocationError, match=r"cannot be read \(FileNotFoundError\)"):
        missing.open("default", "ci", spec)
