"""Who may see and do what, over HTTP: an approver of one policy rule reads only what that rule covers, a former
owner loses access at once, alert buttons on someone's key belong to its owner and approvers, Slack guests get
`help` only, and LIST_VISIBILITY=owners keeps others' keys to their owners and approvers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.slack import ids
from bot.store.models import KeyRequest
from tests.support.fake_aws_usage import FakeUsageAws, usage_endpoints
from tests.support.flows import filed_id, make_key, tagged, wait_ephemeral
from tests.support.harness import BotServer
from tests.support.managed_policies import load_managed_policies

ALICE, BOB, PAYLEAD, BOSS, MALLORY, GUEST = "UALICE", "UBOB", "UPAY", "UBOSS", "UMALLORY", "UGUEST"
QUARANTINE = "AWSCompromisedKeyQuarantine"
GUEST_ONLY = "Slack guests can only use `/awskeys help`. Ask a full member of the workspace for anything else."

# `payments` covers the users tagged team=payments; `default` matches every target: its approver sees everything.
POLICY = """
rules:
  - name: payments
    target_tags: {team: payments}
    approvers: [SPAYLEADS]
  - name: default
    approvers: [UBOSS]
"""


@pytest.fixture
def fake(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUsageAws]:
    """CloudTrail and Access Advisor on loopback (moto has neither); every other IAM call goes on to moto."""
    with usage_endpoints(moto_url, monkeypatch) as server:
        yield server


def people(bot: BotServer) -> BotServer:
    for user_id, email in ((ALICE, "alice"), (BOB, "bob"), (PAYLEAD, "pay"), (MALLORY, "mallory")):
        bot.slack.add_user(user_id, email=f"{email}@example.com")
    bot.slack.groups["SPAYLEADS"] = [PAYLEAD]
    return bot


@pytest.fixture
def scoped_bot(make_bot: Callable[..., BotServer], tmp_path: Path) -> BotServer:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return people(make_bot(POLICY_FILE=str(path), APPROVER_IDS=""))


def answer(bot: BotServer, user: str, text: str) -> str:
    """The first ephemeral answer to `user` that contains `text`."""
    return wait_ephemeral(bot, user, text, timeout=30)


def refusals(bot: BotServer) -> list[tuple[str, str]]:
    bot.work.idle()
    return [(e.actor, e.detail) for e in bot.services.audit.all() if e.action == "refused"]


def requests_filed(bot: BotServer) -> int:
    bot.work.idle()
    with bot.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(KeyRequest)) or 0


def test_an_approver_of_one_rule_reads_only_what_it_covers(scoped_bot, aws, iam, fake: FakeUsageAws) -> None:
    bot = scoped_bot
    now = bot.services.clock()
    tagged(iam, "pay", owner="alice@example.com", team="payments")
    tagged(iam, "web", owner="bob@example.com")
    pay_key, web_key = make_key(iam, "pay", 30, now), make_key(iam, "web", 30, now)
    bot.command(f"deactivate {pay_key} leaving", user_id=ALICE)
    pay_request = filed_id(bot, 1)
    bot.command(f"deactivate {web_key} leaving", user_id=BOB)
    web_request = filed_id(bot, 2)

    # activity and access: of the users its rule covers only
    bot.command(f"activity {web_key}", user_id=PAYLEAD)
    assert "Only the owner of `web`" in answer(bot, PAYLEAD, "Only the owner")
    bot.command("access web", user_id=PAYLEAD)
    answer(bot, PAYLEAD, "can see its access")
    assert fake.calls["cloudtrail:LookupEvents"] == 0 and fake.calls["iam:GenerateServiceLastAccessedDetails"] == 0
    bot.command(f"activity {pay_key}", user_id=PAYLEAD)
    answer(bot, PAYLEAD, f"Activity of `{pay_key}`")
    bot.command(f"activity {web_key}", user_id=BOSS)  # the catch-all rule's approver: everything
    answer(bot, BOSS, f"Activity of `{web_key}`")

    # the audit log: rows about the users it covers; another user by name is refused
    bot.command("audit", user_id=PAYLEAD)
    mine = answer(bot, PAYLEAD, "Recent audit events")
    assert pay_request in mine and web_request not in mine and "web" not in mine
    bot.command("audit web", user_id=PAYLEAD)
    answer(bot, PAYLEAD, "not among the IAM users you approve for")
    bot.command(f"audit {web_key}", user_id=PAYLEAD)
    answer(bot, PAYLEAD, f"`{web_key}` is not among")
    bot.command("audit pay", user_id=PAYLEAD)
    assert pay_request in answer(bot, PAYLEAD, "Recent audit events for `pay`")
    bot.command("audit", user_id=BOSS)
    everything = answer(bot, BOSS, "Recent audit events")
    assert pay_request in everything and web_request in everything

    # a scan reads and posts everything: only for approvers of everything
    bot.command("scan", user_id=PAYLEAD)
    answer(bot, PAYLEAD, "Only approvers for every IAM user can run a scan")
    bot.command("audit", user_id=MALLORY)
    answer(bot, MALLORY, "Only approvers can read the audit log")
    assert refusals(bot) == [
        (PAYLEAD, "activity: not the user's owner nor an approver for it"),
        (PAYLEAD, "access: not the user's owner nor an approver for it"),
        (PAYLEAD, "audit: not an approver for it"),
        (PAYLEAD, "audit: not an approver for it"),
        (PAYLEAD, "scan: an approver for some users only"),
        (MALLORY, "audit: not an approver"),
    ]


def open_home(bot: BotServer, user: str) -> dict:
    bot.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})
    call = bot.slack.wait_for(
        lambda calls: next(
            (c for c in reversed(calls) if c.method == "views.publish" and c.params["user_id"] == user), None
        )
    )
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_the_home_lists_only_the_critical_keys_an_approver_covers(
    monkeypatch: pytest.MonkeyPatch, scoped_bot, aws, iam
) -> None:
    load_managed_policies(monkeypatch, QUARANTINE)
    bot = scoped_bot
    now = bot.services.clock()
    tagged(iam, "pay", owner="alice@example.com", team="payments")
    tagged(iam, "web", owner="bob@example.com")
    pay_key, web_key = make_key(iam, "pay", 30, now), make_key(iam, "web", 30, now)
    for user in ("pay", "web"):  # AWS quarantined both: critical findings
        iam.attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{QUARANTINE}")
    bot.services.scan(post=True)

    lead = json.dumps(open_home(bot, PAYLEAD))
    assert "Keys with critical findings" in lead and pay_key in lead and web_key not in lead
    boss = json.dumps(open_home(bot, BOSS))
    assert pay_key in boss and web_key in boss


def test_a_former_owner_loses_activity_access_and_snooze_at_once(make_bot, aws, iam, fake: FakeUsageAws) -> None:
    bot = people(make_bot())
    tagged(iam, "ci", owner="alice@example.com")
    key = make_key(iam, "ci", 30, bot.services.clock())
    bot.command(f"activity {key}", user_id=ALICE)
    answer(bot, ALICE, f"Activity of `{key}`")  # the ownership index is read here, naming alice
    iam.tag_user(UserName="ci", Tags=[{"Key": "owner", "Value": "bob@example.com"}])  # handed over to bob

    bot.command(f"activity {key}", user_id=ALICE)
    answer(bot, ALICE, "Only the owner of `ci`")
    bot.command("access ci", user_id=ALICE)
    answer(bot, ALICE, "can see its access")
    bot.click(ids.ALERT_SNOOZE, f"default|{key}", ALICE, channel="DALICE")
    answer(bot, ALICE, "Only the key's owner or an approver for it can snooze")
    bot.command(f"activity {key}", user_id=BOB)  # the new owner, at once
    assert f"Activity of `{key}`" in answer(bot, BOB, "Activity of")
    bot.click(ids.ALERT_SNOOZE, f"default|{key}", BOB, channel="DBOB")
    answer(bot, BOB, "snoozed until")
    assert [who for who, _ in refusals(bot)] == [ALICE, ALICE, ALICE]


def test_alert_buttons_on_a_key_belong_to_its_owner_and_approvers(make_bot, aws, iam) -> None:
    bot = people(make_bot())
    tagged(iam, "ci", owner="alice@example.com")
    key = make_key(iam, "ci", 100, bot.services.clock())
    # a bystander in the alert channel cannot file the exposed key's rotation first
    bot.click(ids.EXPOSURE_ROTATE, f"default|{key}", MALLORY, channel="CALERTS")
    answer(bot, MALLORY, "Only the key's owner or an approver for it can rotate")
    assert requests_filed(bot) == 0 and refusals(bot) == [
        (MALLORY, "rotate: neither the key's owner nor an approver for it")
    ]
    # its owner can, and so can an approver
    bot.click(ids.EXPOSURE_ROTATE, f"default|{key}", ALICE, channel="CALERTS")
    filed_id(bot)
    bot.click(ids.ALERT_DEACTIVATE, f"default|{key}", MALLORY, channel="DALICE")
    answer(bot, MALLORY, "Only the key's owner or an approver for it can deactivate")
    bot.click(ids.ALERT_SNOOZE, f"default|{key}", BOSS, channel="CALERTS")
    answer(bot, BOSS, "snoozed until")
    assert requests_filed(bot) == 1


def test_guests_get_help_only(make_bot, aws, iam) -> None:
    bot = people(make_bot())
    bot.slack.add_user(GUEST, email="guest@partner.example", guest="single")
    bot.slack.add_user("UMULTI", email="multi@partner.example", guest="multi")
    tagged(iam, "ci", owner="guest@partner.example")  # even the owner of a user, when a guest
    key = make_key(iam, "ci", 100, bot.services.clock())

    help_reply = bot.command("help", user_id=GUEST).json()
    assert help_reply["response_type"] == "ephemeral" and "you can use only `/awskeys help`" in help_reply["text"]
    for text in ("list", "list ci", f"check {key}", f"deactivate {key} --now", "requests", "", "not-a-command"):
        for guest in (GUEST, "UMULTI"):
            reply = bot.command(text, user_id=guest, trigger_id="T-guest").json()
            assert reply == {"response_type": "ephemeral", "text": GUEST_ONLY}, (text, reply)
    bot.click(ids.ALERT_ROTATE, f"default|{key}", GUEST, channel="DGUEST")
    answer(bot, GUEST, "Slack guests can only use")
    form = {
        ids.BLOCK_OPERATION: {ids.INPUT: {"selected_option": {"value": "deactivate"}}},
        ids.BLOCK_TARGET: {ids.INPUT: {"value": key}},
    }
    submitted = bot.submit_view(ids.REQUEST_MODAL, form, GUEST).json()
    assert submitted["response_action"] == "errors" and "Slack guests" in submitted["errors"][ids.BLOCK_TARGET]
    home = json.dumps(open_home(bot, GUEST))
    assert "Slack guests can only use" in home and key not in home

    assert requests_filed(bot) == 0 and not bot.slack.calls_to("views.open")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"
    assert {who for who, detail in refusals(bot)} == {GUEST, "UMULTI"}
    assert all(detail.endswith(": a Slack guest") for _, detail in refusals(bot))


def test_list_visibility_owners_keeps_others_keys_to_owners_and_approvers(make_bot, aws, iam) -> None:
    bot = people(make_bot(LIST_VISIBILITY="owners"))
    tagged(iam, "ci", owner="alice@example.com")
    key = make_key(iam, "ci", 30, bot.services.clock())

    bot.command("list ci", user_id=MALLORY)
    answer(bot, MALLORY, "Here only the owner of `ci` and its approvers may see its keys")
    bot.command(f"check {key}", user_id=MALLORY)
    assert key not in [c.raw for c in bot.slack.calls_to("response_url") if c.path.endswith(MALLORY)][-1]
    bot.command("list", user_id=ALICE)
    answer(bot, ALICE, key)
    bot.command("list ci", user_id=BOSS)
    assert key in answer(bot, BOSS, key)
    bot.command(f"check {key}", user_id=ALICE)
    answer(bot, ALICE, "The key is active")
    iam.tag_user(UserName="ci", Tags=[{"Key": "owner", "Value": "bob@example.com"}])
    bot.command("list", user_id=ALICE)  # no longer hers: as the tag says now
    answer(bot, ALICE, "You own no IAM users")
    assert refusals(bot) == [
        (MALLORY, "list: not the user's owner nor an approver for it (LIST_VISIBILITY=owners)"),
        (MALLORY, "check: not the user's owner nor an approver for it (LIST_VISIBILITY=owners)"),
    ]

    everyone = people(make_bot())  # the default: anyone may list anyone's keys
    everyone.command("list ci", user_id=MALLORY)
    assert "Here only" not in answer(everyone, MALLORY, key)
