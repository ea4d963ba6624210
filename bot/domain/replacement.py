"""The role that replaces a key, chosen from its workload, as a CloudFormation template. Pure.

The role's policy grants exactly the actions the key's successful calls needed in the window (bot/domain/
workload.py), on every resource (`*`: CloudTrail's event history does not say which resources every call touched;
narrow them where you know them), plus `sts:AssumeRole` on the roles the key assumed. Every ARN is built with
`${AWS::Partition}`, so one template deploys in `aws`, `aws-us-gov` and `aws-cn`. Trust, per runner:

- Lambda, ECS, EC2, CodeBuild: the service's principal (ECS and CodeBuild limited to this account with
  `aws:SourceAccount`, as their user guides advise against the confused deputy); EC2 gets an instance profile.
- GitHub Actions: the account's OIDC provider for `token.actions.githubusercontent.com`, audience `sts.amazonaws.com`
  and `sub` limited to the repository (`repo:<owner>/<repo>:*`), as GitHub's and IAM's guides require.
- GitLab CI: the provider for `gitlab.com`, audience `https://gitlab.com`, `sub` limited to the project
  (`project_path:<group>/<project>:*`).
- A machine outside AWS: IAM Roles Anywhere (a trust anchor on the team's CA, a profile, the role limited to the
  certificate's common name).
- A person: an IAM Identity Center permission set with the same policy, assigned in this account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.domain.keys import KeyFacts
from bot.domain.role_templates import (
    PARTITION_ARN,
    POLICY_NAME,
    SERVICES,
    TITLES,
    Kind,
    anywhere_trust,
    identity_center,
    oidc_parameters,
    oidc_trust,
    roles_anywhere,
    service_trust,
)
from bot.domain.workload import Runner, Workload

__all__ = ["TITLES", "Kind", "ReplaceResult", "Replacement", "replacement"]

_BY_RUNNER = {
    Runner.LAMBDA: Kind.LAMBDA,
    Runner.ECS_FARGATE: Kind.ECS_TASK,
    Runner.ECS_EC2: Kind.ECS_TASK,
    Runner.EC2: Kind.INSTANCE_PROFILE,
    Runner.AWS: Kind.INSTANCE_PROFILE,
    Runner.CODEBUILD: Kind.CODEBUILD,
    Runner.GITHUB_ACTIONS: Kind.GITHUB_OIDC,
    Runner.GITLAB: Kind.GITLAB_OIDC,
    Runner.MACHINE: Kind.ROLES_ANYWHERE,
    Runner.UNKNOWN: Kind.ROLES_ANYWHERE,
    Runner.PERSON: Kind.IDENTITY_CENTER,
    Runner.CLOUDSHELL: Kind.IDENTITY_CENTER,
}


@dataclass(frozen=True)
class Replacement:
    kind: Kind
    role_name: str  # the role Keywarden watches when the key is retired (Identity Center: the permission set)
    template: dict[str, Any]
    parameters: tuple[str, ...]  # parameters without a default: to be given at deployment
    policy_chars: int = 0  # the policy's size as IAM counts it (whitespace aside): a role's inline ones total 10,240

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def template_text(self) -> str:
        return json.dumps(self.template, indent=2) + "\n"


@dataclass(frozen=True)
class ReplaceResult:
    """`replace <key-id>`: the key's workload, what replaces it, and whether its template reached the caller's DM."""

    account: str
    user: str
    key: KeyFacts
    workload: Workload
    replacement: Replacement
    filename: str
    file_sent: bool
    notes: tuple[str, ...]  # what could not be read, and what CloudTrail's event history cannot show
    days: int


def kind_for(workload: Workload, password_enabled: bool | None = None) -> Kind:
    """What replaces the key: by the place most of its calls come from; a key with no calls, by its user (a console
    user is a person)."""
    if workload.runner is None or workload.runner is Runner.AWS_SERVICE:
        return Kind.IDENTITY_CENTER if password_enabled else Kind.ROLES_ANYWHERE
    return _BY_RUNNER[workload.runner]


def role_name(iam_user: str) -> str:
    """The replacing role's name: the user's, so that `retire` knows what to watch (64 characters at most)."""
    return f"{iam_user[:59]}-role"


def permission_set_name(iam_user: str) -> str:
    """An Identity Center permission set's name (32 characters at most); its role in the account is
    `AWSReservedSSO_<name>_<suffix>`."""
    return f"{iam_user[:27]}-role"


def policy_document(workload: Workload) -> dict[str, Any]:
    """The actions the key used from the place the role replaces it (all of them, when it runs in one place), one
    statement per service, every resource; AssumeRole on the roles it assumed."""
    by_service: dict[str, list[str]] = {}
    for action in workload.main_actions:
        if action == "sts:AssumeRole" and workload.assumed_roles:
            continue  # granted on the roles themselves, below
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    statements: list[dict[str, Any]] = [
        {"Sid": _sid(service), "Effect": "Allow", "Action": actions, "Resource": "*"}
        for service, actions in sorted(by_service.items())
    ]
    if workload.assumed_roles and "sts:AssumeRole" in workload.main_actions:
        statements.append(
            {
                "Sid": "AssumeTheRolesTheKeyAssumed",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": [_partition_aware(arn) for arn in workload.assumed_roles],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def granted_actions(document: dict[str, Any]) -> set[str]:
    """Every action a policy document allows (for checking a template against the workload)."""
    found: set[str] = set()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        found.update([actions] if isinstance(actions, str) else actions)
    return found


def replacement(
    workload: Workload,
    iam_user: str,
    *,
    password_enabled: bool | None = None,
    account_id: str | None = None,
) -> Replacement:
    """The template for the role (or permission set) that takes over the key's workload."""
    kind = kind_for(workload, password_enabled)
    document = policy_document(workload)
    policy = _sub_arns(document)
    name = permission_set_name(iam_user) if kind is Kind.IDENTITY_CENTER else role_name(iam_user)
    parameters: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    role: dict[str, Any] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "Description": f"Replaces the access key {workload.key_id} of IAM user {iam_user}",
            "AssumeRolePolicyDocument": None,
            "Tags": [{"Key": "replaces-access-key", "Value": workload.key_id}],
        },
    }
    if policy["Statement"]:  # a key that did nothing in the window gets a role that may do nothing
        role["Properties"]["Policies"] = [{"PolicyName": POLICY_NAME, "PolicyDocument": policy}]
    if kind in SERVICES:
        role["Properties"]["AssumeRolePolicyDocument"] = service_trust(kind)
        resources["Role"] = role
        if kind is Kind.INSTANCE_PROFILE:
            resources["InstanceProfile"] = {
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": {"InstanceProfileName": name, "Roles": [{"Ref": "Role"}]},
            }
            outputs["InstanceProfileArn"] = {"Value": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}}
    elif kind in (Kind.GITHUB_OIDC, Kind.GITLAB_OIDC):
        parameters, provider = oidc_parameters(kind)
        role["Properties"]["AssumeRolePolicyDocument"] = oidc_trust(kind)
        resources |= {"Role": role, **provider}
    elif kind is Kind.ROLES_ANYWHERE:
        parameters, anywhere = roles_anywhere(name)
        role["Properties"]["AssumeRolePolicyDocument"] = anywhere_trust()
        resources |= {"Role": role, **anywhere}
        outputs["ProfileArn"] = {"Value": {"Fn::GetAtt": ["Profile", "ProfileArn"]}}
        outputs["TrustAnchorArn"] = {"Value": {"Fn::GetAtt": ["TrustAnchor", "TrustAnchorArn"]}}
    else:
        parameters, resources = identity_center(name, policy, workload.key_id, iam_user, account_id)
    if "Role" in resources:
        outputs["RoleArn"] = {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{TITLES[kind][0].upper()}{TITLES[kind][1:]} that replaces access key {workload.key_id} "
        f"of {iam_user}, with the actions the key used",
    }
    if parameters:
        template["Parameters"] = parameters
    if any("Condition" in r for r in resources.values()):
        template["Conditions"] = {"CreateProvider": {"Fn::Equals": [{"Ref": "CreateOidcProvider"}, "true"]}}
    template["Resources"] = resources
    template["Outputs"] = outputs
    required = tuple(n for n, spec in parameters.items() if "Default" not in spec)
    size = len(json.dumps(document, separators=(",", ":")))
    return Replacement(kind, name, template, required, size)


def _sid(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace("_", "-").split("-"))


def _partition_aware(arn: str) -> str:
    """`arn:aws:iam::1:role/x` as `arn:${AWS::Partition}:iam::1:role/x`: the ARN where the template is deployed."""
    parts = arn.split(":", 2)
    return f"{PARTITION_ARN}:{parts[2]}" if len(parts) == 3 and parts[0] == "arn" else arn


def _sub_arns(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each partition-aware ARN as `Fn::Sub`, which CloudFormation fills in."""
    statements = []
    for statement in document["Statement"]:
        resource = statement["Resource"]
        if isinstance(resource, list):
            statement = statement | {"Resource": [{"Fn::Sub": r} if "${" in r else r for r in resource]}
        statements.append(statement)
    return document | {"Statement": statements}
