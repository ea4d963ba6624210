"""Organizations discovery on plain data: which accounts a listing yields, what changed, and reading the list."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from bot.aws import AwsGateway, OrgAccount
from bot.aws.organizations import diff_accounts, role_account_id
from bot.settings.accounts import Account, Organization

ORG = Organization(role_name="KeywardenMember", exclude_accounts=frozenset({"999999999999"}))
PAYMENTS = OrgAccount("111111111111", "Payments", "ACTIVE")
DATA = OrgAccount("222222222222", "Data", "ACTIVE")


def _role(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:role/KeywardenMember"


def test_active_accounts_join_the_configured_ones_through_the_member_role() -> None:
    hub = Account("hub", "arn:aws-us-gov:iam::333333333333:role/Hub")
    listed = [
        PAYMENTS,
        OrgAccount("333333333333", "Hub account", "ACTIVE"),  # named in ACCOUNTS: that entry wins
        OrgAccount("444444444444", "Closing", "PENDING_CLOSURE"),
        OrgAccount("999999999999", "Excluded", "ACTIVE"),
    ]
    accounts, changes = diff_accounts((hub,), {}, listed, ORG, "aws-us-gov", first=True)
    assert accounts == {"hub": hub, "payments": Account("payments", _role(PAYMENTS.id, "aws-us-gov"))}
    assert (changes.added, changes.removed, changes.warnings) == ([], {}, [])  # the first listing adds nothing


def test_a_later_listing_names_what_came_and_why_each_account_left() -> None:
    before = {
        "payments": Account("payments", _role(PAYMENTS.id)),
        "old": Account("old", _role("555555555555")),
        "closed": Account("closed", _role("666666666666")),
        "excluded": Account("excluded", _role("999999999999")),
    }
    listed = [
        PAYMENTS,
        DATA,
        OrgAccount("666666666666", "Closed", "SUSPENDED"),
        OrgAccount("999999999999", "Excluded", "ACTIVE"),
    ]
    accounts, changes = diff_accounts((), before, listed, ORG, "aws", first=False)
    assert list(accounts) == ["payments", "data"]
    assert changes.added == ["data"]
    assert changes.removed == {
        "old": "account 555555555555 has left the organisation or was filtered out",
        "closed": "account 666666666666 is suspended in AWS Organizations",
        "excluded": "account 999999999999 is excluded by ORG_INCLUDE_OUS / ORG_EXCLUDE_ACCOUNTS",
    }


def test_nothing_to_scan_is_a_warning_naming_the_filters() -> None:
    org = Organization(role_name="KeywardenMember", include_ous=frozenset({"ou-ab12-cdef3456"}))
    _, changes = diff_accounts(
        (), {}, [OrgAccount("444444444444", "Closing", "PENDING_CLOSURE")], org, "aws", first=True
    )
    assert changes.warnings == ["the organisation has no ACTIVE account to scan in ORG_INCLUDE_OUS"]
    _, with_configured = diff_accounts((Account("hub"),), {}, [], org, "aws", first=True)
    assert with_configured.warnings == []


def test_role_account_id_reads_role_arns_only() -> None:
    assert role_account_id(_role("123456789012", "aws-cn")) == "123456789012"
    assert role_account_id("arn:aws:iam::123456789012:user/ci") is None
    assert role_account_id(None) is None


class SessionMade(Exception):
    """Keywarden's session was asked for: an AWS call was on its way."""


def _no_session() -> boto3.Session:
    raise SessionMade


def test_reading_the_aliases_calls_no_aws_and_listing_them_does() -> None:
    gateway = AwsGateway(
        (Account("hub"),), _no_session, organization=ORG, now=lambda: datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert gateway.aliases == ["hub"]
    with pytest.raises(SessionMade):  # the first listing of the organisation
        gateway.list_aliases()
