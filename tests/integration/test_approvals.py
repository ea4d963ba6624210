"""The approval workflow end to end: signed requests in, fake Slack and moto out."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain.requests import Status
from bot.entrypoints.scheduler import jobs
from bot.slack import ids
from bot.store.models import AuditEvent
from tests.support.fake_slack import Fault
from tests.support.flows import (
    BOSS,
    CARL,
    MALLORY,
    REQUESTER,
    dms,
    filed_id,
    key_made,
    request,
    request_store,
    wait_ephemeral,
    wait_status,
)
from tests.support.harness import BotServer


def count_calls(bot: BotServer, operation: str) -> list[str]:
    seen: list[str] = []
    client = bot.services.aws.account("default").client("iam")
    client.meta.events.register(f"before-call.iam.{operation}", lambda **kw: seen.append(operation))
    return seen


def test_deactivate_end_to_end(bot: BotServer, iam, ci_user: str) -> None:
    reply = bot.command(f"deactivate {ci_user} leaving the team")
    assert reply.status == 200
    rid = filed_id(bot)
    assert wait_ephemeral(bot, REQUESTER, f"Request *{rid}* filed")
    post = bot.slack.calls_to("chat.postMessage")[0]
    blocks = json.loads(post.params["blocks"]) if isinstance(post.params["blocks"], str) else post.params["blocks"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [("Approve", rid), ("Deny", rid)]
    assert all("confirm" in b for b in buttons[:1])
    assert "leaving the team" in post.raw and "30 days old" in post.raw and "not the owner" not in post.raw

    updates = count_calls(bot, "UpdateAccessKey")
    bot.click(ids.APPROVE, rid, BOSS)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert done.decided_by == BOSS and updates == ["UpdateAccessKey"]
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    update = bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Done" in c.raw])
    assert '"actions"' not in update[-1].raw and BOSS in update[-1].raw
    assert bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if "Done" in d])
    actions = [e.action for e in bot.services.audit.all() if e.request_id == rid]
    assert actions == ["requested", "approval", "approved", "executing", "executed"]


def test_reactivate_end_to_end(bot: BotServer, iam, ci_user: str) -> None:
    iam.update_access_key(UserName="ci", AccessKeyId=ci_user, Status="Inactive")
    bot.command(f"reactivate {ci_user}")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, CARL)
    wait_status(bot, rid, Status.SUCCEEDED)
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"


def test_create_and_reveal_shows_the_secret_once(bot: BotServer, iam, ci_user: str, tmp_path, caplog) -> None:
    caplog.set_level("DEBUG")
    bot.command("create ci for the new pipeline")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    dm = bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if ids.REVEAL in d])[0]
    assert "Reveal" in dm and rid in dm

    bot.click(ids.REVEAL, rid, MALLORY, channel="DALICE")
    assert wait_ephemeral(bot, MALLORY, "Only the requester can reveal")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1

    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id="T-reveal")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]}
    assert done.new_key_id in keys and len(keys) == 2
    opened = bot.slack.calls_to("views.open")[0]
    assert opened.params["trigger_id"] == "T-reveal"
    modal = bot.slack.wait_calls("views.update")[0].raw
    secret_text = json.loads(modal)["view"]["blocks"][1]["text"]["text"]
    secret = re.search(r"Secret access key\*\n`([A-Za-z0-9/+]{40})`", secret_text).group(1)
    assert "aws_access_key_id" in modal and done.new_key_id in modal

    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE")
    assert wait_ephemeral(bot, REQUESTER, "already revealed")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 2
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "revealed" in c.raw])

    leaks = [c.method for c in bot.slack.calls if secret in c.raw and c.method != "views.update"]
    assert leaks == []
    assert secret not in _dump_database(bot)
    assert secret not in caplog.text
    assert all(secret not in p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())
    actions = [e.action for e in bot.services.audit.all() if e.request_id == rid]
    assert actions[-2:] == ["reveal_started", "revealed"]


def _dump_database(bot: BotServer) -> str:
    from bot.store.models import Base

    with bot.services.db.session() as session:
        return "\n".join(
            repr(row) for table in Base.metadata.sorted_tables for row in session.execute(select(table)).all()
        )


def test_reveal_when_the_modal_cannot_be_shown(bot: BotServer, iam, ci_user: str) -> None:
    bot.command("create ci")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.fail("views.open", Fault(200, {"ok": False, "error": "expired_trigger_id"}))
    bot.click(ids.REVEAL, rid, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, "no key was created")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1

    bot.slack.fail("views.update", Fault(200, {"ok": False, "error": "not_found"}))
    bot.click(ids.REVEAL, rid, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, "new key was deleted again")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1
    assert request(bot, rid).status is Status.APPROVED

    bot.click(ids.REVEAL, rid, REQUESTER)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 2 and done.new_key_id


def test_self_approval_and_outsiders_are_refused(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, "cannot approve your own request")
    bot.click(ids.APPROVE, rid, MALLORY)
    assert wait_ephemeral(bot, MALLORY, "Only approvers")
    bot.click(ids.DENY, rid, MALLORY)
    assert wait_ephemeral(bot, MALLORY, "Only approvers can deny")
    bot.click(ids.APPROVE, "R-NOPE22", BOSS)
    assert wait_ephemeral(bot, BOSS, "does not exist")
    bot.click(ids.APPROVE, "not-an-id", BOSS)
    assert wait_ephemeral(bot, BOSS, "does not belong to a Keywarden request")
    assert request(bot, rid).status is Status.PENDING and request(bot, rid).approvers == ()
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"


def test_approvers_from_a_user_group(make_bot, aws, iam) -> None:
    bot = make_bot(APPROVER_IDS="", APPROVER_GROUP="SSECURITY")
    bot.slack.groups["SSECURITY"] = ["UGRACE"]
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 5, bot.services.clock())
    bot.command(f"deactivate {key}")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, "Only approvers")
    bot.click(ids.APPROVE, rid, "UGRACE")
    wait_status(bot, rid, Status.SUCCEEDED)


def test_delete_needs_two_distinct_approvers(bot: BotServer, iam, ci_user: str) -> None:
    iam.update_access_key(UserName="ci", AccessKeyId=ci_user, Status="Inactive")
    bot.command(f"delete {ci_user} replaced")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, "1 of 2")
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, "already approved")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "1 of 2" in c.raw])
    bot.click(ids.APPROVE, rid, CARL)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert done.approvers == (BOSS, CARL) and done.decided_by == CARL
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"] == []
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, f"{rid} was already approved by <@{CARL}> at <!date^")


def test_deny_with_a_reason(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    bot.click(ids.DENY, rid, BOSS, trigger_id="T-deny")
    opened = bot.slack.wait_calls("views.open")[0]
    assert opened.params["trigger_id"] == "T-deny" and ids.DENY_MODAL in opened.raw
    metadata = json.dumps({"request_id": rid})
    empty = bot.submit_view(ids.DENY_MODAL, {ids.BLOCK_REASON: {ids.INPUT: {"value": "  "}}}, BOSS, metadata)
    assert empty.json()["response_action"] == "errors"
    assert request(bot, rid).status is Status.PENDING
    bot.submit_view(ids.DENY_MODAL, {ids.BLOCK_REASON: {ids.INPUT: {"value": "still in use by prod"}}}, BOSS, metadata)
    denied = wait_status(bot, rid, Status.DENIED)
    assert denied.deny_reason == "still in use by prod" and denied.decided_by == BOSS
    assert bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if "still in use by prod" in d])
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"
    bot.click(ids.APPROVE, rid, CARL)
    assert wait_ephemeral(bot, CARL, f"Already decided: {rid} was denied by <@{BOSS}> at <!date^")


def test_cancel_and_requests(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    bot.command("requests")
    assert wait_ephemeral(bot, REQUESTER, f"*{rid}*")
    bot.command(f"cancel {rid}", user_id=BOSS)
    assert wait_ephemeral(bot, BOSS, f"You have no request {rid}")
    bot.command(f"cancel {rid.lower()}")
    assert wait_ephemeral(bot, REQUESTER, f"Request {rid} is cancelled")
    assert request(bot, rid).status is Status.CANCELLED
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Cancelled" in c.raw])
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, f"Already decided: {rid} was cancelled by its requester at <!date^")
    bot.command("requests")
    assert wait_ephemeral(bot, REQUESTER, "no open requests")


def test_pending_requests_expire(bot: BotServer, iam, ci_user: str, clock) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    clock.advance(hours=23)
    assert bot.services.decisions.expire_due() == 0
    clock.advance(hours=2)
    assert bot.services.decisions.expire_due() == 1
    assert request(bot, rid).status is Status.EXPIRED
    assert [d for d in dms(bot, REQUESTER) if "Expired" in d]
    assert [c for c in bot.slack.calls_to("chat.update") if "Expired" in c.raw]
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, f"Already decided: {rid} expired at <!date^")


def test_validation_before_a_request_exists(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"delete {ci_user}")
    assert wait_ephemeral(bot, REQUESTER, "is active: deactivate it first")
    bot.command(f"reactivate {ci_user}")
    assert wait_ephemeral(bot, REQUESTER, "is already active")
    bot.command("deactivate AKIAZZZZZZZZZZZZZZZZ")
    assert wait_ephemeral(bot, REQUESTER, "was not found in any configured account")
    bot.command("create ghost")
    assert wait_ephemeral(bot, REQUESTER, "No IAM user `ghost`")
    second = key_made(iam, "ci", 1, bot.services.clock())
    bot.command("create ci")
    assert wait_ephemeral(bot, REQUESTER, "already has two active keys")
    iam.update_access_key(UserName="ci", AccessKeyId=second, Status="Inactive")
    bot.command("create ci")
    assert wait_ephemeral(bot, REQUESTER, f"Delete the inactive one first: `delete {second}`")
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    bot.command(f"deactivate {ci_user} again", user_id=BOSS)
    assert wait_ephemeral(bot, BOSS, f"Request {rid} is already open for this key")
    assert len(bot.slack.calls_to("chat.postMessage")) == 1


def test_requester_who_is_not_the_owner_is_flagged(bot: BotServer, iam, ci_user: str) -> None:
    bot.slack.add_user("UBOB", email="bob@example.com")
    bot.command(f"deactivate {ci_user}", user_id="UBOB")
    filed_id(bot)
    assert "is not the owner of `ci`" in bot.slack.calls_to("chat.postMessage")[0].raw


def test_break_glass(bot: BotServer, iam, ci_user: str) -> None:
    bot.slack.add_user("UBOB", email="bob@example.com")
    bot.command(f"deactivate {ci_user} --now", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", "Only the key's owner or an approver may use `--now`")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"
    bot.command(f"deactivate {ci_user} --now pasted in a public gist")
    assert wait_ephemeral(bot, REQUESTER, "Break-glass")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    notice = bot.slack.calls_to("chat.postMessage")[0]
    assert notice.params["channel"] == "CAPPROVE" and "Break-glass" in notice.raw and "gist" in notice.raw
    assert '"actions"' not in notice.raw
    actions = [e.action for e in bot.services.audit.all()]
    assert "break_glass" in actions and "executed" in actions


def test_aws_failure_ends_the_request_failed(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    iam.delete_access_key(UserName="ci", AccessKeyId=ci_user)  # gone before the approval
    bot.click(ids.APPROVE, rid, BOSS)
    failed = wait_status(bot, rid, Status.FAILED)
    assert "AWS no longer has this key or its IAM user" in failed.result and "cannot be found" not in failed.result
    assert bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if "Failed" in d])


@pytest.mark.both_databases
def test_concurrent_approvals_execute_once(make_bot, aws, iam, ci_user) -> None:
    bots = [make_bot(), make_bot()]  # two app instances, each with its own engine and pool, one database
    bots[0].command(f"deactivate {ci_user}")
    rid = filed_id(bots[0])
    calls = [count_calls(b, "UpdateAccessKey") for b in bots]
    threads = [
        threading.Thread(target=bots[i % 2].click, args=(ids.APPROVE, rid, (BOSS, CARL)[i % 2])) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_status(bots[0], rid, Status.SUCCEEDED)
    assert sum(len(c) for c in calls) == 1
    with bots[0].services.db.session() as s:
        approved = s.scalars(select(AuditEvent).where(AuditEvent.request_id == rid, AuditEvent.action == "approved"))
        assert len(list(approved)) == 1


def test_slack_rate_limit_on_update_is_retried(bot: BotServer, iam, ci_user: str, sleeps) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    bot.slack.fail("chat.update", Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.SUCCEEDED)
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Done" in c.raw])
    assert bot.slack.attempts["chat.update"] >= 2
    assert any(7 <= wait < 8 for wait in sleeps.waits), sleeps.waits  # Retry-After honoured (without waiting)
    bot.slack.wait_for(lambda calls: request(bot, rid).notified_status == "succeeded")
    assert bot.services.recovery.resync(older_than=timedelta(0)) == 0  # nothing left to re-send
    assert len([d for d in dms(bot, REQUESTER) if "Done" in d]) == 1


def test_audit_is_for_approvers(bot: BotServer, iam, ci_user: str) -> None:
    bot.command(f"deactivate {ci_user}")
    filed_id(bot)
    bot.command("audit ci")
    assert wait_ephemeral(bot, REQUESTER, "Only approvers")
    bot.command("audit ci", user_id=BOSS)
    assert wait_ephemeral(bot, BOSS, "*Request filed*")  # a title; the code stays in `audit --json`


def test_request_modal(bot: BotServer, iam, ci_user: str) -> None:
    bot.command("", trigger_id="T-modal")
    opened = bot.slack.wait_calls("views.open")[0]
    assert opened.params["trigger_id"] == "T-modal" and ids.REQUEST_MODAL in opened.raw

    def values(op: str, target: str, reason: str = "") -> dict:
        return {
            ids.BLOCK_OPERATION: {ids.INPUT: {"selected_option": {"value": op}}},
            ids.BLOCK_TARGET: {ids.INPUT: {"value": target}},
            ids.BLOCK_REASON: {ids.INPUT: {"value": reason}},
        }

    bad = bot.submit_view(ids.REQUEST_MODAL, values("deactivate", "not a key"), REQUESTER).json()
    assert bad["response_action"] == "errors" and "not a valid access key id" in bad["errors"][ids.BLOCK_TARGET]
    assert bot.slack.calls_to("chat.postMessage") == []
    bot.submit_view(ids.REQUEST_MODAL, values("deactivate", ci_user, "from the form"), REQUESTER)
    rid = filed_id(bot)
    assert bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if rid in d])
    assert request(bot, rid).reason == "from the form"


def test_expired_reveal(bot: BotServer, iam, ci_user: str, clock) -> None:
    bot.command("create ci")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    clock.advance(hours=25)
    assert bot.services.decisions.expire_due() == 1
    bot.click(ids.REVEAL, rid, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, f"{rid} expired at <!date^")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1
    assert request(bot, rid).status is Status.EXPIRED


def _crash_while_executing(bot: BotServer, rid: str) -> None:
    """Leave the request as a process killed mid-operation would: approved, claimed, never finished."""
    store = request_store(bot)
    assert store.approve(rid, BOSS)[0] == "approved"
    assert store.transition(rid, Status.APPROVED, Status.EXECUTING, actor="keywarden", action="executing")


def test_crash_after_the_aws_call_is_reconciled_without_repeating_it(bot: BotServer, iam, ci_user, clock) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    _crash_while_executing(bot, rid)
    iam.update_access_key(UserName="ci", AccessKeyId=ci_user, Status="Inactive")  # the call that did happen
    updates = count_calls(bot, "UpdateAccessKey")
    assert bot.services.recovery.reconcile_stuck() == 0  # too recent: it may still be running
    clock.advance(minutes=11)
    assert bot.services.recovery.reconcile_stuck() == 1
    done = request(bot, rid)
    assert done.status is Status.SUCCEEDED and "confirmed in AWS" in done.result
    assert updates == []


def test_crash_before_the_aws_call_runs_it_once(bot: BotServer, iam, ci_user, clock) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    _crash_while_executing(bot, rid)
    updates = count_calls(bot, "UpdateAccessKey")
    clock.advance(minutes=11)
    bot.services.recovery.reconcile_stuck()
    bot.services.recovery.reconcile_stuck()
    assert request(bot, rid).status is Status.SUCCEEDED and updates == ["UpdateAccessKey"]
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"


def test_crash_during_reveal_removes_the_unrevealed_key(bot: BotServer, iam, ci_user, clock) -> None:
    bot.command("create ci")
    rid = filed_id(bot)
    _crash_while_executing(bot, rid)
    orphan = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]  # created, never shown
    clock.advance(minutes=11)
    assert bot.services.recovery.reconcile_stuck() == 1
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]]
    assert keys == [ci_user] and orphan not in keys
    assert request(bot, rid).status is Status.APPROVED
    assert any(orphan in e.detail for e in bot.services.audit.all() if e.action == "reconciled")


def test_secrets_manager_delivery(make_bot, aws, iam) -> None:
    import boto3

    bot = make_bot(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="kw")
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    bot.command("create deployer for the pipeline")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    stored = json.loads(
        boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId="kw/default/deployer")[
            "SecretString"
        ]
    )
    assert stored["aws_access_key_id"] == done.new_key_id
    secret = stored["aws_secret_access_key"]
    dm = bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if "kw/default/deployer" in d])[0]
    assert "aws secretsmanager get-secret-value --secret-id kw/default/deployer" in dm
    assert secret not in bot.slack.all_text()
    assert secret not in _dump_database(bot)
    assert bot.slack.calls_to("views.open") == []


def test_one_open_request_that_makes_a_key_per_user(bot: BotServer, iam, ci_user: str) -> None:
    bot.command("create ci")
    rid = filed_id(bot)
    bot.command("rotate ci", user_id="UBOB")
    assert wait_ephemeral(bot, "UBOB", f"Request {rid} is already open for this user")


# Review findings: authorization and state


def test_an_approval_after_expiry_is_refused_and_the_request_expires(bot: BotServer, iam, ci_user, clock) -> None:
    """Item 5: web processes run no expiry sweep, so the approval itself must check the expiry."""
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    updates = count_calls(bot, "UpdateAccessKey")
    clock.advance(hours=24, seconds=1)  # past its expiry; no sweep has run
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, f"{rid} expired at")
    assert request(bot, rid).status is Status.EXPIRED and request(bot, rid).approvers == ()
    assert updates == [] and iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Expired" in c.raw])
    assert bot.services.decisions.expire_due() == 0  # already done
    bot.click(ids.DENY, rid, CARL)
    assert wait_ephemeral(bot, CARL, f"Already decided: {rid} expired at <!date^")


def test_a_deny_after_expiry_expires_it(bot: BotServer, iam, ci_user, clock) -> None:
    bot.command(f"deactivate {ci_user}")
    rid = filed_id(bot)
    clock.advance(hours=25)
    bot.click(ids.DENY, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, f"{rid} expired at")
    assert request(bot, rid).status is Status.EXPIRED and bot.slack.calls_to("views.open") == []


def test_the_reveal_deadline_is_written_by_the_approval_transaction(bot: BotServer, iam, ci_user, clock) -> None:
    """Item 6: nothing between the decision and the deadline can be lost to a crash."""
    bot.command("create ci")
    rid = filed_id(bot)
    store = request_store(bot)
    outcome = store.approve(rid, BOSS, reveal_ttl=timedelta(hours=24))  # the decision, as one transaction
    assert outcome.outcome == "approved"
    assert request(bot, rid).reveal_expires_at == clock() + timedelta(hours=24)


def test_an_approved_key_without_a_reveal_deadline_still_expires(bot: BotServer, iam, ci_user, clock) -> None:
    """Item 6: a request approved without a deadline (a crash, or an older version) does not reveal forever."""
    bot.command("create ci")
    rid = filed_id(bot)
    assert request_store(bot).approve(rid, BOSS)[0] == "approved"  # no deadline written
    assert request(bot, rid).reveal_expires_at is None
    clock.advance(hours=24, seconds=1)
    bot.click(ids.REVEAL, rid, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, f"The Reveal of {rid} has expired")
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1
    housekeeping = jobs(bot.services)["housekeeping"][0]
    housekeeping()
    assert request(bot, rid).status is Status.EXPIRED
    bot.command("create ci")  # the user is free for a new request
    assert filed_id(bot, 2) != rid


def test_a_decision_left_unexecuted_by_a_crash_is_run_by_housekeeping(bot: BotServer, iam, ci_user, clock) -> None:
    """Item 6: `approved` was a dead end (it blocked the key and could not be cancelled)."""
    bot.command(f"deactivate {ci_user} leaving")
    rid = filed_id(bot)
    assert request_store(bot).approve(rid, BOSS)[0] == "approved"  # then the process died
    updates = count_calls(bot, "UpdateAccessKey")
    housekeeping = jobs(bot.services)["housekeeping"][0]
    housekeeping()
    assert request(bot, rid).status is Status.APPROVED and updates == []  # too recent: it may still be running
    clock.advance(minutes=11)
    housekeeping()
    housekeeping()
    assert request(bot, rid).status is Status.SUCCEEDED and updates == ["UpdateAccessKey"]
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Done" in c.raw])


def test_a_secrets_manager_delivery_left_by_a_crash_is_made_by_housekeeping(make_bot, aws, iam, clock) -> None:
    """Item 6, with SECRET_DELIVERY=secretsmanager: no Reveal will come, so housekeeping delivers."""
    bot = make_bot(SECRET_DELIVERY="secretsmanager")
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    bot.command("create deployer")
    rid = filed_id(bot)
    assert request_store(bot).approve(rid, BOSS, reveal_ttl=timedelta(hours=24))[0] == "approved"
    housekeeping = jobs(bot.services)["housekeeping"][0]
    clock.advance(minutes=11)
    housekeeping()
    housekeeping()
    done = request(bot, rid)
    assert done.status is Status.SUCCEEDED and done.new_key_id
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"]] == [
        done.new_key_id
    ]


def test_break_glass_supersedes_open_requests_on_the_key(bot: BotServer, iam, ci_user: str) -> None:
    """Item 7: anyone could block the owner's `--now` by filing a request on the key first."""
    bot.command(f"deactivate {ci_user} blocking", user_id=MALLORY)
    blocker = filed_id(bot)
    bot.command(f"deactivate {ci_user} --now pasted in a public gist")
    assert wait_ephemeral(bot, REQUESTER, "Break-glass")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    glass = filed_id(bot, 2)
    superseded = request(bot, blocker)
    assert superseded.status is Status.CANCELLED and superseded.result == f"superseded by break-glass {glass}"
    assert request(bot, glass).status is Status.SUCCEEDED
    bot.slack.wait_for(
        lambda calls: [c for c in calls if c.method == "chat.update" and f"superseded by break-glass {glass}" in c.raw]
    )
    assert [d for d in dms(bot, MALLORY) if f"superseded by break-glass {glass}" in d]
    bot.click(ids.APPROVE, blocker, BOSS)
    assert wait_ephemeral(bot, BOSS, f"Already decided: {blocker} was cancelled by <@{REQUESTER}> at <!date^")
    actions = [(e.action, e.request_id) for e in bot.services.audit.all()]
    assert ("superseded", blocker) in actions and ("break_glass", glass) in actions


def test_break_glass_supersedes_an_approved_rotation_of_the_key(bot: BotServer, iam, ci_user: str) -> None:
    bot.command("rotate ci")
    rotate_id = filed_id(bot)
    bot.click(ids.APPROVE, rotate_id, BOSS)
    wait_status(bot, rotate_id, Status.APPROVED)  # waiting for Reveal
    bot.command(f"deactivate {ci_user} --now", user_id=BOSS)  # an approver may too
    assert wait_ephemeral(bot, BOSS, "Break-glass")
    assert request(bot, rotate_id).status is Status.CANCELLED
    bot.click(ids.REVEAL, rotate_id, REQUESTER)
    assert wait_ephemeral(bot, REQUESTER, f"{rotate_id} was cancelled by <@{BOSS}> at <!date^")
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]] == [ci_user]


def test_break_glass_from_the_form_says_it_acted_at_once(bot: BotServer, iam, ci_user: str) -> None:
    values = {
        ids.BLOCK_OPERATION: {ids.INPUT: {"selected_option": {"value": "deactivate"}}},
        ids.BLOCK_TARGET: {ids.INPUT: {"value": ci_user}},
        ids.BLOCK_REASON: {ids.INPUT: {"value": "--now leaked in a log"}},
    }
    bot.submit_view(ids.REQUEST_MODAL, values, REQUESTER)
    dm = bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if "Break-glass" in d])[0]
    assert "waits for approval" not in dm and "Done" in dm
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"


def test_approver_group_membership_is_checked_live(make_bot, aws, iam) -> None:
    """Item 9: a member removed from the approver group loses the right at once, and their approval stops
    counting; a member added is an approver at once."""
    bot = make_bot(APPROVER_IDS="", APPROVER_GROUP="SSECURITY")
    bot.slack.groups["SSECURITY"] = ["UGRACE", "UHANK"]
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 5, bot.services.clock())
    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")
    bot.command(f"delete {key}")  # two approvers
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UGRACE")
    assert wait_ephemeral(bot, "UGRACE", "1 of 2")
    bot.slack.groups["SSECURITY"] = ["UHANK"]  # Grace leaves the security team
    lists = len(bot.slack.calls_to("usergroups.users.list"))
    bot.click(ids.APPROVE, rid, "UGRACE")
    assert wait_ephemeral(bot, "UGRACE", "Only approvers")
    bot.click(ids.APPROVE, rid, "UHANK")
    told = wait_ephemeral(bot, "UHANK", "no longer")
    assert (
        "<@UGRACE> is no longer an approver, so that approval no longer counts" in told
        and "1 of 2" in told
        and "stays pending" in told
    )
    assert request(bot, rid).status is Status.PENDING and request(bot, rid).approvers == ("UHANK",)
    assert key in [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]]
    assert len(bot.slack.calls_to("usergroups.users.list")) - lists == 2  # one call per click
    bot.slack.groups["SSECURITY"] = ["UHANK", "UIVY"]  # Ivy joins
    bot.click(ids.APPROVE, rid, "UIVY")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert done.approvers == ("UHANK", "UIVY")
    withdrawn = [e for e in bot.services.audit.all() if e.action == "approval_withdrawn"]
    assert len(withdrawn) == 1 and "UGRACE" in withdrawn[0].detail


def test_requests_for_keywardens_own_identity_are_refused(make_bot, aws, iam, monkeypatch) -> None:
    """Item 10: Keywarden runs as IAM user `keywarden`; nobody gets (or changes) its keys through it."""
    iam.create_user(UserName="keywarden", Path="/service/")
    own = iam.create_access_key(UserName="keywarden")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", own["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", own["SecretAccessKey"])
    bot = make_bot()
    iam.create_user(UserName="ci")
    for text, user in (
        ("create keywarden", REQUESTER),
        (f"rotate {own['AccessKeyId']}", REQUESTER),
        (f"deactivate {own['AccessKeyId']} --now", BOSS),
    ):
        bot.command(text, user_id=user)
        assert wait_ephemeral(bot, user, "is the IAM user Keywarden itself runs as")
        bot.slack.calls.clear()
    assert bot.services.filing.open_requests(REQUESTER) == []
    assert [k["Status"] for k in iam.list_access_keys(UserName="keywarden")["AccessKeyMetadata"]] == ["Active"]
    refused = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert len(refused) == 3 and all(e.iam_user == "keywarden" for e in refused)
    bot.command("create ci")  # other users are served as before
    filed_id(bot)


def test_a_requester_who_does_not_own_the_user_needs_one_more_approval(bot: BotServer, iam, ci_user) -> None:
    """Item 10: with one approval anyone could get a key for any user."""
    bot.slack.add_user("UBOB", email="bob@example.com")
    bot.command("create ci", user_id="UBOB")
    rid = filed_id(bot)
    post = bot.slack.calls_to("chat.postMessage")[0].raw
    assert "is not the owner of `ci`" in post and "needs one more approval than usual" in post
    assert "2* distinct approvers" in post
    bot.click(ids.APPROVE, rid, BOSS)
    assert wait_ephemeral(bot, BOSS, "1 of 2")
    assert request(bot, rid).status is Status.PENDING
    bot.click(ids.APPROVE, rid, CARL)
    assert wait_status(bot, rid, Status.APPROVED).approvers == (BOSS, CARL)
