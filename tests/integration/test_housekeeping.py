"""`python -m bot housekeeping`: the clock process's periodic work once, for cron-style deployments; beside a running
clock process each thing still happens once."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from bot.bootstrap import Services
from bot.clock import system_clock
from bot.domain.operations import Operation
from bot.domain.requests import Status
from bot.entrypoints.cli import main
from bot.entrypoints.housekeeping import ON_SCHEDULE_ONLY, Outcome, report, run_once
from bot.entrypoints.scheduler import jobs
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.requests import RequestStore
from tests.support.aws_events import health_exposed
from tests.support.fake_slack import FakeSlack
from tests.support.flows import REQUESTER, dms, filed_id, key_made, request, tagged, time_bound_key
from tests.support.harness import BotServer
from tests.support.harness import TestClock as Clock
from tests.support.processes import run_bot

KEY = "AKIAIOSFODNN7EXAMPLE"


def calls_of(services: Services, operation: str) -> list[str]:
    """The IAM calls of `operation` this bot makes from now on."""
    seen: list[str] = []
    client = services.aws.account("default").client("iam")
    client.meta.events.register(f"before-call.iam.{operation}", lambda **kw: seen.append(operation))
    return seen


def test_every_job_but_the_scan_runs_once(bot: BotServer, iam) -> None:
    reports = calls_of(bot.services, "GenerateCredentialReport")
    outcome = run_once(bot.services)
    assert outcome.ran == [name for name in jobs(bot.services) if name not in ON_SCHEDULE_ONLY]
    assert {"housekeeping", "rotations", "time_bound_keys"} <= set(outcome.ran)
    assert (outcome.failed, outcome.events, reports) == ([], None, [])  # no events queue configured; no scan


def test_the_events_queue_is_read_until_it_is_empty(make_bot: Callable[..., BotServer], iam) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="keywarden-events")["QueueUrl"]
    bot = make_bot(EVENTS_QUEUE_URL=url)
    tagged(iam, "ci", owner="alice@example.com")
    keys = [key_made(iam, "ci", 30, bot.services.clock()) for _ in range(2)]
    for n in range(12):  # more than one batch of 10
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(health_exposed(keys[n % 2], event_id=f"h{n}")))
    outcome = run_once(bot.services)
    assert (outcome.events, outcome.failed, outcome.ran[-1]) == (12, [], "events")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert len([e for e in bot.services.audit.all() if e.action == "exposed"]) == 12


def test_report_names_what_ran_and_each_failed_job() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert report(Outcome(ran=["housekeeping", "time_bound_keys"], events=1), out, err) == 0
    assert (out.getvalue(), err.getvalue()) == ("housekeeping done: housekeeping, time_bound_keys (1 event read)\n", "")
    out, err = io.StringIO(), io.StringIO()
    assert report(Outcome(ran=["housekeeping"], failed=["rotations"]), out, err) == 1
    assert err.getvalue().splitlines() == [
        "keywarden: housekeeping job rotations failed (its traceback is in the log); run again later"
    ]


@pytest.mark.both_databases
def test_beside_a_running_clock_process_each_thing_happens_once(
    make_bot: Callable[..., BotServer], make_services: Callable[..., Services], iam, clock: Clock, slack: FakeSlack
) -> None:
    """The clock process's jobs and a cron `housekeeping` at the same moment, on one database: every step that is
    due (a request to expire, approvers to remind, a time-bound key to switch off) is taken once."""
    bot = make_bot(REQUEST_TTL_HOURS="6")
    slack.add_user(REQUESTER, email="alice@example.com")
    for user in ("ci", "svc"):
        tagged(iam, user, owner="alice@example.com")
    old, svc = key_made(iam, "ci", 30, clock()), key_made(iam, "svc", 30, clock())
    bot.command(f"deactivate {svc} not needed")
    expiring = filed_id(bot)
    key = time_bound_key(bot)  # filed second
    clock.advance(hours=5)
    bot.command(f"deactivate {old} moved away")
    waiting = filed_id(bot, 3)
    clock.advance(hours=5)  # `expiring` is past its 6 h, `waiting` has waited 5 h (reminders at 4), the key 10 h

    clock_process, cron = bot.services, make_services(REQUEST_TTL_HOURS="6")
    updates = [calls_of(services, "UpdateAccessKey") for services in (clock_process, cron)]
    start = threading.Barrier(2)
    outcomes: list[Outcome] = []

    def runner(services: Services) -> None:
        start.wait()
        outcomes.append(run_once(services))

    threads = [threading.Thread(target=runner, args=(s,)) for s in (clock_process, cron)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [o.failed for o in outcomes] == [[], []]

    def events(rid: str, action: str) -> int:
        return len([e for e in bot.services.audit.all() if e.request_id == rid and e.action == action])

    assert request(bot, expiring).status is Status.EXPIRED and events(expiring, "expired") == 1
    assert events(waiting, "reminded") == 1 and len(slack.posts_to("CAPPROVE", in_thread=True)) == 1
    assert events(key.id, "time_bound_deactivated") == 1 and events(key.id, "time_bound_deactivating") == 1
    assert sum(len(seen) for seen in updates) == 1  # one UpdateAccessKey in all
    assert len([d for d in dms(bot, REQUESTER) if "was switched off" in d]) == 1
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][-1]["Status"] == "Inactive"


def test_a_configuration_problem_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("SLACK_", "DATABASE_URL", "ACCOUNTS")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["housekeeping"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("keywarden: configuration error: SLACK_BOT_TOKEN is not set") and err.count("\n") == 1


def test_python_m_bot_housekeeping_does_the_due_work_and_exits(
    tmp_path: Path, slack: FakeSlack, moto_url: str, sqlite_url: str
) -> None:
    """As cron runs it: a process that expires what is due, tells Slack, and exits 0."""
    db = Database(sqlite_url)
    store = RequestStore(db, system_clock, AuditLog(db, system_clock))
    due = store.add(
        operation=Operation.DEACTIVATE,
        account="default",
        iam_user="ci",
        key_id=KEY,
        requester=REQUESTER,
        reason="not needed",
        approvals_needed=1,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
        details="",
        owner_ok=True,
    )
    result = run_bot(
        "housekeeping",
        cwd=tmp_path,
        timeout=120,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="shh",
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=sqlite_url,
        APPROVAL_CHANNEL="CAPPROVE",
        APPROVER_IDS="UBOSS",
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = result.stdout.splitlines()
    assert line.startswith("housekeeping done: housekeeping, rotations, time_bound_keys, retirements")
    assert store.get(due.id).status is Status.EXPIRED
    [message] = slack.posts_to("CAPPROVE")
    assert due.id in message.raw and "Expired" in message.raw
    db.dispose()
