"""Faults at the edges: Slack 429/500 on every method the bot uses; AWS errors at each step of each operation."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from botocore.exceptions import ConnectionClosedError

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.aws_faults import aws_error
from tests.support.fake_slack import Fault
from tests.support.flows import dms, filed_id, make_key, request, tagged, wait_ephemeral, wait_status
from tests.support.harness import BotServer

SLACK_METHODS = [
    "response_url",
    "users.info",
    "usergroups.users.list",
    "chat.postMessage",
    "chat.update",
    "views.open",
    "views.update",
    "users.lookupByEmail",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
]


def _rate_limited_then_broken() -> list[Fault]:
    return [
        Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
        Fault(500, {"ok": False, "error": "internal_error"}),
    ]


@pytest.mark.both_databases
def test_slack_429_and_500_on_every_method_lose_nothing_and_double_nothing(make_bot, aws, iam) -> None:
    bot: BotServer = make_bot(APPROVER_IDS="", APPROVER_GROUP="SSECURITY")
    bot.slack.groups["SSECURITY"] = ["UBOSS"]
    bot.slack.add_user("UALICE", email="alice@example.com")
    for method in SLACK_METHODS:
        bot.slack.fail(method, *_rate_limited_then_broken())
    now = bot.services.clock()
    tagged(iam, "ci", owner="alice@example.com")
    bot.slack.add_user("UBOB", email="bob@example.com")
    for n in range(45):  # enough findings for the full list to go out as a CSV file
        tagged(iam, f"svc{n}", owner="bob@example.com")
        make_key(iam, f"svc{n}", 100, now)

    bot.command("list ci")
    assert wait_ephemeral(bot, "UALICE", "No access keys")
    bot.command("create ci first key")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.wait_for(lambda calls: [d for d in dms(bot, "UALICE") if ids.REVEAL in d])
    bot.click(ids.REVEAL, rid, "UALICE")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    bot.slack.wait_for(lambda calls: request(bot, rid).notified_status == "succeeded")
    key_id = done.new_key_id
    bot.services.scan(post=True)

    for method in SLACK_METHODS:
        assert bot.slack.attempts[method] > len(bot.slack.calls_to(method)), f"{method} was not retried"
    assert len(bot.slack.posts_to("CAPPROVE")) == 1
    assert len(bot.slack.calls_to("views.open")) == 1 and len(bot.slack.calls_to("views.update")) == 1
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]] == [key_id]
    assert len([d for d in dms(bot, "UALICE") if ids.REVEAL in d]) == 1
    assert len(bot.slack.posts_to("CALERTS")) == 1
    assert len(bot.slack.calls_to("files.completeUploadExternal")) == 1
    assert len(dms(bot, "UBOB")) == 1


# AWS faults, injected where botocore would send the call (the adapter's clients), as AWS would answer.


def _connection_reset(**_: object) -> None:
    raise ConnectionClosedError(endpoint_url="https://iam.amazonaws.com/")


# Each fault and the people's words it is told in (the operator's detail, such as `iam:UpdateAccessKey`, is logged).
FAULTS = {
    "throttling": (aws_error("Throttling", 400), "AWS was too busy"),
    "access_denied": (aws_error("AccessDenied", 403), "AWS does not allow Keywarden"),
    "limit_exceeded": (aws_error("LimitExceeded", 409), "a limit was reached"),
    "connection_reset": (_connection_reset, "no clear answer from AWS"),
    "server_error": (aws_error("ServiceFailure", 500), "no clear answer from AWS"),
}
UNCLEAR = {"connection_reset", "server_error"}  # the call may have taken effect: AWS is asked what it did


def _inject(bot: BotServer, operation: str, fault: Callable[..., object]) -> None:
    for once in (False, True):  # the retrying client, and the one for calls sent once (CreateAccessKey)
        client = bot.services.aws.account("default").client("iam", once=once)
        client.meta.events.register_first(f"before-call.iam.{operation}", fault, unique_id=f"fault-{operation}")


@pytest.fixture
def ci_key(bot: BotServer, iam) -> str:
    bot.slack.add_user("UALICE", email="alice@example.com")
    tagged(iam, "ci", owner="alice@example.com")
    return make_key(iam, "ci", 30, bot.services.clock())


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("operation", "aws_call"), [("deactivate", "UpdateAccessKey"), ("delete", "DeleteAccessKey")])
def test_execution_faults_end_definite(
    bot: BotServer, iam, ci_key: str, fault: str, operation: str, aws_call: str
) -> None:
    if operation == "delete":
        iam.update_access_key(UserName="ci", AccessKeyId=ci_key, Status="Inactive")
    before = iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]
    bot.command(f"{operation} {ci_key}")
    rid = filed_id(bot)
    handler, words = FAULTS[fault]
    _inject(bot, aws_call, handler)
    bot.click(ids.APPROVE, rid, "UBOSS")
    if operation == "delete":
        bot.click(ids.APPROVE, rid, "UCARL")
    failed = wait_status(bot, rid, Status.FAILED)
    assert words in failed.result and f"iam:{aws_call}" not in failed.result and "ServiceFailure" not in failed.result
    if fault in UNCLEAR:
        assert "AWS shows that nothing was changed" in failed.result  # checked, not assumed
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"] == before
    assert bot.slack.wait_for(lambda calls: [d for d in dms(bot, "UALICE") if "Failed" in d and words[:10] in d])


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("operation", ["create", "rotate"])
def test_new_key_faults_at_reveal(bot: BotServer, iam, ci_key: str, fault: str, operation: str) -> None:
    bot.command(f"{operation} ci")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.APPROVED)
    handler, words = FAULTS[fault]
    _inject(bot, "CreateAccessKey", handler)
    bot.click(ids.REVEAL, rid, "UALICE")
    modal = bot.slack.wait_calls("views.update")[0]
    assert words in json.dumps(modal.params) and "iam:CreateAccessKey" not in json.dumps(modal.params)
    final = wait_status(bot, rid, Status.FAILED, Status.APPROVED)
    if fault in UNCLEAR:
        assert final.status is Status.APPROVED  # nothing was created: Reveal is offered again
    else:
        assert words in final.result
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]] == [ci_key]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("aws_call", ["GetAccessKeyLastUsed", "ListAccessKeys"])
def test_faults_while_filing_create_no_request(bot: BotServer, iam, ci_key: str, fault: str, aws_call: str) -> None:
    handler, words = FAULTS[fault]
    _inject(bot, aws_call, handler)
    bot.command(f"deactivate {ci_key}")
    reply = bot.slack.wait_calls("response_url")[0].raw
    if aws_call == "GetAccessKeyLastUsed" and fault in {"access_denied"}:
        assert "could not look for" in reply and "not found" not in reply  # never looked: never "not found"
    else:  # people's words; the operator's (which permission, which file, AWS's code) go to the log
        assert words in reply and "member-policy" not in reply and f"iam:{aws_call}" not in reply
    assert "Traceback" not in reply
    assert bot.services.filing.open_requests("UALICE") == []
    assert bot.slack.calls_to("chat.postMessage") == []
