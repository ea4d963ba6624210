"""The AWS adapter on recorded responses (botocore Stubber) and on moto."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import botocore.utils
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from bot.aws import (
    AccountClient,
    AwsBadCredentials,
    AwsGateway,
    AwsLimitExceeded,
    AwsNotFound,
    AwsPermissionDenied,
    AwsThrottled,
    AwsUnavailable,
    NewKey,
    partition_of_region,
    translate,
)
from bot.aws.sessions import _parse_timestamp
from bot.settings import Settings
from bot.settings.accounts import Account


class StubbedSession:
    """A session whose clients are stubbed with recorded responses."""

    region_name = "us-east-1"

    def __init__(self) -> None:
        self.iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
        self.stubber = Stubber(self.iam)

    def client(self, service: str, **_: object):
        assert service == "iam"
        return self.iam


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


def test_user_details_follows_every_page() -> None:
    session = StubbedSession()
    created = datetime(2025, 1, 1, tzinfo=UTC)
    allow_all = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'

    def user(name: str, owner: str, **extra) -> dict:
        return {
            "UserName": name,
            "UserId": "AIDA" + name.upper().ljust(16, "X")[:16],
            "Path": "/",
            "Arn": f"arn:aws:iam::123456789012:user/{name}",
            "CreateDate": created,
            "Tags": [{"Key": "owner", "Value": owner}],
            **extra,
        }

    # The group and the policy that make `a` an administrator come on the second page, after `a`.
    session.stubber.add_response(
        "get_account_authorization_details",
        {"UserDetailList": [user("a", "a@x", GroupList=["ops"])], "IsTruncated": True, "Marker": "m1"},
        {"Filter": ["User", "Group", "LocalManagedPolicy"], "MaxItems": 1000},
    )
    session.stubber.add_response(
        "get_account_authorization_details",
        {
            "UserDetailList": [
                user(
                    "b",
                    "b@x",
                    AttachedManagedPolicies=[{"PolicyName": "p", "PolicyArn": "arn:aws:iam::123456789012:policy/p"}],
                ),
                user("c", "U123"),
            ],
            "GroupDetailList": [
                {
                    "GroupName": "ops",
                    "GroupId": "AGPAOPSXXXXXXXXXXXXX",
                    "Path": "/",
                    "Arn": "arn:aws:iam::123456789012:group/ops",
                    "CreateDate": created,
                    "GroupPolicyList": [{"PolicyName": "everything", "PolicyDocument": allow_all}],
                }
            ],
            "Policies": [
                {
                    "PolicyName": "p",
                    "Arn": "arn:aws:iam::123456789012:policy/p",
                    "DefaultVersionId": "v2",
                    "PolicyVersionList": [
                        {"Document": allow_all, "VersionId": "v1", "IsDefaultVersion": False, "CreateDate": created},
                        {"Document": "{}", "VersionId": "v2", "IsDefaultVersion": True, "CreateDate": created},
                    ],
                }
            ],
            "IsTruncated": False,
        },
        {"Filter": ["User", "Group", "LocalManagedPolicy"], "Marker": "m1", "MaxItems": 1000},
    )
    with session.stubber:
        users = list(AccountClient("default", session).user_details())  # type: ignore[arg-type]
    assert [(u.name, u.tags["owner"]) for u in users] == [("a", "a@x"), ("b", "b@x"), ("c", "U123")]
    access = {u.name: u.access for u in users}
    assert access["a"].admin_reason == "inline policy `everything` allows `*` on `*`, through group `ops`"
    assert access["a"].groups == ("ops",) and access["a"].direct_policies == ()
    assert access["b"].admin_reason is None  # only an old version of `p` allowed everything
    assert access["b"].direct_policies == ("p",)
    assert access["c"].created == created
    session.stubber.assert_no_pending_responses()


def test_access_denied_names_the_permission() -> None:
    session = StubbedSession()
    session.stubber.add_client_error("list_access_keys", "AccessDenied", "User: x is not authorized")
    with session.stubber, pytest.raises(AwsPermissionDenied) as e:
        AccountClient("prod", session).list_access_keys("ci")  # type: ignore[arg-type]
    assert e.value.permission == "iam:ListAccessKeys"
    assert "`iam:ListAccessKeys`" in e.value.message and "`prod`" in e.value.message


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        ("NoSuchEntity", AwsNotFound, "Not found in account"),
        ("LimitExceeded", AwsLimitExceeded, "limit reached"),
        ("Throttling", AwsThrottled, "try again in a few minutes"),
        ("AccessDeniedException", AwsPermissionDenied, "secretsmanager:CreateSecret"),
    ],
)
def test_errors_become_domain_errors(code: str, kind: type, words: str) -> None:
    error = translate(_error(code, "CreateSecret"), "default", "secretsmanager")
    assert isinstance(error, kind)
    assert words in error.message


def test_connection_failure_is_unavailable() -> None:
    error = translate(EndpointConnectionError(endpoint_url="https://iam.amazonaws.com"), "default", "iam")
    assert isinstance(error, AwsUnavailable) and "Could not reach AWS for account `default`" in error.message


def test_new_key_never_shows_its_secret() -> None:
    key = NewKey("ci", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalr" not in repr(key) and "wJalr" not in str(key) and "wJalr" not in f"{key}"


def test_assumed_role_accounts_land_in_their_own_account(aws: None) -> None:
    gateway = AwsGateway(
        (
            Account("prod", "arn:aws:iam::111111111111:role/keywarden", "ext"),
            Account("dev", "arn:aws:iam::222222222222:role/keywarden"),
        )
    )
    assert gateway.account("prod").account_id() == "111111111111"
    assert gateway.account("dev").account_id() == "222222222222"
    assert gateway.account("prod") is gateway.account("prod")


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-28T09:30:00Z",
        "2026-11-28T09:30:00.000Z",
        "2026-11-28T10:30:00+01:00",
        1795858200,
    ],
)
def test_response_timestamps_parse_fast_and_like_botocore(raw: object) -> None:
    expected = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert _parse_timestamp(raw) == expected == botocore.utils.parse_timestamp(raw)
    assert _parse_timestamp(raw).utcoffset() is not None


def test_response_timestamps_without_offset_are_utc() -> None:
    assert _parse_timestamp("2026-11-28T09:30:00") == datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("InvalidClientTokenId", "invalid"),
        ("ExpiredToken", "expired"),
        ("ExpiredTokenException", "expired"),
    ],
)
def test_rejected_credentials_are_not_reported_as_a_missing_permission(code: str, state: str) -> None:
    error = translate(_error(code, "AssumeRole"), "gov", "sts")
    assert isinstance(error, AwsBadCredentials)
    assert f"rejected the credentials Keywarden uses for account `gov` as {state}" in error.message
    assert "no permission is missing" in error.message and "AWS_REGION" in error.message
    assert error.permission is None and "needs the" not in error.message


def test_assume_role_denied_points_at_hub_policy_and_trust_policy() -> None:
    error = translate(_error("AccessDenied", "AssumeRole"), "prod", "sts")
    assert isinstance(error, AwsPermissionDenied) and error.permission == "sts:AssumeRole"
    assert "docs/iam/hub-policy.json" in error.message and "trust policy" in error.message


class _Recorded:
    """A botocore `before-send` answer: records where each request went and replies from AWS's own XML."""

    ASSUME_ROLE = (
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLEEXAMPLE12</AccessKeyId>"
        "<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        "<AssumedRoleUser><AssumedRoleId>AROA:keywarden</AssumedRoleId><Arn>a</Arn></AssumedRoleUser>"
        "</AssumeRoleResult></AssumeRoleResponse>"
    )
    SUMMARY = (
        "<GetAccountSummaryResponse><GetAccountSummaryResult><SummaryMap><entry><key>Users</key><value>3</value>"
        "</entry></SummaryMap></GetAccountSummaryResult></GetAccountSummaryResponse>"
    )

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request, **_: object):
        from botocore.awsrequest import AWSResponse

        self.urls.append(request.url)
        body = self.ASSUME_ROLE if "sts." in request.url else self.SUMMARY

        class Raw:
            def stream(self, **_: object):
                yield body.encode()

        return AWSResponse(request.url, 200, {}, Raw())


@pytest.mark.parametrize(
    ("arn", "region", "sts_host", "iam_host"),
    [
        (
            "arn:aws-us-gov:iam::111111111111:role/keywarden",
            "us-gov-west-1",
            "sts.us-gov-west-1.amazonaws.com",
            "iam.us-gov.amazonaws.com",
        ),
        (
            "arn:aws-cn:iam::222222222222:role/keywarden",
            "cn-north-1",
            "sts.cn-north-1.amazonaws.com.cn",
            "iam.cn-north-1.amazonaws.com.cn",
        ),
    ],
)
def test_accounts_in_govcloud_and_china_are_called_in_their_partition(
    monkeypatch: pytest.MonkeyPatch, arn: str, region: str, sts_host: str, iam_host: str
) -> None:
    """AWS_REGION (which boto3 alone ignores) reaches sts:AssumeRole and every client; no us-east-1 fallback."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "ACCOUNTS": f"x={arn}", "AWS_REGION": region}
    )
    recorded = _Recorded()

    def factory() -> boto3.Session:
        session = boto3.Session()
        session.events.register("before-send", recorded)
        return session

    client = AwsGateway(settings.accounts, factory, region=settings.aws_region).account("x")
    client.client("iam").meta.events.register("before-send", recorded)
    assert client.account_summary() == {"Users": 3}
    hosts = [url.split("/")[2] for url in recorded.urls]
    assert hosts == [sts_host, iam_host]


def test_account_names_become_aliases_and_collisions_get_the_id() -> None:
    from bot.aws import OrgAccount, org_aliases, slug

    assert slug("Prod Payments (EU)") == "prod-payments-eu"
    assert slug("x" * 80) == "x" * 63
    found = org_aliases(
        [
            OrgAccount("111111111111", "Dev", "ACTIVE"),
            OrgAccount("222222222222", "dev", "ACTIVE"),
            OrgAccount("333333333333", "Ops", "ACTIVE"),
            OrgAccount("444444444444", "***", "ACTIVE"),
        ],
        taken={"ops"},
    )
    assert set(found) == {"dev-111111111111", "dev-222222222222", "ops-333333333333", "account"}


def test_aws_region_holds_whichever_call_makes_the_session_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The events queue (or the caller lookup) may be the first to need Keywarden's session: it still gets AWS_REGION."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    gateway = AwsGateway((Account("default"),), boto3.Session, region="eu-central-1")
    gateway.queue("https://sqs.eu-central-1.amazonaws.com/111111111111/keywarden-events")
    assert gateway.account("default").client("cloudtrail").meta.region_name == "eu-central-1"


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        (None, "aws"),
        ("eu-west-1", "aws"),
        ("us-gov-west-1", "aws-us-gov"),
        ("cn-northwest-1", "aws-cn"),
        ("cn-south-9", "aws-cn"),  # newer than botocore's data
    ],
)
def test_an_account_knows_its_partition_from_its_region(region: str | None, partition: str) -> None:
    session = boto3.Session(region_name=region, aws_access_key_id="t", aws_secret_access_key="t")
    assert partition_of_region(AccountClient("prod", session).region) == partition
