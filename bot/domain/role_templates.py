"""The parts of a replacing role's CloudFormation template that depend on what runs the work: who may assume the role
(its trust policy) and what else it needs (an OIDC provider, a Roles Anywhere trust anchor and profile, an Identity
Center permission set and assignment). Pure; bot/domain/replacement.py puts them together.

Each follows its service's guide: the service principals of Lambda, ECS tasks, EC2 and CodeBuild (ECS and CodeBuild
limited to the account with `aws:SourceAccount`, against the confused deputy); GitHub's OIDC provider
`token.actions.githubusercontent.com` with audience `sts.amazonaws.com` and `sub` limited to the repository; GitLab's
`gitlab.com` with audience `https://gitlab.com` and `sub` limited to the project; IAM Roles Anywhere's
`rolesanywhere.amazonaws.com` limited to the trust anchor and the certificate's common name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

PARTITION_ARN = "arn:${AWS::Partition}"
GITHUB_HOST = "token.actions.githubusercontent.com"
GITLAB_HOST = "gitlab.com"
POLICY_NAME = "work-of-the-replaced-key"
SESSION_TAG_ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
INLINE_POLICY_QUOTA = 10_240  # IAM: all inline policies of one role together, whitespace not counted


class Kind(StrEnum):
    LAMBDA = "lambda-execution-role"
    ECS_TASK = "ecs-task-role"
    INSTANCE_PROFILE = "ec2-instance-profile"
    CODEBUILD = "codebuild-service-role"
    GITHUB_OIDC = "github-actions-oidc-role"
    GITLAB_OIDC = "gitlab-oidc-role"
    ROLES_ANYWHERE = "iam-roles-anywhere"
    IDENTITY_CENTER = "identity-center-permission-set"


TITLES = {
    Kind.LAMBDA: "a Lambda execution role",
    Kind.ECS_TASK: "an ECS task role",
    Kind.INSTANCE_PROFILE: "an EC2 instance profile",
    Kind.CODEBUILD: "a CodeBuild service role",
    Kind.GITHUB_OIDC: "a GitHub Actions OIDC role",
    Kind.GITLAB_OIDC: "a GitLab CI OIDC role",
    Kind.ROLES_ANYWHERE: "an IAM Roles Anywhere role",
    Kind.IDENTITY_CENTER: "an IAM Identity Center permission set",
}
SERVICES = {
    Kind.LAMBDA: "lambda.amazonaws.com",
    Kind.ECS_TASK: "ecs-tasks.amazonaws.com",
    Kind.INSTANCE_PROFILE: "ec2.amazonaws.com",
    Kind.CODEBUILD: "codebuild.amazonaws.com",
}
CONFUSED_DEPUTY = frozenset({Kind.ECS_TASK, Kind.CODEBUILD})


def service_trust(kind: Kind) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": SERVICES[kind]},
        "Action": "sts:AssumeRole",
    }
    if kind in CONFUSED_DEPUTY:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def oidc_parameters(kind: Kind) -> tuple[dict[str, Any], dict[str, Any]]:
    github = kind is Kind.GITHUB_OIDC
    host = GITHUB_HOST if github else GITLAB_HOST
    audience = "sts.amazonaws.com" if github else f"https://{GITLAB_HOST}"
    subject = (
        {
            "GitHubRepository": {
                "Type": "String",
                "Description": "The repository whose workflows may assume the role, as owner/name",
                "AllowedPattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
            }
        }
        if github
        else {
            "GitLabProject": {
                "Type": "String",
                "Description": "The project whose pipelines may assume the role, as group/project",
                "AllowedPattern": "^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
            }
        }
    )
    parameters = subject | {
        "CreateOidcProvider": {
            "Type": "String",
            "Description": f"true when the account has no IAM OIDC provider for {host} yet (an account has one)",
            "AllowedValues": ["true", "false"],
            "Default": "false",
        }
    }
    provider = {
        "OidcProvider": {
            "Type": "AWS::IAM::OIDCProvider",
            "Condition": "CreateProvider",
            "Properties": {"Url": f"https://{host}", "ClientIdList": [audience]},
        }
    }
    return parameters, provider


def oidc_trust(kind: Kind) -> dict[str, Any]:
    github = kind is Kind.GITHUB_OIDC
    host = GITHUB_HOST if github else GITLAB_HOST
    audience = "sts.amazonaws.com" if github else f"https://{GITLAB_HOST}"
    subject = "repo:${GitHubRepository}:*" if github else "project_path:${GitLabProject}:*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Federated": {"Fn::Sub": f"{PARTITION_ARN}:iam::${{AWS::AccountId}}:oidc-provider/{host}"}
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{host}:aud": audience},
                    "StringLike": {f"{host}:sub": {"Fn::Sub": subject}},
                },
            }
        ],
    }


def roles_anywhere(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parameters = {
        "CertificateAuthority": {
            "Type": "String",
            "Description": "The PEM certificate of the CA that issues the machine's certificate (the trust anchor)",
        },
        "CommonName": {
            "Type": "String",
            "Description": "The common name (CN) of the machine's certificate: only it may assume the role",
        },
    }
    resources = {
        "TrustAnchor": {
            "Type": "AWS::RolesAnywhere::TrustAnchor",
            "Properties": {
                "Name": name,
                "Enabled": True,
                "Source": {
                    "SourceType": "CERTIFICATE_BUNDLE",
                    "SourceData": {"X509CertificateData": {"Ref": "CertificateAuthority"}},
                },
            },
        },
        "Profile": {
            "Type": "AWS::RolesAnywhere::Profile",
            "Properties": {"Name": name, "Enabled": True, "RoleArns": [{"Fn::GetAtt": ["Role", "Arn"]}]},
        },
    }
    return parameters, resources


def anywhere_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                "Action": SESSION_TAG_ACTIONS,
                "Condition": {
                    "StringEquals": {"aws:PrincipalTag/x509Subject/CN": {"Ref": "CommonName"}},
                    "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["TrustAnchor", "TrustAnchorArn"]}},
                },
            }
        ],
    }


def identity_center(
    name: str, policy: dict[str, Any], key_id: str, iam_user: str, account_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    account: dict[str, Any] = {
        "Type": "String",
        "Description": "The account the person works in (the key's account)",
        "AllowedPattern": "^[0-9]{12}$",
    }
    if account_id:
        account["Default"] = account_id
    parameters = {
        "InstanceArn": {
            "Type": "String",
            "Description": "The IAM Identity Center instance (aws sso-admin list-instances)",
            "AllowedPattern": "^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}$",
        },
        "PrincipalId": {"Type": "String", "Description": "The Identity Center user (or group) id of the person"},
        "PrincipalType": {"Type": "String", "AllowedValues": ["USER", "GROUP"], "Default": "USER"},
        "AccountId": account,
    }
    resources = {
        "PermissionSet": {
            "Type": "AWS::SSO::PermissionSet",
            "Properties": {
                "InstanceArn": {"Ref": "InstanceArn"},
                "Name": name,
                "Description": f"Replaces access key {key_id} of {iam_user}",
                "SessionDuration": "PT8H",
                **({"InlinePolicy": policy} if policy["Statement"] else {}),
            },
        },
        "Assignment": {
            "Type": "AWS::SSO::Assignment",
            "Properties": {
                "InstanceArn": {"Ref": "InstanceArn"},
                "PermissionSetArn": {"Fn::GetAtt": ["PermissionSet", "PermissionSetArn"]},
                "PrincipalId": {"Ref": "PrincipalId"},
                "PrincipalType": {"Ref": "PrincipalType"},
                "TargetId": {"Ref": "AccountId"},
                "TargetType": "AWS_ACCOUNT",
            },
        },
    }
    return parameters, resources
