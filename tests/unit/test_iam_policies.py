"""The shipped IAM policies grant exactly the actions Keywarden's code calls, no more, no fewer."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.aws import KMS_ON_BEHALF, AwsGateway
from bot.domain.operations import REQUEST_OPERATIONS
from bot.settings.accounts import Account
from tests.support.cfn_render import IAM_INLINE_POLICY_QUOTA, Renderer, load, policy_size, role_inline_policies
from tests.support.iam_actions import (
    ROOT,
    code_actions,
    granted_actions,
    load_json,
    resources_of,
    statements,
    template_actions,
)

IAM_DOCS = ROOT / "docs" / "iam"
HUB = IAM_DOCS / "hub-policy.json"
MEMBER = IAM_DOCS / "member-policy.json"
TRUST = IAM_DOCS / "member-trust-policy.json"
IDENTITY_POLICIES = {"hub": HUB, "member": MEMBER}


def _called() -> dict[str, list[str]]:
    """What the code calls, and what AWS checks on Keywarden's behalf when it does (KMS, for a delivered key under a
    customer managed key: bot/aws/secret_stores.py)."""
    return code_actions().actions | {action: [why] for action, why in KMS_ON_BEHALF.items()}


def _difference_report(called: dict[str, list[str]], granted: dict[str, set[str]]) -> list[str]:
    everything = set().union(*granted.values())
    problems = [
        f"the code calls {action} ({', '.join(called[action])}) but no policy grants it: add it to "
        "docs/iam/member-policy.json (calls in a member account) or docs/iam/hub-policy.json (calls as "
        "Keywarden's own identity)"
        for action in sorted(set(called) - everything)
    ]
    problems += [
        f"{name} policy grants {action}, which the code never calls: remove it"
        for name, actions in sorted(granted.items())
        for action in sorted(actions - set(called))
    ]
    return problems


def test_policies_grant_exactly_the_actions_the_code_calls() -> None:
    scan = code_actions()
    assert not scan.unreadable, "AWS calls the policy test cannot read:\n" + "\n".join(scan.unreadable)
    assert "iam:ListAccessKeys" in scan.actions and "sts:AssumeRole" in scan.actions  # the scan sees the adapter
    granted = {name: granted_actions(load_json(path)) for name, path in IDENTITY_POLICIES.items()}
    problems = _difference_report(scan.actions | _called(), granted)
    assert not problems, "\n".join(problems)


def test_unused_actions_are_gone() -> None:
    granted = set().union(*(granted_actions(load_json(p)) for p in IDENTITY_POLICIES.values()))
    assert not granted & {"iam:ListUsers", "iam:ListUserTags", "secretsmanager:DescribeSecret"}
    assert not (ROOT / "docs" / "iam-policy.json").exists()


def test_a_new_aws_call_without_a_policy_fails_naming_the_action(tmp_path: Path) -> None:
    """The scan reads every form an AWS call takes in the adapter; a call the policies lack is named."""
    module = tmp_path / "adapter.py"
    module.write_text(
        "import boto3\n"
        "class Client:\n"
        "    def events(self):\n"
        '        return self._pages("cloudtrail", "lookup_events", "Events")\n'
        "    def receive(self, session):\n"
        '        sqs = session.client("sqs")\n'
        "        return sqs.send_message(QueueUrl='q', MessageBody='m')\n"
        "    def advisor(self):\n"
        '        return self.client("iam").generate_service_last_accessed_details(Arn="a")\n'
        "    def accounts(self, session):\n"
        '        self.org = session.client("organizations")\n'
        '        return self.org.get_paginator("list_accounts").paginate()\n'
        "    def odd(self, whatever):\n"
        '        self.client("sqs")\n'
        "        return whatever.delete_message(QueueUrl='q')\n"
    )
    scan = code_actions([module])
    assert set(scan.actions) == {
        "cloudtrail:LookupEvents",
        "sqs:SendMessage",
        "iam:GenerateServiceLastAccessedDetails",
        "organizations:ListAccounts",
    }
    assert scan.unreadable == [f"{module}:15: whatever.delete_message(...)"]
    granted = {name: granted_actions(load_json(path)) for name, path in IDENTITY_POLICIES.items()}
    problems = _difference_report(scan.actions, granted)
    assert any(p.startswith(f"the code calls sqs:SendMessage ({module}:7) but no policy grants it") for p in problems)


@pytest.fixture
def counted_session() -> tuple[Counter[str], Any]:
    """A boto3 session counting every API call its clients make, by "service:Operation"."""
    seen: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        seen[f"{model.service_model.service_name}:{model.name}"] += 1

    def factory() -> boto3.Session:
        session = boto3.Session()
        session.events.register("before-call", count)
        return session

    return seen, factory


def test_every_call_the_adapter_really_makes_is_one_the_scan_found(aws: None, counted_session) -> None:
    """Run the adapter's calls against moto and compare what botocore sent with what the scan derived."""
    seen, factory = counted_session
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="ci")
    gateway = AwsGateway(
        (Account("default"), Account("prod", "arn:aws:iam::111111111111:role/keywarden", "ext")), factory
    )
    for alias in ("default", "prod"):
        client = gateway.account(alias)
        client.account_id()
        if alias == "prod":
            client.client("iam").create_user(UserName="ci")
            client.calls.clear()
        list(client.user_details())
        assert client.user_exists("ci")
        key = client.create_access_key("ci")
        client.list_access_keys("ci")
        client.key_last_used(key.key_id)
        client.key_owner_account(key.key_id)
        client.account_summary()
        client.generate_credential_report()
        client.generate_credential_report()
        client.get_credential_report()
        client.set_key_status("ci", key.key_id, "Inactive")
        client.delete_access_key("ci", key.key_id)
        client.store_secret(f"keywarden/{alias}/ci", "{}", "test")
        client.store_secret(f"keywarden/{alias}/ci", "{}", "test")
        seen.update(client.calls)
    derived = set(code_actions().actions)
    made = {call for call in seen if call != "iam:CreateUser"}
    assert "sts:AssumeRole" in made and "secretsmanager:PutSecretValue" in made
    assert made <= derived, f"calls the scan did not find: {sorted(made - derived)}"


def test_hub_assumes_only_the_configured_roles() -> None:
    hub, member = load_json(HUB), load_json(MEMBER)
    roles = resources_of(hub, "sts:AssumeRole")
    example = re.search(r"^# ACCOUNTS=(.+)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert example, ".env.example shows an ACCOUNTS example"
    configured = [part.split("=", 1)[1].split("|")[0] for part in example.group(1).split(",")]
    assert roles == configured  # exact ARNs, as in ACCOUNTS: no wildcard
    assert all("*" not in arn for arn in roles)
    assert "sts:AssumeRole" not in granted_actions(member)  # member roles assume nothing further


def test_trust_policy_trusts_one_identity_with_an_external_id() -> None:
    (statement,) = list(statements(load_json(TRUST)))
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    principal = statement["Principal"]["AWS"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", principal), principal
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"]


@pytest.mark.parametrize("partition", ["aws-us-gov", "aws-cn"])
def test_policies_work_in_other_partitions_by_one_documented_substitution(partition: str) -> None:
    """docs/iam/README.md: replace `arn:aws:` with `arn:<partition>:`; that must reach every ARN."""
    readme = (IAM_DOCS / "README.md").read_text()
    assert f"s/arn:aws:/arn:{partition}:/g" in readme
    for path in [HUB, MEMBER, TRUST]:
        text = path.read_text().replace("arn:aws:", f"arn:{partition}:")
        arns = re.findall(r'"(arn:[^"]*)"', text)
        assert arns, path
        assert all(arn.startswith(f"arn:{partition}:") for arn in arns), (path, arns)


TEMPLATES = ROOT / "deploy" / "aws"


def _template(name: str) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, problems = decode(str(TEMPLATES / name))
    assert not problems, problems
    return template


def test_templates_grant_exactly_the_actions_the_code_calls() -> None:
    """deploy/aws/ grants what docs/iam/ grants, template by template, and together what the code calls."""
    hub, member = template_actions(_template("hub.yaml")), template_actions(_template("member-role.yaml"))
    assert hub == granted_actions(load_json(HUB)), "deploy/aws/hub.yaml and docs/iam/hub-policy.json differ"
    assert member == granted_actions(load_json(MEMBER)), (
        "deploy/aws/member-role.yaml and docs/iam/member-policy.json differ"
    )
    problems = _difference_report(_called(), {"hub.yaml": hub, "member-role.yaml": member})
    assert not problems, "\n".join(problems)


def test_member_role_template_trusts_the_hub_role_with_an_external_id() -> None:
    role = _template("member-role.yaml")["Resources"]["KeywardenRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"]["AWS"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:role/${HubRoleName}"
    }
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}


def test_every_action_an_operation_declares_is_called_and_granted_in_member_accounts() -> None:
    """The operation registry's `permissions` are true: the code calls each, and the member policy grants each."""
    called = code_actions().actions
    member = granted_actions(load_json(MEMBER))
    for spec in REQUEST_OPERATIONS.values():
        assert spec.permissions, f"{spec.name} declares no IAM action"
        for action in spec.permissions:
            assert action in called, f"{spec.name} declares {action}, which the code never calls"
            assert action in member, f"{spec.name} needs {action}, which docs/iam/member-policy.json does not grant"


def _hub(**parameters: str) -> dict[str, Any]:
    return Renderer(load(TEMPLATES / "hub.yaml"), parameters).resources()


def _ids(n: int) -> list[str]:
    return [f"{100000000000 + 7919 * i:012d}" for i in range(n)]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {  # everything the hub role can hold at once
            "OrganizationId": "o-a1b2c3d4e5",
            "DiscoverOrganization": "true",
            "OrgManagementRoleArn": "arn:aws:iam::123456789012:role/keywarden-organization",
            "EventsQueueName": "keywarden-events",
        },
    ],
    ids=["accounts", "everything"],
)
def test_hub_role_fits_iams_inline_policy_quota_at_200_accounts(extra: dict[str, str]) -> None:
    """IAM refuses a role whose inline policies total over 10,240 characters (CreateStack fails): the
    member accounts fill one condition, not one policy each."""
    accounts = _ids(200)
    resources = _hub(MemberAccountIds=",".join(accounts), **extra)
    policies = role_inline_policies(resources, "HubRole")
    total = sum(policy_size(p) for p in policies.values())
    assert total <= IAM_INLINE_POLICY_QUOTA, f"{total} characters at 200 accounts"
    (statement,) = policies["assume-keywarden"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole" and statement["Resource"] == "arn:aws:iam::*:role/keywarden"
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": accounts}}  # these, no others


def test_hub_role_in_an_organisation_is_bound_to_it_whatever_its_size() -> None:
    policies = role_inline_policies(_hub(OrganizationId="o-a1b2c3d4e5", DiscoverOrganization="true"), "HubRole")
    assert "assume-keywarden" not in policies  # no account listed
    for name in ("assume-keywarden-in-organization", "discover-organization"):
        (assume,) = [s for s in statements(policies[name]) if s["Action"] == "sts:AssumeRole"]
        assert assume["Resource"] == "arn:aws:iam::*:role/keywarden"
        assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}, name


def test_hub_assumes_the_org_management_role_only_when_given() -> None:
    arn = "arn:aws-us-gov:iam::123456789012:role/keywarden-organization"
    policies = role_inline_policies(_hub(DiscoverOrganization="true", OrgManagementRoleArn=arn), "HubRole")
    (statement,) = policies["assume-org-management-role"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole" and statement["Resource"] == arn
    # The listing happens as the management role, so the hub itself lists nothing.
    assert not {a for p in policies.values() for a in granted_actions(p) if a.startswith("organizations:")}

    policies = role_inline_policies(_hub(DiscoverOrganization="true"), "HubRole")
    assert "assume-org-management-role" not in policies
    assert "organizations:ListAccounts" in granted_actions(policies["discover-organization"])
    (assume,) = [s for s in statements(policies["discover-organization"]) if s["Action"] == "sts:AssumeRole"]
    assert "Condition" not in assume  # no OrganizationId given


def test_org_management_role_grants_exactly_the_organizations_calls_the_code_makes() -> None:
    """deploy/aws/org-management-role.yaml and docs/iam/org-management-policy.json: the Organizations calls of
    bot/aws/organizations.py, no more, no fewer; the role trusts the hub role, with ORG_EXTERNAL_ID when given."""
    called = {a for a in code_actions().actions if a.startswith("organizations:")}
    assert called == {
        "organizations:ListAccounts",
        "organizations:ListRoots",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListAccountsForParent",
    }
    template = load(TEMPLATES / "org-management-role.yaml")
    assert template_actions(template) == called
    assert granted_actions(load_json(IAM_DOCS / "org-management-policy.json")) == called
    for external_id, condition in [("", None), ("ext-1234", {"StringEquals": {"sts:ExternalId": "ext-1234"}})]:
        role = Renderer(template, {"HubAccountId": "999999999999", "ExternalId": external_id}).resources()
        (trust,) = role["OrganizationReaderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": "arn:aws:iam::999999999999:role/keywarden-hub"}
        assert trust.get("Condition") == condition
