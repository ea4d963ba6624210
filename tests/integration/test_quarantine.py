"""`aws-quarantine` on moto (AWS managed policies loaded): a user AWS quarantined, read from the authorization
details the scan already reads; the owner's DM and the digest carry Deactivate now and Rotate; `list` and
`check` show it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine

from bot.domain.findings import AWS_QUARANTINE, Severity
from bot.slack import ids
from tests.support.harness import BotServer
from tests.support.managed_policies import load_managed_policies

OWNER, BOSS = "UALICE", "UBOSS"
POLICY = "arn:aws:iam::aws:policy/{}"
V1, V2, V3 = "AWSCompromisedKeyQuarantine", "AWSCompromisedKeyQuarantineV2", "AWSCompromisedKeyQuarantineV3"
V4 = "AWSCompromisedKeyQuarantineV4"  # AWS managed since 2026-11-06; moto's list stops at V3 (tests/support)


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    load_managed_policies(monkeypatch, V1, V2, V3, V4, "ReadOnlyAccess")


def user_with_key(iam, name: str, now, *, active: bool = True) -> str:
    with time_machine.travel(now - timedelta(days=20), tick=False):
        iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    with time_machine.travel(now - timedelta(days=10), tick=False):
        key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    if not active:
        iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
    return key


@pytest.fixture
def estate(bot: BotServer, iam) -> dict[str, str]:
    now = bot.services.clock()
    bot.slack.add_user(OWNER, email="alice@example.com")
    keys = {name: user_with_key(iam, name, now) for name in ("leaked-v1", "leaked-v2", "leaked-v3", "grouped", "clean")}
    keys["leaked-inactive"] = user_with_key(iam, "leaked-inactive", now, active=False)
    for name, policy in (("leaked-v1", V1), ("leaked-v2", V2), ("leaked-v3", V3), ("leaked-inactive", V3)):
        iam.attach_user_policy(UserName=name, PolicyArn=POLICY.format(policy))
    # AWS attaches the policy to the user itself; a group holding it is someone's own doing, not AWS's signal.
    iam.create_group(GroupName="odd")
    iam.attach_group_policy(GroupName="odd", PolicyArn=POLICY.format(V3))
    iam.add_user_to_group(GroupName="odd", UserName="grouped")
    return keys


def buttons(call) -> list[tuple[str, str]]:
    blocks = call.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return [(e["action_id"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_quarantine_is_critical_in_the_dm_and_digest_with_deactivate_now_and_rotate(
    bot: BotServer, estate: dict[str, str]
) -> None:
    calls = bot.services.aws.account("default").calls
    report, _ = bot.services.scan(post=True)
    quarantined = {f.user: f for f in report.findings if f.code == AWS_QUARANTINE}
    assert set(quarantined) == {"leaked-v1", "leaked-v2", "leaked-v3"}  # not through a group, not an inactive key
    assert calls["iam:GetAccountAuthorizationDetails"] == 1  # read once, with everything else the index keeps
    v3 = quarantined["leaked-v3"]
    assert v3.key_id == estate["leaked-v3"] and v3.finding.severity is Severity.CRITICAL
    assert f"`{V3}`" in v3.finding.message and "not Keywarden" in v3.finding.message
    assert "not Keywarden" in quarantined["leaked-v2"].finding.message  # every version stops the user

    (dm,) = bot.slack.posts_to(OWNER)
    for name in ("leaked-v1", "leaked-v2", "leaked-v3"):
        value = f"default|{estate[name]}"
        assert (ids.EXPOSURE_DEACTIVATE, value) in buttons(dm) and (ids.EXPOSURE_ROTATE, value) in buttons(dm)
        assert (ids.ALERT_DEACTIVATE, value) not in buttons(dm)
    assert "Deactivate now" in dm.raw and "stops the user itself from creating or changing keys" in dm.raw

    digest = bot.slack.posts_to("CALERTS")[0]
    assert "Quarantined by AWS: 3" in digest.raw and "not Keywarden" in digest.raw
    assert {v for a, v in buttons(digest) if a == ids.EXPOSURE_DEACTIVATE} == {
        f"default|{estate[n]}" for n in ("leaked-v1", "leaked-v2", "leaked-v3")
    }
    assert {v for a, v in buttons(digest) if a == ids.EXPOSURE_ROTATE} == {
        f"default|{estate[n]}" for n in ("leaked-v1", "leaked-v2", "leaked-v3")
    }


def test_v4_counts_by_its_prefix_and_a_customer_policy_named_like_it_does_not(bot: BotServer, iam) -> None:
    now = bot.services.clock()
    bot.slack.add_user(OWNER, email="alice@example.com")
    leaked, lookalike = user_with_key(iam, "leaked-v4", now), user_with_key(iam, "lookalike", now)
    iam.attach_user_policy(UserName="leaked-v4", PolicyArn=POLICY.format(V4))  # AWS's own: arn:aws:iam::aws:policy/
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*"}],
    }
    mine = iam.create_policy(PolicyName=V4, PolicyDocument=json.dumps(deny))["Policy"]["Arn"]
    assert mine.startswith("arn:aws:iam::123456789012:policy/")  # a customer policy with AWS's name
    iam.attach_user_policy(UserName="lookalike", PolicyArn=mine)

    report, _ = bot.services.scan(post=True)
    quarantined = {f.user: f for f in report.findings if f.code == AWS_QUARANTINE}
    assert set(quarantined) == {"leaked-v4"}
    assert quarantined["leaked-v4"].key_id == leaked and f"`{V4}`" in quarantined["leaked-v4"].finding.message
    assert quarantined["leaked-v4"].finding.severity is Severity.CRITICAL
    (dm,) = bot.slack.posts_to(OWNER)
    value = f"default|{leaked}"
    assert (ids.EXPOSURE_DEACTIVATE, value) in buttons(dm) and (ids.EXPOSURE_ROTATE, value) in buttons(dm)
    assert all(lookalike not in v for _, v in buttons(dm))
    digest = bot.slack.posts_to("CALERTS")[0]
    assert "Quarantined by AWS: 1" in digest.raw and (ids.EXPOSURE_DEACTIVATE, value) in buttons(digest)


def test_deactivate_now_from_the_digest_and_rotate_from_the_dm(bot: BotServer, estate: dict[str, str], iam) -> None:
    bot.services.scan(post=True)
    value = f"default|{estate['leaked-v3']}"
    bot.click(ids.EXPOSURE_ROTATE, value, OWNER, channel=f"D{OWNER}")
    bot.work.idle()
    assert any("rotate" in c.raw.lower() and "leaked-v3" in c.raw for c in bot.slack.posts_to("CAPPROVE"))
    bot.click(ids.EXPOSURE_DEACTIVATE, value, BOSS, channel="CALERTS")
    bot.work.idle()
    assert iam.list_access_keys(UserName="leaked-v3")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "Break-glass" in bot.slack.calls_to("response_url")[-1].raw
    report, _ = bot.services.scan(post=False)
    assert "leaked-v3" not in {f.user for f in report.findings if f.code == AWS_QUARANTINE}  # only active keys


def test_list_and_check_show_the_quarantine(bot: BotServer, estate: dict[str, str]) -> None:
    bot.command("list leaked-v3", user_id=OWNER)  # before any scan: the finding, from the index
    assert f"`{V3}`" in bot.slack.wait_calls("response_url")[-1].raw
    bot.services.scan(post=True)  # the scan remembers since when
    key = estate["leaked-v3"]
    bot.command("list leaked-v3", user_id=OWNER)
    listed = bot.slack.wait_calls("response_url", 2)[-1].raw
    assert f"`{V3}`" in listed and "AWS quarantined leaked-v3 " in listed and "first seen by the scan" in listed
    bot.command(f"check {key}", user_id=OWNER)
    checked = bot.slack.wait_calls("response_url", 3)[-1]
    assert "quarantined by AWS" in checked.raw
    assert buttons(checked) == [(ids.EXPOSURE_DEACTIVATE, f"default|{key}"), (ids.EXPOSURE_ROTATE, f"default|{key}")]
    assert "AccessDenied" in checked.raw  # why a tool may fail with a quarantined key

    bot.command("list clean", user_id=OWNER)
    assert "quarantined" not in bot.slack.wait_calls("response_url", 4)[-1].raw
