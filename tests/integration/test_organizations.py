"""Organizations discovery end to end on moto: an organisation of several accounts, some without Keywarden's role.

moto lets `sts:AssumeRole` into any role, existing or not. Real AWS refuses a role that does not exist in the
target account (AccessDenied, "is not authorized to perform: sts:AssumeRole on resource"). The session factory
given to Keywarden here restores that rule at the AWS edge: before each AssumeRole it asks the target account,
with iam:GetRole, whether the role exists there, and answers AWS's AccessDenied when it does not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from bot.bootstrap import Services, bootstrap
from bot.settings import Settings
from tests.conftest import base_env
from tests.support.accounts import client_in
from tests.support.flows import make_key

MANAGEMENT = "123456789012"  # moto's own account: the one that creates the organisation
ROLE = "keywarden"


def _in_account(account_id: str, service: str):
    return client_in(account_id, service, role="OrganizationAccountAccessRole", session="setup")


def _role_must_exist(params, **_):
    """AWS's rule, which moto skips: AssumeRole of a role the account does not have is denied."""
    arn = params.get("body", {}).get("RoleArn", "")
    account_id, role = arn.split(":")[4], arn.split(":role/")[-1].split("/")[-1]
    try:
        _in_account(account_id, "iam").get_role(RoleName=role)
    except _in_account(account_id, "iam").exceptions.NoSuchEntityException:
        response = AWSResponse("https://sts.amazonaws.com/", 403, {}, None)
        message = f"User: arn:aws:sts::{MANAGEMENT}:assumed-role/hub/keywarden is not authorized to perform: sts:AssumeRole on resource: {arn}"
        return response, {"Error": {"Code": "AccessDenied", "Message": message}}
    return None


def _deny(operation: str):
    def handler(**_):
        response = AWSResponse("https://organizations.us-east-1.amazonaws.com/", 400, {}, None)
        return response, {
            "Error": {"Code": "AccessDeniedException", "Message": "You don't have permissions to access this resource."}
        }

    return f"before-call.organizations.{operation}", handler


class Org:
    """An organisation in moto, built the way an administrator would."""

    def __init__(self) -> None:
        self.client = boto3.client("organizations", region_name="us-east-1")
        self.client.create_organization(FeatureSet="ALL")
        self.root = self.client.list_roots()["Roots"][0]["Id"]

    def account(self, name: str, *, role: bool = True, ou: str | None = None) -> str:
        email = f"{name.lower().replace(' ', '')}@example.com"
        account_id = self.client.create_account(AccountName=name, Email=email)["CreateAccountStatus"]["AccountId"]
        if role:
            _in_account(account_id, "iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({}))
        if ou:
            self.client.move_account(AccountId=account_id, SourceParentId=self.root, DestinationParentId=ou)
        return account_id

    def ou(self, name: str) -> str:
        return self.client.create_organizational_unit(ParentId=self.root, Name=name)["OrganizationalUnit"]["Id"]


@pytest.fixture
def org(aws: None) -> Org:
    return Org()


@pytest.fixture
def start(slack, database_url, clock) -> Iterator[Callable[..., Services]]:
    made: list[Services] = []

    def make(hooks: tuple = (), **env: str) -> Services:
        def session() -> boto3.Session:
            s = boto3.Session(region_name="us-east-1")
            s.events.register("before-call.sts.AssumeRole", _role_must_exist)
            for event, handler in hooks:
                s.events.register(event, handler)
            return s

        settings = Settings.from_env(base_env(slack, database_url, ORG_ROLE_NAME=ROLE, **env))
        services = bootstrap(settings, clock=clock, session_factory=session)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def _digest(slack) -> str:
    return json.dumps([c.params for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "CALERTS"])


def test_every_active_account_is_found_and_one_without_the_role_does_not_stop_the_others(
    org: Org, start, slack, clock
) -> None:
    prod = org.account("Prod Payments")
    org.account("Data (EU)")
    sandbox = org.account("Sandbox", role=False)
    iam = _in_account(prod, "iam")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    old = make_key(iam, "ci", 120, clock())
    services = start(ORG_EXCLUDE_ACCOUNTS=MANAGEMENT)

    assert sorted(services.aws.list_aliases()) == ["data-eu", "prod-payments", "sandbox"]
    assert services.aws.account("prod-payments").account_id() == prod
    report, delivery = services.scan(post=True)
    by_alias = {a.account: a for a in report.accounts}
    assert {f.key_id for f in by_alias["prod-payments"].findings} == {old}
    assert by_alias["data-eu"].error is None
    error = by_alias["sandbox"].error
    assert f"arn:aws:iam::{sandbox}:role/{ROLE}" in error and "role is missing" in error
    assert delivery.digest_posted
    digest = _digest(slack)
    assert "`sandbox` could not be scanned" in digest and "role is missing" in digest


def test_new_account_appears_in_next_scan_and_closed_one_leaves_with_a_digest_line(org: Org, start, slack) -> None:
    org.account("Prod")
    dev = org.account("Dev")
    services = start(ORG_EXCLUDE_ACCOUNTS=MANAGEMENT)
    first, _ = services.scan(post=True)
    assert [a.account for a in first.accounts] == ["prod", "dev"] and not first.notes

    org.account("Staging")
    org.client.close_account(AccountId=dev)
    second, _ = services.scan(post=True)
    assert sorted(a.account for a in second.accounts) == ["prod", "staging"]
    assert any(f"`dev` is no longer scanned: account {dev} is suspended" in n for n in second.notes)
    assert any("`staging`" in n for n in second.notes)
    assert f"account {dev} is suspended" in _digest(slack)


def test_account_names_collide_and_accounts_entries_win(org: Org, start) -> None:
    one = org.account("Dev")
    two = org.account("dev!")
    prod = org.account("Prod")
    services = start(
        ORG_EXCLUDE_ACCOUNTS=MANAGEMENT,
        # An ACCOUNTS entry for an organisation account replaces the discovered one (its own role and alias).
        ACCOUNTS=f"payments=arn:aws:iam::{prod}:role/{ROLE}",
    )
    assert sorted(services.aws.list_aliases()) == sorted(["payments", f"dev-{one}", f"dev-{two}"])
    assert services.aws.account(f"dev-{two}").account_id() == two


def test_accounts_alias_taken_by_an_org_account_name(org: Org, start) -> None:
    ops = org.account("Ops")
    services = start(ORG_EXCLUDE_ACCOUNTS=MANAGEMENT, ACCOUNTS=f"ops=arn:aws:iam::{MANAGEMENT}:role/{ROLE}")
    _in_account(MANAGEMENT, "iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    assert sorted(services.aws.list_aliases()) == sorted(["ops", f"ops-{ops}"])
    assert services.aws.account("ops").account_id() == MANAGEMENT


def test_listing_denied_names_the_permission_and_the_account(org: Org, start, slack) -> None:
    org.account("Prod")
    services = start(hooks=(_deny("ListAccounts"),))
    report, _ = services.scan(post=True)
    assert report.accounts == []
    [note] = report.notes
    assert "organizations:ListAccounts" in note and f"in account {MANAGEMENT}" in note
    assert "organizations:ListAccounts" in _digest(slack)


def test_a_management_role_that_cannot_be_assumed_is_named(org: Org, start, slack) -> None:
    org.account("Prod")
    arn = f"arn:aws:iam::{MANAGEMENT}:role/org-reader"  # never created
    services = start(ORG_MANAGEMENT_ROLE_ARN=arn)
    report, _ = services.scan(post=True)
    [note] = report.notes
    assert arn in note and "role is missing" in note
    assert report.accounts == []


def test_empty_organisation_scans_nothing_and_says_so(org: Org, start, slack) -> None:
    services = start(ORG_EXCLUDE_ACCOUNTS=MANAGEMENT)
    report, delivery = services.scan(post=True)
    assert report.accounts == [] and delivery.digest_posted
    assert any("no ACTIVE account" in n for n in report.notes)


def test_include_ous_keeps_their_subtrees_and_an_unknown_ou_is_a_start_up_warning(org: Org, start, caplog) -> None:
    workloads = org.ou("Workloads")
    org.account("Payments", ou=workloads)
    org.account("Playground")
    services = start(ORG_INCLUDE_OUS=workloads)
    assert services.aws.list_aliases() == ["payments"]
    assert services.aws.check_organization() == []

    wrong = start(ORG_INCLUDE_OUS=f"{workloads},ou-zzzz-zzzzzzzz")
    [warning] = wrong.aws.check_organization()
    assert "ou-zzzz-zzzzzzzz" in warning and workloads in warning and org.root in warning
    wrong.warm_up()
    assert "ou-zzzz-zzzzzzzz" in caplog.text


def test_include_ous_reads_the_tree_once_and_each_unit_once(org: Org, start) -> None:
    """Three included OUs, one inside another, in a tree of 4 OUs with 2 children each: ListRoots once,
    ListOrganizationalUnitsForParent once per unit (13), ListAccountsForParent once per included unit (6)."""
    top = [org.ou(f"Top {n}") for n in range(4)]
    children = {
        t: [
            org.client.create_organizational_unit(ParentId=t, Name=f"Child {n}")["OrganizationalUnit"]["Id"]
            for n in range(2)
        ]
        for t in top
    }
    payments = org.account("Payments", ou=top[0])
    nested = org.account("Nested", ou=top[0])
    org.client.move_account(AccountId=nested, SourceParentId=top[0], DestinationParentId=children[top[0]][1])
    org.account("Data", ou=top[1])
    org.account("Elsewhere", ou=top[2])
    calls: Counter[str] = Counter()

    def count(model, **_) -> None:
        calls[model.name] += 1

    services = start(
        hooks=(("before-call.organizations", count),), ORG_INCLUDE_OUS=f"{top[0]},{top[1]},{children[top[0]][1]}"
    )
    assert sorted(services.aws.list_aliases()) == ["data", "nested", "payments"]
    assert services.aws.account("payments").account_id() == payments
    assert calls == {"ListRoots": 1, "ListOrganizationalUnitsForParent": 13, "ListAccountsForParent": 6}


def test_commands_accept_a_discovered_account(org: Org, start, slack) -> None:
    from tests.support.harness import BotServer

    prod = org.account("Prod")
    _in_account(prod, "iam").create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    slack.add_user("UALICE", email="alice@example.com")
    bot = BotServer(start(ORG_EXCLUDE_ACCOUNTS=MANAGEMENT), slack)
    try:
        bot.command("create prod:ci", user_id="UALICE")
        assert "not an account" not in json.dumps([c.raw for c in slack.calls])
        assert slack.wait_for(lambda calls: [c for c in calls if c.params.get("channel") == "CAPPROVE"])
    finally:
        bot.stop()
