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
# IAMFullAccess's document copied inline, and the other ways to write administrator power.
IAM_FULL = json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}})
NOT_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]})
ALL_BUT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "IAM:*", "NotResource": "arn:aws:s3:::vault/*"}],
    }
)
OWNER = "UALICE"
ADMINS = {
    "admin-direct",
    "admin-group",
    "admin-inline",
    "admin-group-inline",
    "admin-custom",
    "admin-iam-inline",
    "admin-not-action",
    "admin-not-resource",
}


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    load_managed_policies(monkeypatch, "AdministratorAccess", "IAMFullAccess", "ReadOnlyAccess")


def user(iam, name: str, now, *, used: bool = True, days_before_key: int = 30, key_days: int = 5) -> str:
    """A user made `days_before_key` days before its key (0: together), the key made `key_days` ago and used a
    day ago (or never)."""
    with time_machine.travel(now - timedelta(days=days_before_key + key_days), tick=False):
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(now - timedelta(days=key_days), tick=False):
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
    # CIS 1.11: a console user's setup key, never used, past the 45 unused days; not a service user's, nor
    # a console user's still within them.
    keys["initial"] = user(iam, "initial", now, used=False, days_before_key=0, key_days=50)
    iam.create_login_profile(UserName="initial", Password="Correct-Horse-9!")
    keys["ci-fresh"] = user(iam, "ci-fresh", now, used=False, days_before_key=0, key_days=10)
    keys["ci-idle"] = user(iam, "ci-idle", now, used=False, days_before_key=0, key_days=50)
    keys["console-new"] = user(iam, "console-new", now, used=False, days_before_key=0, key_days=44)
    iam.create_login_profile(UserName="console-new", Password="Correct-Horse-9!")
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
    iam.put_user_policy(UserName="admin-iam-inline", PolicyName="iam-full-copy", PolicyDocument=IAM_FULL)
    not_s3 = iam.create_policy(PolicyName="all-but-s3", PolicyDocument=NOT_S3)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="admin-not-action", PolicyArn=not_s3)
    iam.create_group(GroupName="almost-all")
    iam.put_group_policy(GroupName="almost-all", PolicyName="all-but-vault", PolicyDocument=ALL_BUT)
    iam.add_user_to_group(GroupName="almost-all", UserName="admin-not-resource")
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
    assert codes["initial"] == {INITIAL_KEY_UNUSED, CONSOLE_AND_KEY, "key-unused"}
    assert "ci-fresh" not in codes and codes["ci-idle"] == {"key-unused"}
    assert codes["console-new"] == {CONSOLE_AND_KEY}
    reasons = {f.user: f.finding.message for f in report.findings if f.code == ADMIN_KEY}
    assert "`AdministratorAccess` attached directly" in reasons["admin-direct"]
    assert "`IAMFullAccess` through group `iam-admins`" in reasons["admin-group"]
    assert "inline policy `everything`" in reasons["admin-inline"]
    assert "inline policy `ops-everything` allows `*` on `*`, through group `ops`" in reasons["admin-group-inline"]
    assert "customer-managed policy `platform` (default version v2)" in reasons["admin-custom"]
    assert "inline policy `iam-full-copy` allows `iam:*` on `*`, attached directly" in reasons["admin-iam-inline"]
    assert "`all-but-s3` (default version v1) allows every action but `s3:*` on `*`" in reasons["admin-not-action"]
    assert (
        "inline policy `all-but-vault` allows `IAM:*` on every resource but `arn:aws:s3:::vault/*`, through group "
        "`almost-all`" in reasons["admin-not-resource"]
    )
    admin = next(f for f in report.findings if f.user == "admin-direct")
    assert admin.key_id == estate["admin-direct"] and admin.finding.control == "CIS 1.16"

    (dm,) = [c.raw for c in bot.slack.posts_to(OWNER)]
    assert estate["admin-direct"] in dm and "administrator" in dm and "Identity Center" in dm
    digest = bot.slack.posts_to("CALERTS")[0].raw
    assert "Key on an administrator (CIS 1.16): 8" in digest
    assert "Console password and access key: 3" in digest
    assert "Console user's setup key, never used (CIS 1.11): 1" in digest


def test_strict_policy_findings_and_one_authorization_read_per_scan(make_bot, aws, iam) -> None:
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
    second, _ = bot.services.scan(post=False)  # policies as they are now, however young the index: one read
    assert calls["iam:GetAccountAuthorizationDetails"] == 2
    assert {(f.user, f.code) for f in second.findings} == {(f.user, f.code) for f in first.findings}


def test_fresh_service_users_cost_no_call_and_no_finding(make_bot, aws, iam) -> None:
    bot = make_bot()
    now = bot.services.clock()
    for n in range(20):  # CI users made with their key ten days ago, waiting for their first pipeline run
        user(iam, f"ci-{n}", now, used=False, days_before_key=0, key_days=10)
    user(iam, "person", now, used=False, days_before_key=0, key_days=46)
    iam.create_login_profile(UserName="person", Password="Correct-Horse-9!")
    calls = bot.services.aws.account("default").calls
    report, _ = bot.services.scan(post=False)
    assert found(report) == {"person": {INITIAL_KEY_UNUSED, CONSOLE_AND_KEY, "key-unused"}}
    assert calls["iam:ListAccessKeys"] == 1  # the console user's key ids alone


def test_list_and_scan_json_show_them(bot: BotServer, estate: dict[str, str]) -> None:
    bot.command("list admin-group")
    text = bot.slack.wait_calls("response_url")[-1].raw
    assert "IAMFullAccess" in text and "CIS 1.16" in text
    bot.command("list console")
    assert "Identity Center" in bot.slack.wait_calls("response_url", 2)[-1].raw
    bot.command("list initial")
    assert "created with its console user and never used" in bot.slack.wait_calls("response_url", 3)[-1].raw

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
