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


def test_a_command_acked_by_a_killed_process_is_filed_once_by_another(
    slack, shared_db, proxy, ci_key, start_web
) -> None:
    key, _ = ci_key
    env, first, web, db = start_bot(start_web, slack, shared_db, proxy.url, "web-a", WORK_LEASE_SECONDS="1")
    gate = _occupy_every_work_thread(web, proxy)

    assert web.command(f"deactivate {key} leaving the team").status == 200
    acked = _acked(first, "command")
    first.kill()
    gate.set()
    assert [i.function for i in _items(db)] == ["run_command"] * (WORKERS + 1)  # kept, nothing done
    assert slack.posts_to("CAPPROVE") == []

    second = start_web(env, "web-b")
    post = slack.wait_posts("CAPPROVE")[0]
    _until(lambda: _items(db) == [])
    rid = re.search(r"R-[A-Z0-9]{6}", post.raw).group(0)
    assert db.get(rid).status is Status.PENDING and db.get(rid).key_id == key
    assert len(slack.posts_to("CAPPROVE")) == 1  # filed once
    log = second.log.read_text()
    assert f"request {acked}: taking over the work after the ack (run_command" in log
    assert f"request {acked}: work after the ack done (run_command, ok)" in log
    db.db.dispose()


def test_an_approve_acked_by_a_killed_process_is_counted_once_by_another(
    slack, shared_db, proxy, ci_key, start_web
) -> None:
    key, _ = ci_key
    env, first, web, db = start_bot(start_web, slack, shared_db, proxy.url, "web-a", WORK_LEASE_SECONDS="1")
    rid = file_request(web, f"deactivate {key} leaving the team")
    db.wait(rid, lambda r: r.message_ts is not None)
    gate = _occupy_every_work_thread(web, proxy)

    assert web.click(ids.APPROVE, rid, "UBOSS").status == 200
    acked = _acked(first, "action")
    first.kill()
    gate.set()
    assert "approve" in [i.function for i in _items(db)]
    assert db.get(rid).status is Status.PENDING

    second = start_web(env, "web-b")
    done = db.wait(rid, lambda r: r.status is Status.SUCCEEDED)
    _until(lambda: _items(db) == [])
    assert done.decided_by == "UBOSS"
    assert proxy.calls["UpdateAccessKey"] == 1
    assert f"request {acked}: work after the ack done (approve, ok)" in second.log.read_text()
    db.db.dispose()


def test_a_paste_acked_by_a_killed_process_is_answered_once_by_another_and_its_secret_never_kept(
    slack, shared_db, proxy, ci_key, start_web
) -> None:
    key, secret = ci_key
    env, first, web, db = start_bot(start_web, slack, shared_db, proxy.url, "web-a", WORK_LEASE_SECONDS="1")
    gate = _occupy_every_work_thread(web, proxy)

    assert web.message(f"does this work? {key} {secret}", user="UDAVE", ts="1700000100.000100").status == 200
    first.kill()
    gate.set()
    (pasted,) = [i for i in _items(db) if i.function == "look_for_keys"]
    assert pasted.found == [key]
    kept = pasted.body + json.dumps(pasted.found)
    assert secret not in kept and secret.replace("/", "\\/") not in kept and secret[:20] not in kept
    assert "1700000100.000100" in pasted.body  # where it was said is kept

    start_web(env, "web-b")
    alert = slack.wait_posts("CALERTS")[0]
    _until(lambda: _items(db) == [])
    assert key in alert.raw
    thread = slack.wait_for(lambda calls: slack.posts_to("CWORK", in_thread=True))
    assert len(slack.posts_to("CALERTS")) == 1 and len(thread) == 1  # answered once
    assert thread[0].params["thread_ts"] == "1700000100.000100"
    assert secret not in slack.all_text()
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
