"""Work Slack was told is accepted survives the process that acked it: killed (SIGKILL) between the ack and the
work, another process does the work, once; stopped (SIGTERM), the process finishes it before it exits.

The moment between the ack and the work is made real, not simulated: AWS is slow (the proxy holds ListAccessKeys),
so every work thread of the process waits on it and the request under test is acked, recorded and queued."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import Row, select

from bot.domain.requests import Status
from bot.entrypoints.web import WORKERS
from bot.slack import ids
from bot.store.models import WorkItem
from tests.support.aws_proxy import AwsProxy
from tests.support.harness import RemoteBot
from tests.support.processes import Process
from tests.support.remote import Requests, file_request, start_bot

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


def _until(predicate, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)
    return found


def _occupy_every_work_thread(web: RemoteBot, proxy: AwsProxy) -> threading.Event:
    """AWS turns slow: `list ci` from each work thread waits in ListAccessKeys until the gate opens."""
    gate = proxy.hold["ListAccessKeys"] = threading.Event()
    before = proxy.calls["ListAccessKeys"]
    for _ in range(WORKERS):
        assert web.command("list ci").status == 200
    _until(lambda: proxy.calls["ListAccessKeys"] >= before + WORKERS)
    return gate


def _items(db: Requests) -> list[Row[Any]]:
    with db.db.statements() as conn:  # the work queue's connection: on SQLite, the queue's own file
        return list(conn.execute(select(WorkItem.__table__).order_by(WorkItem.id)))


def _acked(process: Process, kind: str) -> str:
    """The id of the last request of `kind` the process logged as acknowledged."""
    return re.findall(rf"request (\w+): ack {kind} \(ok", process.log.read_text())[-1]


@pytest.fixture
def ci_key(remote_iam) -> tuple[str, str]:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    made = remote_iam.create_access_key(UserName="ci")["AccessKey"]
    return made["AccessKeyId"], made["SecretAccessKey"]


def test_a_command_an_approve_and_a_paste_acked_by_a_killed_process_are_done_once_by_another(
    slack, shared_db, proxy, ci_key, remote_iam, start_web
) -> None:
    """One process acks the three kinds of work, each recorded and queued behind slow AWS calls, and is killed
    before it starts any of them; a process started afterwards does each once. (One pair of processes for the
    three: each start costs seconds.)"""
    pasted_key, secret = ci_key
    for user in ("svc-a", "svc-b"):
        remote_iam.create_user(UserName=user, Tags=[{"Key": "owner", "Value": "UALICE"}])
    approved_key = remote_iam.create_access_key(UserName="svc-a")["AccessKey"]["AccessKeyId"]
    commanded_key = remote_iam.create_access_key(UserName="svc-b")["AccessKey"]["AccessKeyId"]
    env, first, web, db = start_bot(start_web, slack, shared_db, proxy.url, "web-a", WORK_LEASE_SECONDS="1")
    rid = file_request(web, f"deactivate {approved_key} leaving the team")
    db.wait(rid, lambda r: r.message_ts is not None)
    gate = _occupy_every_work_thread(web, proxy)

    assert web.command(f"deactivate {commanded_key} leaving the team").status == 200
    command = _acked(first, "command")
    assert web.click(ids.APPROVE, rid, "UBOSS").status == 200
    approve = _acked(first, "action")
    assert web.message(f"does this work? {pasted_key} {secret}", user="UDAVE", ts="1700000100.000100").status == 200
    first.kill()
    gate.set()
    kept = _items(db)  # kept, nothing done: the three, behind the `list` each work thread was busy with
    assert sorted(i.function for i in kept) == sorted(["run_command"] * (WORKERS + 1) + ["approve", "look_for_keys"])
    (pasted,) = [i for i in kept if i.function == "look_for_keys"]
    assert pasted.found == [pasted_key]
    body = pasted.body + json.dumps(pasted.found)
    assert secret not in body and secret.replace("/", "\\/") not in body and secret[:20] not in body
    assert "1700000100.000100" in pasted.body  # where it was said is kept
    assert len(slack.posts_to("CAPPROVE")) == 1 and db.get(rid).status is Status.PENDING
    assert slack.posts_to("CALERTS") == []

    second = start_web(env, "web-b")
    done = db.wait(rid, lambda r: r.status is Status.SUCCEEDED)  # the Approve: counted once, executed once
    assert done.decided_by == "UBOSS" and proxy.calls["UpdateAccessKey"] == 1
    filed = slack.wait_posts("CAPPROVE", 2)  # the command: filed once
    assert commanded_key in filed[1].raw
    alert = slack.wait_posts("CALERTS")[0]  # the paste: answered once
    thread = slack.wait_for(lambda calls: slack.posts_to("CWORK", in_thread=True))
    _until(lambda: _items(db) == [])
    assert pasted_key in alert.raw and len(slack.posts_to("CALERTS")) == 1 and len(thread) == 1
    assert thread[0].params["thread_ts"] == "1700000100.000100"
    assert secret not in slack.all_text()
    assert len(slack.posts_to("CAPPROVE")) == 2
    log = second.log.read_text()
    assert f"request {command}: taking over the work after the ack (run_command" in log
    assert f"request {command}: work after the ack done (run_command, ok)" in log
    assert f"request {approve}: work after the ack done (approve, ok)" in log
    db.db.dispose()


def _healthz(process: Process) -> int:
    try:
        with urllib.request.urlopen(process.url + "/healthz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_sigterm_finishes_the_acknowledged_work_before_exiting(slack, shared_db, proxy, ci_key, start_web) -> None:
    key, _ = ci_key
    _, process, web, db = start_bot(start_web, slack, shared_db, proxy.url, "web")
    rid = file_request(web, f"deactivate {key} leaving the team")
    db.wait(rid, lambda r: r.message_ts is not None)
    gate = _occupy_every_work_thread(web, proxy)
    assert web.click(ids.APPROVE, rid, "UBOSS").status == 200

    process.proc.send_signal(signal.SIGTERM)
    _until(lambda: _healthz(process) == 503)  # draining: no new requests are routed here
    assert process.proc.poll() is None  # still at work
    gate.set()  # AWS answers again
    assert process.proc.wait(timeout=30) == 0
    assert db.get(rid).status is Status.SUCCEEDED and proxy.calls["UpdateAccessKey"] == 1
    assert _items(db) == []
    assert "work after the ack drained (0 item(s) left" in process.log.read_text()
    db.db.dispose()
