"""Least-privilege findings on moto (AWS managed policies loaded), with policies reaching users by every
route; shown in DMs, the digest, `list`, `scan --json`; and approval messages that name an administrator."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import boto3
import pytest
import time_machine

from bot.domain.findings import ADMIN_KEY, CONSOLE_AND_KEY, INITIAL_KEY_UNUSED, KEY_NOT_VIA_GROUP
from bot.entrypoints.cli_scan import run_scan
from tests.support.flows import filed_id, request
from tests.support.harness import BotServer
from tests.support.managed_policies import load_managed_policies

ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
OWNER = "UALICE"
ADMINS = {"admin-direct", "admin-group", "admin-inline", "admin-group-inline", "admin-custom"}


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    load_managed_policies(monkeypatch, "AdministratorAccess", "IAMFullAccess", "ReadOnlyAccess")


def user(iam, name: str, now, *, used: bool = True, days_before_key: int = 30) -> str:
    """A user made `days_before_key` days before its key (0: together), the key used a day ago (or never)."""
    with time_machine.travel(now - timedelta(days=days_before_key + 5), tick=False):
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(now - timedelta(days=5 if days_before_key else days_before_key + 5), tick=False):
        key = iam.create_access_key(UserName=name)["AccessKey"]
    if used:
        with time_machine.travel(now - timedelta(days=1), tick=False):
            boto3.client(
                "sts",
                region_name="us-east-1",
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            ).get_caller_identity()
    return key["AccessKeyId"]


@pytest.fixture
def estate(bot: BotServer, iam) -> dict[str, str]:
    now = bot.services.clock()
    bot.slack.add_user(OWNER, email="alice@example.com")
    keys = {name: user(iam, name, now) for name in (*ADMINS, "not-admin", "console")}
    keys["initial"] = user(iam, "initial", now, used=False, days_before_key=0)
    iam.attach_user_policy(UserName="admin-direct", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_group(GroupName="iam-admins")
    iam.attach_group_policy(GroupName="iam-admins", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    iam.add_user_to_group(GroupName="iam-admins", UserName="admin-group")
    iam.put_user_policy(UserName="admin-inline", PolicyName="everything", PolicyDocument=ALL)
    iam.create_group(GroupName="ops")
    iam.put_group_policy(GroupName="ops", PolicyName="ops-everything", PolicyDocument=ALL)
    iam.add_user_to_group(GroupName="ops", UserName="admin-group-inline")
    custom = iam.create_policy(PolicyName="platform", PolicyDocument=S3)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=custom, PolicyDocument=ALL, SetAsDefault=True)
    iam.attach_user_policy(UserName="admin-custom", PolicyArn=custom)
    # Everything once, but not any more: only the default version counts.
    was = iam.create_policy(PolicyName="was-everything", PolicyDocument=ALL)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=was, PolicyDocument=S3, SetAsDefault=True)
    iam.attach_user_policy(UserName="not-admin", PolicyArn=was)
    iam.put_user_policy(UserName="not-admin", PolicyName="s3", PolicyDocument=S3)
    iam.create_login_profile(UserName="console", Password="Correct-Horse-9!")
    return keys


def found(report) -> dict[str, set[str]]:
    by_user: dict[str, set[str]] = {}
    for f in report.findings:
        by_user.setdefault(f.user, set()).add(f.code)
    return by_user


def test_findings_by_every_route_in_dms_and_digest(bot: BotServer, estate: dict[str, str]) -> None:
    report, _ = bot.services.scan(post=True)
    codes = found(report)
    for name in ADMINS:
        assert codes[name] == {ADMIN_KEY}, name
    assert "not-admin" not in codes  # STRICT_POLICY_FINDINGS is off
    assert codes["console"] == {CONSOLE_AND_KEY}
    assert codes["initial"] == {INITIAL_KEY_UNUSED}
    reasons = {f.user: f.finding.message for f in report.findings if f.code == ADMIN_KEY}
    assert "`AdministratorAccess` attached directly" in reasons["admin-direct"]
    assert "`IAMFullAccess` through group `iam-admins`" in reasons["admin-group"]
    assert "inline policy `everything`" in reasons["admin-inline"]
    assert "inline policy `ops-everything` allows `*` on `*`, through group `ops`" in reasons["admin-group-inline"]
    assert "customer-managed policy `platform` (default version v2)" in reasons["admin-custom"]
    admin = next(f for f in report.findings if f.user == "admin-direct")
    assert admin.key_id == estate["admin-direct"] and admin.finding.control == "CIS 1.16"

    (dm,) = [c.raw for c in bot.slack.posts_to(OWNER)]
    assert estate["admin-direct"] in dm and "administrator" in dm and "Identity Center" in dm
    digest = bot.slack.posts_to("CALERTS")[0].raw
    assert "Key on an administrator (CIS 1.16): 5" in digest
    assert "Console password and access key: 1" in digest
    assert "Key made with its user, never used (CIS 1.11): 1" in digest


def test_strict_policy_findings_and_no_extra_calls_with_a_fresh_index(make_bot, aws, iam) -> None:
    bot = make_bot(STRICT_POLICY_FINDINGS="true")
    now = bot.services.clock()
    user(iam, "not-admin", now)
    iam.put_user_policy(UserName="not-admin", PolicyName="s3", PolicyDocument=S3)
    user(iam, "grouped", now)
    iam.create_group(GroupName="readers")
    iam.put_group_policy(GroupName="readers", PolicyName="s3", PolicyDocument=S3)
    iam.add_user_to_group(GroupName="readers", UserName="grouped")
    calls = bot.services.aws.account("default").calls
    first, _ = bot.services.scan(post=False)
    (strict,) = [f for f in first.findings if f.code == KEY_NOT_VIA_GROUP]
    assert strict.user == "not-admin" and strict.subject == "user:not-admin" and "`s3`" in strict.finding.message
    assert calls["iam:GetAccountAuthorizationDetails"] == 1
    second, _ = bot.services.scan(post=False)  # the index is fresh: its stored policy facts are used
    assert calls["iam:GetAccountAuthorizationDetails"] == 1
    assert {(f.user, f.code) for f in second.findings} == {(f.user, f.code) for f in first.findings}


def test_list_and_scan_json_show_them(bot: BotServer, estate: dict[str, str]) -> None:
    bot.command("list admin-group")
    text = bot.slack.wait_calls("response_url")[-1].raw
    assert "IAMFullAccess" in text and "CIS 1.16" in text
    bot.command("list console")
    assert "Identity Center" in bot.slack.wait_calls("response_url", 2)[-1].raw
    bot.command("list initial")
    assert "created with its user and never used" in bot.slack.wait_calls("response_url", 3)[-1].raw

    out, err = io.StringIO(), io.StringIO()
    assert run_scan(bot.services.settings, as_json=True, post=False, out=out, err=err) == 1
    rows = json.loads(out.getvalue())["findings"]
    admin = next(r for r in rows if r["finding"] == ADMIN_KEY and r["user"] == "admin-direct")
    assert admin["severity"] == "high" and admin["key_id"] == estate["admin-direct"]
    assert "Prowler iam_user_administrator_access_policy" in admin["controls"] and "role" in admin["remediation"]
    initial = next(r for r in rows if r["finding"] == INITIAL_KEY_UNUSED)
    assert initial["controls"][0] == "CIS 1.11" and initial["severity"] == "medium"


def test_approval_says_the_target_is_an_administrator(bot: BotServer, estate: dict[str, str]) -> None:
    bot.command("rotate admin-group", user_id=OWNER)
    rid = filed_id(bot)
    post = bot.slack.posts_to("CAPPROVE")[0].raw
    assert "is an administrator" in post and "`IAMFullAccess` through group `iam-admins`" in post
    assert "one more approval" in post
    assert request(bot, rid).approvals_needed == 2

    bot.command(f"deactivate {estate['admin-direct']}", user_id=OWNER)  # taking power away: no extra approval
    rid = filed_id(bot, 2)
    assert "is an administrator" not in bot.slack.posts_to("CAPPROVE")[1].raw
    assert request(bot, rid).approvals_needed == 1


def test_extra_approval_for_administrators_can_be_turned_off(make_bot, aws, iam) -> None:
    bot = make_bot(REQUIRE_EXTRA_APPROVAL_FOR_ADMIN="false")
    bot.slack.add_user(OWNER, email="alice@example.com")
    key = user(iam, "admin-direct", bot.services.clock())
    iam.attach_user_policy(UserName="admin-direct", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.update_access_key(UserName="admin-direct", AccessKeyId=key, Status="Inactive")
    bot.command(f"reactivate {key}", user_id=OWNER)
    rid = filed_id(bot)
    post = bot.slack.posts_to("CAPPROVE")[0].raw
    assert "is an administrator" in post and "one more approval" not in post
    assert request(bot, rid).approvals_needed == 1
