"""Approval policies as code, over HTTP: signed Slack requests in, fake Slack and moto out."""

from __future__ import annotations

import json

import pytest

from bot.domain.requests import Status
from bot.entrypoints.scheduler import jobs
from bot.slack import ids
from tests.support.flows import REQUESTER, dms, filed_id, key_made, request, wait_ephemeral, wait_status

POLICY = """
rules:
  - name: protected
    target_tags: {protected: "true"}
    deny: "this user is protected; ask the platform team"
  - name: not-here
    accounts: ["prod*"]
    approvers: [UNOBODY]
  - name: prod-payments
    accounts: ["def*"]
    target_tags: {team: payments}
    approvers: [SPAYLEADS]
    approvals: 1
    require_reason: true
    break_glass: [approvers]
    escalate_to: [SSECURITY]
  - name: owners-deactivate-own-keys
    operations: [deactivate]
    requester_owns_target: true
    auto_approve: true
  - name: owner-approves
    target_tags: {team: data}
    approvers: [owner]
  - name: default
    approvers: [UBOSS, UCARL]
    approvals: 1
"""


@pytest.fixture
def policy_bot(make_bot, aws, iam, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    bot = make_bot(POLICY_FILE=str(path), APPROVER_GROUP="SSECURITY")
    bot.slack.groups["SPAYLEADS"] = ["UPAY"]
    bot.slack.groups["SSECURITY"] = ["USEC"]
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    bot.slack.add_user("UBOB", email="bob@example.com")
    return bot


def user(iam, bot, name: str, **tags: str) -> str:
    iam.create_user(
        UserName=name,
        Tags=[{"Key": "owner", "Value": "alice@example.com"}] + [{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return key_made(iam, name, 30, bot.services.clock())


def status(iam, name: str) -> str:
    return iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"]


def test_per_account_and_per_tag_approvers(policy_bot, iam) -> None:
    bot = policy_bot
    pay = user(iam, bot, "payments-ci", team="payments")
    web = user(iam, bot, "web")
    iam.update_access_key(UserName="payments-ci", AccessKeyId=pay, Status="Inactive")
    bot.command(f"reactivate {pay}", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", "requires a reason")
    bot.command(f"reactivate {pay} new release", user_id="UBOB")
    rid = filed_id(bot)
    post = bot.slack.calls_to("chat.postMessage")[0].raw
    assert "rule `prod-payments`: 1 approver from <!subteam^SPAYLEADS>" in post
    assert request(bot, rid).policy_rule == "prod-payments"
    bot.click(ids.APPROVE, rid, "UBOSS")  # an approver by the default rule, not by this one
    assert wait_ephemeral(bot, "UBOSS", "Only approvers")
    bot.click(ids.APPROVE, rid, "UPAY")
    wait_status(bot, rid, Status.SUCCEEDED)
    assert status(iam, "payments-ci") == "Active"

    bot.command(f"deactivate {web}", user_id="UBOB")  # no tag, account `default`: not `prod*` -> default rule
    rid2 = filed_id(bot, 2)
    assert request(bot, rid2).policy_rule == "default"
    bot.click(ids.APPROVE, rid2, "UPAY")
    assert wait_ephemeral(bot, "UPAY", "Only approvers")
    bot.click(ids.APPROVE, rid2, "UCARL")
    wait_status(bot, rid2, Status.SUCCEEDED)


def test_owner_as_approver(policy_bot, iam) -> None:
    bot = policy_bot
    key = user(iam, bot, "warehouse", team="data")
    bot.command(f"deactivate {key} cleanup", user_id="UBOB")
    rid = filed_id(bot)
    assert "the owner" in bot.slack.calls_to("chat.postMessage")[0].raw
    bot.click(ids.APPROVE, rid, "UBOSS")
    assert wait_ephemeral(bot, "UBOSS", "Only approvers")
    bot.click(ids.APPROVE, rid, REQUESTER)  # alice owns `warehouse` per its owner tag
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert done.decided_by == REQUESTER and status(iam, "warehouse") == "Inactive"


def test_auto_approval_runs_at_once_and_is_audited(policy_bot, iam) -> None:
    bot = policy_bot
    key = user(iam, bot, "ci")
    bot.command(f"deactivate {key} not needed")
    assert wait_ephemeral(bot, REQUESTER, "")
    rid = filed_id(bot)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert status(iam, "ci") == "Inactive" and done.policy_rule == "owners-deactivate-own-keys"
    assert "Approved by policy" in bot.slack.calls_to("chat.postMessage")[0].raw
    actions = [e.action for e in bot.services.audit.all() if e.request_id == rid]
    assert actions[0] == "approved_by_policy" and "executed" in actions
    # someone else's deactivation of the same kind of key is not auto-approved
    other = user(iam, bot, "ci2")
    bot.command(f"deactivate {other}", user_id="UBOB")
    assert request(bot, filed_id(bot, 2)).status is Status.PENDING


def test_deny_rule_refuses_at_filing(policy_bot, iam) -> None:
    bot = policy_bot
    key = user(iam, bot, "root-ish", protected="true")
    bot.command(f"deactivate {key} --now leaked")
    assert wait_ephemeral(bot, REQUESTER, "Refused by policy rule `protected`: this user is protected")
    bot.command(f"deactivate {key} please", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", "this user is protected")
    assert status(iam, "root-ish") == "Active"
    assert not bot.slack.calls_to("chat.postMessage")
    refused = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert len(refused) == 2 and all("protected" in (e.detail or "") for e in refused)


def test_rules_see_the_tags_as_they_are_when_filing(policy_bot, iam) -> None:
    """A tag added after the ownership index was read decides the rule: it is read live from AWS at filing."""
    bot = policy_bot
    key = user(iam, bot, "web-deployer")
    bot.command("list web-deployer")  # the index now holds the user without the tag
    assert wait_ephemeral(bot, REQUESTER, key)
    iam.tag_user(UserName="web-deployer", Tags=[{"Key": "protected", "Value": "true"}])
    bot.command(f"deactivate {key} cleanup", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", "Refused by policy rule `protected`")
    assert not bot.slack.calls_to("chat.postMessage")


def test_require_reason(policy_bot, iam) -> None:
    bot = policy_bot
    key = user(iam, bot, "payments-api", team="payments")
    bot.command(f"deactivate {key}", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", "Policy rule `prod-payments` requires a reason")
    assert not bot.slack.calls_to("chat.postMessage")
    bot.command(f"deactivate {key} rotating vendors", user_id="UBOB")
    assert request(bot, filed_id(bot)).reason == "rotating vendors"


def test_break_glass_rights_follow_the_rule(policy_bot, iam) -> None:
    bot = policy_bot
    key = user(iam, bot, "payments-web", team="payments")
    bot.command(f"deactivate {key} --now leaked in a gist")  # alice owns it, but the rule says approvers only
    assert wait_ephemeral(bot, REQUESTER, "Only an approver may use `--now` (policy rule `prod-payments`)")
    assert status(iam, "payments-web") == "Active"
    bot.command(f"deactivate {key} --now leaked in a gist", user_id="UPAY")
    assert wait_ephemeral(bot, "UPAY", "Break-glass")
    assert status(iam, "payments-web") == "Inactive"


def test_fallback_without_a_policy_file(bot, iam) -> None:
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    key = user(iam, bot, "ci")
    bot.command(f"deactivate {key}", user_id="UBOB")
    rid = filed_id(bot)
    filed = request(bot, rid)
    assert filed.policy_rule is None and filed.approvals_needed == 2  # APPROVALS 1, plus one: not the owner
    assert "rule `" not in bot.slack.calls_to("chat.postMessage")[0].raw
    bot.click(ids.APPROVE, rid, "UBOSS")
    bot.click(ids.APPROVE, rid, "UCARL")
    wait_status(bot, rid, Status.SUCCEEDED)
    assert json.dumps(dms(bot, "UBOB"))


def housekeeping(bot) -> None:
    jobs(bot.services)["housekeeping"][0]()


def thread_replies(bot) -> list[str]:
    return [c.raw for c in bot.slack.posts_to("CAPPROVE", in_thread=True)]


def test_reminders_and_escalation_follow_the_injected_clock(policy_bot, iam, clock) -> None:
    bot = policy_bot
    key = user(iam, bot, "payments-batch", team="payments")
    bot.command(f"deactivate {key} vendor offboarded", user_id="UBOB")
    rid = filed_id(bot)
    clock.advance(hours=3, minutes=59)
    housekeeping(bot)
    assert thread_replies(bot) == []
    clock.advance(minutes=2)
    housekeeping(bot)
    housekeeping(bot)  # once only
    [reminder] = thread_replies(bot)
    assert "<!subteam^SPAYLEADS>" in reminder and "waited 4 h" in reminder
    assert bot.slack.posts_to("CAPPROVE", in_thread=True)[0].params["thread_ts"] == request(bot, rid).message_ts
    assert [d for d in dms(bot, "UBOB") if ids.NUDGE in d]
    bot.click(ids.APPROVE, rid, "USEC")  # not an approver of this rule before the escalation
    assert wait_ephemeral(bot, "USEC", "Only approvers")
    clock.advance(hours=8)
    housekeeping(bot)
    housekeeping(bot)
    replies = thread_replies(bot)
    assert len(replies) == 2 and "<!subteam^SSECURITY>" in replies[1] and "may now decide" in replies[1]
    bot.click(ids.APPROVE, rid, "USEC")
    wait_status(bot, rid, Status.SUCCEEDED)
    actions = [e.action for e in bot.services.audit.all() if e.request_id == rid]
    assert actions.count("reminded") == 1 and actions.count("escalated") == 1
    clock.advance(hours=20)
    housekeeping(bot)
    assert len(thread_replies(bot)) == 2  # never after a decision


def test_nudge_at_most_once_an_hour(policy_bot, iam, clock) -> None:
    bot = policy_bot
    key = user(iam, bot, "web")
    bot.command(f"deactivate {key}", user_id="UBOB")
    rid = filed_id(bot)
    bot.click(ids.NUDGE, rid, "UBOB", channel="DUBOB")
    assert wait_ephemeral(bot, "UBOB", "Nudged")
    [nudge] = thread_replies(bot)
    assert "<@UBOSS> <@UCARL>" in nudge
    clock.advance(minutes=59)
    bot.click(ids.NUDGE, rid, "UBOB", channel="DUBOB")
    assert wait_ephemeral(bot, "UBOB", "less than an hour ago")
    bot.click(ids.NUDGE, rid, "UMALLORY", channel="DUMALLORY")
    assert wait_ephemeral(bot, "UMALLORY", f"You have no request {rid}")
    assert len(thread_replies(bot)) == 1
    clock.advance(minutes=2)
    bot.click(ids.NUDGE, rid, "UBOB", channel="DUBOB")
    bot.slack.wait_for(lambda _: len(thread_replies(bot)) == 2)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.SUCCEEDED)
    clock.advance(hours=2)
    bot.click(ids.NUDGE, rid, "UBOB", channel="DUBOB")
    assert wait_ephemeral(bot, "UBOB", "nobody left to nudge")
    assert len(thread_replies(bot)) == 2
    actions = [e.action for e in bot.services.audit.all() if e.request_id == rid]
    assert actions.count("nudged") == 2 and actions.count("refused") == 1


def test_policy_explain_names_the_rule_and_why(policy_bot, iam, capsys) -> None:
    from bot.entrypoints.cli_policy import explain

    user(iam, policy_bot, "payments-ci", team="payments")
    assert explain(policy_bot.services.settings, "rotate", "default:payments-ci", "UBOB") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "rule `protected` does not match: tag `protected` is `(unset)`, not `true`",
        "rule `not-here` does not match: account `default` is not one of prod*",
        "rule `prod-payments` matches",
    ]
    assert "approvers: SPAYLEADS" in out and "approvals needed: 1" in out and "a reason is required" in out
    assert "break-glass (--now): approvers" in out and "escalates to: SSECURITY" in out
    assert explain(policy_bot.services.settings, "fly", "default:payments-ci", "UBOB") == 2
    assert "is not one of" in capsys.readouterr().err
