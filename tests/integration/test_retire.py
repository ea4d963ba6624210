"""`retire <key-id>`: a request like the others; once approved, the key is switched off only when its role is in use
and the key has been quiet for CUTOVER_QUIET_HOURS, then deleted after ROTATION_DELETE_DAYS. Never while the key is
used after the role's last use, never when AWS cannot be read. moto in process for IAM (the roles' and keys' last
uses set in its backend, as AWS reports them), fake Slack for the owner's DMs, time moved by hand."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import AccessKeyLastUsed, iam_backends

from bot.bootstrap import Services
from bot.domain.audit_events import event
from bot.domain.commands import Command, parse
from bot.domain.keys import InputError
from bot.domain.requests import Status
from bot.domain.retirement import Stage
from bot.metrics import KEYS
from bot.services.workloads import replacement_role
from tests.support.aws_faults import aws_error
from tests.support.fake_slack import FakeSlack

OWNER, BOSS = "UALICE", "UBOSS"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def backend():
    return iam_backends[DEFAULT_ACCOUNT_ID]["global"]


def key_used(key_id: str, at: datetime) -> None:
    backend().access_keys[key_id].last_used = AccessKeyLastUsed(
        timestamp=at.replace(tzinfo=None), service="s3", region="us-east-1"
    )


def role_used(name: str, at: datetime) -> None:
    backend().get_role(name).last_used = at.replace(tzinfo=None)


def status(iam, key_id: str) -> str | None:
    keys = iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]
    return next((k["Status"] for k in keys if k["AccessKeyId"] == key_id), None)


@pytest.fixture
def world(make_services: Callable[..., Services], aws: None, slack: FakeSlack, clock):
    slack.add_user(OWNER, email="alice@example.com")
    services = make_services()
    iam = boto3.client("iam")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    key_used(key, clock() - timedelta(days=2))
    return services, iam, key


def approved_retirement(services: Services, key: str):
    request = services.filing.file(OWNER, Command("retire", key_id=key, reason="the Lambda has its role"))
    assert request.status is Status.PENDING
    services.decisions.approve(request.id, BOSS)
    done = services.decisions.store.get(request.id)
    assert done is not None and done.status is Status.SUCCEEDED and "now watches" in (done.result or "")
    return request.id


def dms(slack: FakeSlack) -> list[str]:
    return [c.raw for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == OWNER]


@pytest.mark.both_databases  # each step a conditional UPDATE of the retirement's row
def test_retire_waits_for_the_role_then_for_quiet_then_switches_off_and_deletes(world, slack, clock) -> None:
    services, iam, key = world
    request_id = approved_retirement(services, key)
    services.retirements.advance_due()
    r = services.retirements.store.get(request_id)
    assert r is not None and r.state is Stage.WATCHING and r.role_name == "ci-role"
    assert any("now watches the role" in d for d in dms(slack))
    assert any("the role does not exist yet" in d for d in dms(slack))  # told once, what holds it up
    said = [c.params.get("text", "") for c in slack.calls_to("chat.postMessage")]
    assert any(f":eyes: Retiring `{key}` of *ci*:" in t for t in said)  # one account: no `default:`

    iam.create_role(RoleName="ci-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    clock.advance(hours=2)
    services.retirements.advance_due()
    assert status(iam, key) == "Active"  # the role exists; nothing has used it (and the owner was told today)

    clock.advance(hours=22)
    role_used("ci-role", clock() - timedelta(hours=1))
    services.retirements.advance_due()
    assert status(iam, key) == "Active"  # the role is in use, but it appeared less than a quiet period ago

    before = KEYS.labels("replaced_by_role")._value.get()
    clock.advance(hours=25)
    role_used("ci-role", clock() - timedelta(hours=1))
    services.retirements.advance_due()
    assert status(iam, key) == "Inactive"
    r = services.retirements.store.get(request_id)
    assert r.state is Stage.SWITCHED_OFF and r.delete_at == clock() + timedelta(days=7)
    assert KEYS.labels("replaced_by_role")._value.get() == before + 1
    assert any("is switched off: the role `ci-role` took over" in d for d in dms(slack))

    deleted = KEYS.labels("retired")._value.get()
    clock.advance(days=7, minutes=1)
    services.retirements.advance_due()
    assert status(iam, key) is None
    assert KEYS.labels("retired")._value.get() == deleted + 1  # counted by the adapter's DeleteAccessKey
    assert services.retirements.store.get(request_id).state is Stage.DELETED
    rows = [e for e in services.audit.all() if e.request_id == request_id]
    actions = [e.action for e in rows]
    assert {"retirement_watching", "retirement_switching-off", "retirement_switched-off", "retirement_deleted"} <= set(
        actions
    )
    steps = [event(e) for e in rows if e.action.startswith("retirement_")]  # as the audit stream sends them
    assert {e["type"] for e in steps} == {"retirement.stage_changed"}
    assert [e["stage"] for e in steps][-3:] == ["switched-off", "deleting", "deleted"]


def test_never_switched_off_while_the_key_is_used_after_the_role(world, slack, clock) -> None:
    services, iam, key = world
    iam.create_role(RoleName="ci-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    request_id = approved_retirement(services, key)
    role_used("ci-role", clock() + timedelta(hours=1))
    key_used(key, clock() + timedelta(hours=2))  # the key did work after the role's last use
    for _ in range(5):
        clock.advance(days=2)
        services.retirements.advance_due()
        assert status(iam, key) == "Active"
    r = services.retirements.store.get(request_id)
    assert r.state is Stage.WATCHING
    told = [d for d in dms(slack) if "the key is still in use" in d]
    assert 1 <= len(told) <= 5 and "activity " + key in told[-1]  # at most daily, saying where it was last used


def test_nothing_when_aws_cannot_be_read(world, clock) -> None:
    services, iam, key = world
    iam.create_role(RoleName="ci-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    request_id = approved_retirement(services, key)
    role_used("ci-role", clock() + timedelta(hours=1))
    clock.advance(days=3)
    services.aws.account("default").client("iam").meta.events.register(
        "before-call.iam.GetRole", aws_error("AccessDenied", 403)
    )
    services.retirements.advance_due()
    assert status(iam, key) == "Active"
    r = services.retirements.store.get(request_id)
    assert r.state is Stage.WATCHING and r.next_at > clock()  # tried again later


def test_retire_refuses_an_inactive_key_and_is_left_alone_when_someone_else_acts(world, slack, clock) -> None:
    services, iam, key = world
    request_id = approved_retirement(services, key)
    iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")
    services.retirements.advance_due()
    assert services.retirements.store.get(request_id).state is Stage.ENDED
    assert any("switched off by someone else" in d for d in dms(slack))
    with pytest.raises(InputError, match="already inactive"):
        services.filing.file(OWNER, Command("retire", key_id=key))


@pytest.mark.both_databases  # two runners adopting one approval at once: one row, one audit event
def test_two_runners_adopt_an_approval_once(world) -> None:
    services, _, key = world
    request_id = approved_retirement(services, key)
    barrier = threading.Barrier(2)

    def adopt() -> int:
        barrier.wait()
        return len(services.retirements.store.adopt(replacement_role))

    with ThreadPoolExecutor(2) as pool:
        made = sorted(pool.map(lambda _: adopt(), range(2)))
    assert made == [0, 1]
    watching = [e for e in services.audit.all() if e.request_id == request_id and e.action == "retirement_watching"]
    assert len(watching) == 1


def test_retire_watches_the_role_named_with_role_and_refuses_one_that_is_not_there(world, slack, clock) -> None:
    services, iam, key = world
    iam.create_role(RoleName="ci-lambda", Path="/service/", AssumeRolePolicyDocument=json.dumps(TRUST))
    arn = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/service/ci-lambda"
    events = len(services.audit.all())
    for typed, said in (
        (f"retire {key} --role nope", "There is no role `nope`: create it first"),
        (
            f"retire {key} --role arn:aws:iam::210987654321:role/service/ci-lambda",
            f"is not a role of the key's account: the role `ci-lambda` is `{arn}`",
        ),
    ):
        with pytest.raises(InputError) as refused:
            services.filing.file(OWNER, parse(typed, ["default"]))
        assert said in str(refused.value) and "\n" not in str(refused.value)
    assert len(services.audit.all()) == events and services.filing.open_requests(OWNER) == []  # nothing filed

    request = services.filing.file(OWNER, parse(f"retire {key} --role {arn} the Lambda has its role", ["default"]))
    assert request.retire_role == "ci-lambda"
    approval = [c.raw for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "CAPPROVE"]
    assert any("*Role to watch:* `ci-lambda`" in m for m in approval)
    services.decisions.approve(request.id, BOSS)
    services.retirements.advance_due()
    r = services.retirements.store.get(request.id)
    assert r is not None and (r.role_name, r.permission_set) == ("ci-lambda", False)  # not the suggested ci-role
    assert any("now watches the role `ci-lambda`" in d for d in dms(slack))
    role_used("ci-lambda", clock() + timedelta(hours=1))
    clock.advance(days=2)
    services.retirements.advance_due()
    assert status(iam, key) == "Inactive"  # switched off by the named role's use (ci-role never existed)
