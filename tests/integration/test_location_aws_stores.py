"""SSM Parameter Store and Secrets Manager locations: against moto (what a consumer reads, KMS keys, regions, reading
back) and against a loopback AWS JSON endpoint for what moto cannot do (refusals, server errors, throttling, stalls),
each naming the place and holding no secret; the calls made are the ones the IAM policy test reads in the code."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from functools import cache

import boto3
import pytest

from bot.aws import AwsGateway
from bot.domain.locations import LocationBook, LocationSpec
from bot.locations import Locations, Reach
from bot.logs import install_secret_redaction
from bot.settings.accounts import Account
from tests.support.fake_aws_json import FakeAwsJson
from tests.support.iam_actions import code_actions
from tests.support.locations import assert_secret_absent, new_key, refused

SSM = LocationSpec("ssm", "/ci/deployer/aws")
SECRET = LocationSpec("secretsmanager", "ci/deployer")


@cache
def called() -> frozenset[str]:
    """The IAM actions the policy test reads in the code (read once: it parses every AWS module)."""
    return frozenset(code_actions().actions)


@pytest.fixture(autouse=True)
def redaction() -> None:
    """As bootstrap does: botocore logs every request's parameters at DEBUG, the parameter's value included."""
    install_secret_redaction()


def locations(timeout: float = 10) -> tuple[Locations, AwsGateway]:
    gateway = AwsGateway((Account("default"),))
    return Locations(LocationBook(), Reach(timeout=timeout), gateway), gateway


def consumer_json(reply: str) -> dict[str, str]:
    return json.loads(reply)


def test_ssm_holds_a_securestring_a_consumer_reads_and_keywarden_reads_back(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    places, gateway = locations()
    location, key, newer = places.open("default", "ci-deployer", SSM), new_key(), new_key()
    assert location.read_back() is None
    with caplog.at_level(logging.DEBUG):
        location.write(key)
        location.write(newer)  # overwritten: the next rotation
        assert location.read_back() == newer.key_id and location.recover() == newer
    ssm = boto3.client("ssm", region_name="us-east-1")
    parameter = ssm.get_parameter(Name="/ci/deployer/aws", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Version"] == 2
    assert consumer_json(parameter["Value"]) == {
        "aws_access_key_id": newer.key_id,
        "aws_secret_access_key": newer.secret,
    }
    described = ssm.describe_parameters()["Parameters"][0]
    assert described["Description"] == "Access key of IAM user ci-deployer, delivered by Keywarden"
    for sent in (key, newer):
        assert_secret_absent(caplog.text, sent)
    assert location.describe() == "SSM /ci/deployer/aws"
    made = set(gateway.account("default").calls)
    assert made == {"ssm:PutParameter", "ssm:GetParameter"} and made <= called()


def test_ssm_with_a_kms_key_in_another_region(aws: None) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/ci", TargetKeyId=key_id)
    places, _ = locations()
    spec = LocationSpec("ssm", "/ci/deployer/aws", kms_key="alias/ci", region="eu-west-1")
    location, key = places.open("default", "ci", spec), new_key()
    location.write(key)
    assert location.describe() == "SSM /ci/deployer/aws (eu-west-1)"
    ssm = boto3.client("ssm", region_name="eu-west-1")
    assert ssm.describe_parameters()["Parameters"][0]["KeyId"] == "alias/ci"
    assert location.read_back() == key.key_id
    assert boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"] == []


def test_secrets_manager_is_created_then_given_new_versions(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    places, gateway = locations()
    location, key, newer = places.open("default", "ci-deployer", SECRET), new_key(), new_key()
    assert location.recover() is None
    with caplog.at_level(logging.DEBUG):
        location.write(key)
        location.write(newer)
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    current = secrets.get_secret_value(SecretId="ci/deployer")["SecretString"]
    assert consumer_json(current) == {"aws_access_key_id": newer.key_id, "aws_secret_access_key": newer.secret}
    assert location.read_back() == newer.key_id
    assert secrets.describe_secret(SecretId="ci/deployer")["Description"].startswith(
        "Access key of IAM user ci-deployer"
    )
    for sent in (key, newer):
        assert_secret_absent(caplog.text, sent)
    made = set(gateway.account("default").calls)
    assert made == {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"}
    assert made <= called()


def test_a_value_that_is_not_a_key_reads_back_as_nothing(aws: None) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/ci/deployer/aws", Value="x", Type="String")
    places, _ = locations()
    assert places.open("default", "ci", SSM).recover() is None


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeAwsJson]:
    fake = FakeAwsJson().start()
    yield fake
    fake.stop()


@pytest.fixture
def faulty(endpoint: FakeAwsJson, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAwsJson]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", endpoint.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint.url)
    yield endpoint
    endpoint.heal()


@pytest.mark.parametrize("spec", [SSM, SECRET], ids=["ssm", "secretsmanager"])
def test_a_refused_permission_names_the_place_and_the_action(
    faulty: FakeAwsJson, caplog: pytest.LogCaptureFixture, spec: LocationSpec
) -> None:
    action = "ssm:PutParameter" if spec.kind == "ssm" else "secretsmanager:CreateSecret"
    key = new_key()
    faulty.fail_with(400, "AccessDeniedException", f"User is not authorized to perform: {action}")
    with refused(key, spec.describe(), caplog) as caught:
        locations()[0].open("default", "ci", spec).write(key)
    assert not caught[0].transient and f"AWS denied `{action}`" in caught[0].reason


def test_with_a_kms_key_a_refusal_says_what_kms_needs(faulty: FakeAwsJson, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    spec = LocationSpec("ssm", "/ci/deployer/aws", kms_key="alias/ci")
    faulty.fail_with(400, "AccessDeniedException", "not authorized to perform: kms:Encrypt")
    with refused(key, spec.describe(), caplog) as caught:
        locations()[0].open("default", "ci", spec).write(key)
    assert "kms:Encrypt, kms:GenerateDataKey and kms:Decrypt" in caught[0].reason


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerError"), (400, "ThrottlingException")], ids=["error", "throttled"]
)
def test_server_errors_and_throttling_are_transient_and_sent_once(
    faulty: FakeAwsJson, caplog: pytest.LogCaptureFixture, status: int, code: str
) -> None:
    key = new_key()
    faulty.fail_with(status, code, "try later", times=5)
    faulty.requests.clear()
    with refused(key, "SSM /ci/deployer/aws", caplog) as caught:
        locations()[0].open("default", "ci", SSM).write(key)
    assert caught[0].transient and "tried again later" in caught[0].reason
    assert len(faulty.requests) == 1  # no botocore retries: the rotation tries again, with its own backoff


def test_a_stalled_endpoint_is_a_transient_timeout(faulty: FakeAwsJson, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    release = faulty.hang()
    with refused(key, "Secrets Manager ci/deployer", caplog) as caught:
        locations(timeout=0.3)[0].open("default", "ci", SECRET).write(key)
    release.set()
    assert caught[0].transient and "Could not reach AWS" in caught[0].reason
