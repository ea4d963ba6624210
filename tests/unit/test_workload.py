"""A key's workload from its CloudTrail events: the place each call ran, the verdict and how sure it is, the IAM
actions its work needs; and the template of the role that replaces it, cfn-lint clean in every partition and
granting no action the key did not use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cfnlint.api import ManualArgs, lint

from bot.domain.iam_actions import iam_action
from bot.domain.ip_ranges import RangesError, parse_ranges
from bot.domain.replacement import Kind, granted_actions, replacement, role_name
from bot.domain.sessions import MintedSession
from bot.domain.workload import Confidence, Runner, describe, exec_env, place_of, profile
from tests.support.workloads import (
    BOTO_AGENT,
    CLI_AGENT,
    CODEBUILD_ADDRESS,
    EC2_ADDRESS,
    FARGATE_AGENT,
    GITHUB_ACTION_AGENT,
    LAMBDA_AGENT,
    OFFICE_ADDRESS,
    RUNNER_ADDRESS,
    calls,
    event,
    ranges,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = "AKIAWORKLOAD00000001"
PARTITION_REGIONS = ["us-east-1", "us-gov-west-1", "cn-north-1"]
S3_WORK = [("s3", "ListBuckets"), ("s3", "GetBucketLocation"), ("dynamodb", "PutItem"), ("sts", "GetCallerIdentity")]


def work(events, sessions=(), known=True):
    return profile(
        events, list(sessions), ranges() if known else None, key_id=KEY, start=NOW - timedelta(days=30), end=NOW
    )


def lint_clean(text: str) -> None:
    matches = lint(text, config=ManualArgs(regions=PARTITION_REGIONS))
    assert not matches, "\n".join(str(m) for m in matches)


def template_of(w, **kw):
    """The template, partition-aware; cfn-lint (a second or two each) runs once per kind of template, below."""
    r = replacement(w, "ci-deployer", **kw)
    text = json.dumps(r.template)
    assert "arn:aws:" not in text  # every ARN built with ${AWS::Partition}
    return r


def policy_actions(r) -> set[str]:
    resources = r.template["Resources"]
    if "PermissionSet" in resources:
        return granted_actions(resources["PermissionSet"]["Properties"].get("InlinePolicy", {}))
    policies = resources["Role"]["Properties"].get("Policies", [])
    return set().union(*(granted_actions(p["PolicyDocument"]) for p in policies)) if policies else set()


def test_the_ranges_file_places_addresses() -> None:
    r = ranges()
    assert r.find(CODEBUILD_ADDRESS).services >= {"CODEBUILD", "AMAZON"}  # the most specific range wins
    assert r.find(EC2_ADDRESS).services == {"EC2", "AMAZON"} and r.find(EC2_ADDRESS).region == "us-east-1"
    assert r.find("2600:1f18::10").region == "us-east-1"
    assert r.find(OFFICE_ADDRESS) is None and r.find("lambda.amazonaws.com") is None
    with pytest.raises(RangesError):
        parse_ranges({"prefixes": [{"ip_prefix": "not an address"}]})


def test_exec_env_is_read_from_the_sdk_user_agent() -> None:
    assert exec_env(FARGATE_AGENT) == "AWS_ECS_FARGATE"
    assert exec_env(CLI_AGENT) is None
    place = place_of(event(NOW, "GetObject", agent="aws-cli/2.13.5 exec-env/CloudShell prompt/off"), ranges())
    assert place.runner is Runner.CLOUDSHELL and place.sign == "exec-env/CloudShell"
    assert place_of(event(NOW, "x", agent=BOTO_AGENT, ip=CODEBUILD_ADDRESS), ranges()).runner is Runner.CODEBUILD


@pytest.mark.parametrize(
    "operation, action",
    [
        (("s3", "ListObjectsV2"), "s3:ListBucket"),
        (("s3", "ListBuckets"), "s3:ListAllMyBuckets"),
        (("lambda", "ListFunctions20150331"), "lambda:ListFunctions"),
        (("lambda", "GetFunction20150331v2"), "lambda:GetFunction"),
        (("monitoring", "PutMetricData"), "cloudwatch:PutMetricData"),
        (("sts", "GetCallerIdentity"), None),
        (("sts", "GetSessionToken"), None),
        (("ec2", "DescribeInstances"), "ec2:DescribeInstances"),
    ],
)
def test_cloudtrail_operations_as_iam_actions(operation, action) -> None:
    assert iam_action(*operation) == action


def test_a_lambda_key() -> None:
    w = work(calls(NOW, 60, S3_WORK))
    assert w.runner is Runner.LAMBDA and w.confidence is Confidence.ALL and w.replaceable
    assert describe(w) == "all 60 calls from AWS Lambda in us-east-1"
    r = template_of(w)
    assert r.kind is Kind.LAMBDA and r.role_name == role_name("ci-deployer") == "ci-deployer-role"
    trust = r.template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert policy_actions(r) == {"s3:ListAllMyBuckets", "s3:GetBucketLocation", "dynamodb:PutItem"} == set(w.actions)


def test_an_ecs_key_refused_calls_are_not_granted() -> None:
    events = calls(NOW, 40, [("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage")], agent=FARGATE_AGENT)
    events.append(event(NOW, "DeleteQueue", "sqs", agent=FARGATE_AGENT, error="AccessDenied"))
    w = work(events)
    assert w.runner is Runner.ECS_FARGATE and w.confidence is Confidence.ALL and w.denied == ("sqs:DeleteQueue",)
    r = template_of(w)
    assert r.kind is Kind.ECS_TASK and policy_actions(r) == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    trust = r.template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_a_github_actions_key() -> None:
    events = [
        event(NOW - timedelta(hours=h), "GetCallerIdentity", "sts", agent=GITHUB_ACTION_AGENT, ip=RUNNER_ADDRESS)
        for h in range(1, 10)
    ]
    events += calls(
        NOW,
        30,
        [("s3", "PutObject"), ("cloudfront", "CreateInvalidation2020_05_31")],
        agent=CLI_AGENT,
        ip=RUNNER_ADDRESS,
    )
    w = work(events)
    assert w.runner is Runner.GITHUB_ACTIONS and w.confidence is Confidence.ALL and w.replaceable
    r = template_of(w)
    assert r.kind is Kind.GITHUB_OIDC and r.parameters == ("GitHubRepository",)
    assert policy_actions(r) == {"s3:PutObject", "cloudfront:CreateInvalidation"}
    condition = r.template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    assert condition["StringLike"] == {
        "token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:*"}
    }


def test_an_office_address() -> None:
    w = work(calls(NOW, 25, [("ec2", "DescribeInstances"), ("s3", "ListBuckets")], agent=CLI_AGENT, ip=OFFICE_ADDRESS))
    assert w.runner is Runner.PERSON and w.confidence is Confidence.ALL and not w.replaceable
    r = template_of(w, account_id="123456789012")
    assert r.kind is Kind.IDENTITY_CENTER and r.role_name == "ci-deployer-role"
    assert policy_actions(r) == {"ec2:DescribeInstances", "s3:ListAllMyBuckets"}
    machine = template_of(work(calls(NOW, 5, [("s3", "PutObject")], agent=BOTO_AGENT, ip=OFFICE_ADDRESS)))
    assert machine.kind is Kind.ROLES_ANYWHERE and set(machine.parameters) == {"CertificateAuthority", "CommonName"}


def test_a_mixed_key() -> None:
    events = calls(NOW, 40, [("s3", "GetBucketLocation")]) + calls(
        NOW, 20, [("ec2", "DescribeVpcs")], agent=CLI_AGENT, ip=OFFICE_ADDRESS
    )
    w = work(events)
    assert w.runner is Runner.LAMBDA and w.confidence is Confidence.MIXED and not w.replaceable
    assert describe(w) == "mixed: 40 of 60 calls from AWS Lambda in us-east-1; 20 from a person outside AWS"
    assert set(w.actions) == {"s3:GetBucketLocation", "ec2:DescribeVpcs"}
    r = template_of(w)
    assert policy_actions(r) == {"s3:GetBucketLocation"}  # the Lambda's role: what the Lambda called


def test_sessions_the_key_minted() -> None:
    """Calls through a GetSessionToken session are the key's work; through an assumed role they are the role's, and
    only the AssumeRole itself is the key's (granted on that role, partition-aware)."""
    own = MintedSession("ASIAOWN0000000000001", "sts:GetSessionToken", NOW, KEY, None)
    role = "arn:aws:iam::123456789012:role/deployer"
    assumed = MintedSession("ASIAROLE000000000001", "sts:AssumeRole", NOW, KEY, None, role_arn=role)
    events = [
        event(NOW, "AssumeRole", "sts"),
        event(NOW, "PutItem", "dynamodb", session=own.key_id),
        event(NOW, "TerminateInstances", "ec2", session=assumed.key_id),
    ]
    w = work(events, [own, assumed])
    assert set(w.actions) == {"sts:AssumeRole", "dynamodb:PutItem"} and w.assumed_roles == (role,)
    r = template_of(w)
    statements = r.template["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assume = next(s for s in statements if s["Action"] == "sts:AssumeRole")
    assert assume["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::123456789012:role/deployer"}]
    assert "ec2:TerminateInstances" not in policy_actions(r)


def test_no_ranges_no_guess_and_no_calls() -> None:
    w = work(calls(NOW, 5, [("s3", "PutObject")], agent=BOTO_AGENT), known=False)
    assert w.runner is Runner.UNKNOWN and not w.replaceable and not w.ranges_known
    empty = work([])
    assert empty.confidence is Confidence.NONE and not empty.replaceable
    assert describe(empty).startswith("no calls")
    r = template_of(empty)  # a role that may do nothing, still a valid template
    assert policy_actions(r) == set()


@pytest.mark.parametrize(
    "agent, ip, kind",
    [
        (BOTO_AGENT, EC2_ADDRESS, Kind.INSTANCE_PROFILE),
        (BOTO_AGENT, CODEBUILD_ADDRESS, Kind.CODEBUILD),
        ("aws-sdk-go/1.0 app/gitlab-ci", OFFICE_ADDRESS, Kind.GITLAB_OIDC),
        ("aws-cli/2.13.5 exec-env/AWS_ECS_EC2", EC2_ADDRESS, Kind.ECS_TASK),
        (LAMBDA_AGENT, EC2_ADDRESS, Kind.LAMBDA),
        (GITHUB_ACTION_AGENT, RUNNER_ADDRESS, Kind.GITHUB_OIDC),
        (CLI_AGENT, OFFICE_ADDRESS, Kind.IDENTITY_CENTER),
        (BOTO_AGENT, OFFICE_ADDRESS, Kind.ROLES_ANYWHERE),
    ],
    ids=["ec2", "codebuild", "gitlab", "ecs-on-ec2", "lambda", "github", "person", "machine"],
)
def test_every_kind_of_template_is_clean(agent, ip, kind) -> None:
    r = template_of(work(calls(NOW, 3, [("s3", "PutObject")], agent=agent, ip=ip)))
    assert r.kind is kind and policy_actions(r) == {"s3:PutObject"}
    lint_clean(r.template_text())


def test_cfn_lint_would_catch_a_broken_template() -> None:
    """The lint above is not vacuous: a template with a property the role does not have is reported."""
    r = replacement(work(calls(NOW, 3, S3_WORK)), "ci-deployer")
    r.template["Resources"]["Role"]["Properties"]["Colour"] = "red"
    assert lint(r.template_text(), config=ManualArgs(regions=PARTITION_REGIONS))
