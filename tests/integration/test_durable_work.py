"""The work after the ack, kept in the database: claimed by one process at a time, harmless when done twice at
once (a process paused past its lease while another took over), reported when it was a window, and shown."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.clock import system_clock
from bot.domain.requests import Status
from bot.slack import ids
from bot.store.db import Database
from bot.store.work_queue import WorkQueue
from tests.support.flows import filed_id, wait_status
from tests.support.harness import BotServer

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


LEASE = timedelta(seconds=10)


def _left_for_others(bot: BotServer) -> None:
    """From now on this process only acks and records (as a web process does when workers do the work)."""
    bot.wsgi.durable.run_here = False


def test_an_approve_resumed_twice_at_once_acts_once(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    key = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    bot.command(f"deactivate {key} leaving")
    rid = filed_id(bot)
    _left_for_others(bot)
    assert bot.click(ids.APPROVE, rid, "UBOSS").status == 200
    durable = bot.wsgi.durable
    (item,) = durable.queue.claim("a-process", timedelta(seconds=10), 10)
    assert item.function == "approve" and item.attempts == 1
    assert durable.queue.claim("another", timedelta(seconds=10), 10) == []  # held: nobody else gets it

    _run_twice_at_once(bot, item)
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert done.decided_by == "UBOSS"
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    actions = [e.action for e in bot.services.audit.recent(rid)]
    assert actions.count("approval") == 1 and actions.count("executed") == 1, actions


def _run_twice_at_once(bot: BotServer, item: object) -> None:
    """A claimed item run by two threads at once (two processes that both think it theirs), then the work it left."""
    both = [threading.Thread(target=bot.wsgi.durable._redo, args=(item,)) for _ in range(2)]
    for t in both:
        t.start()
    for t in both:
        t.join()
    bot.work.idle()


def _resume_twice_at_once(bot: BotServer) -> None:
    """The one item recorded is claimed, then run by two threads at once."""
    (item,) = bot.wsgi.durable.queue.claim("a-process", timedelta(seconds=10), 10)
    _run_twice_at_once(bot, item)


def test_a_command_resumed_twice_at_once_files_one_request(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    key = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    _left_for_others(bot)
    assert bot.command(f"deactivate {key} leaving").status == 200
    _resume_twice_at_once(bot)
    (filed,) = bot.slack.posts_to("CAPPROVE")  # one request; the other run is told it is already asked for
    assert key in filed.raw
    answers = [c.raw for c in bot.slack.calls_to("response_url")]
    assert len(answers) == 2 and sum("already" in a for a in answers) == 1, answers


def test_a_paste_resumed_twice_at_once_is_answered_once(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    made = iam.create_access_key(UserName="ci")["AccessKey"]
    _left_for_others(bot)
    assert bot.message(f"is this right? {made['AccessKeyId']} {made['SecretAccessKey']}", user="UDAVE").status == 200
    _resume_twice_at_once(bot)
    (alert,) = bot.slack.posts_to("CALERTS")  # the paste is claimed per message: one alert, one thread reply
    assert made["AccessKeyId"] in alert.raw and len(bot.slack.posts_to("CWORK", in_thread=True)) == 1
    assert made["SecretAccessKey"] not in bot.slack.all_text()


def test_items_are_claimed_once_however_many_claim_at_once(bot: BotServer, iam) -> None:
    _left_for_others(bot)
    for n in range(20):
        assert bot.command(f"list ci{n}").status == 200
    queue = WorkQueue(bot.services.db, bot.services.clock)
    claimed: list[list[int]] = []

    def claim(owner: str) -> None:
        claimed.append([i.id for i in queue.claim(owner, timedelta(seconds=30), 20)])

    claimers = [threading.Thread(target=claim, args=(f"p{n}",)) for n in range(4)]
    for t in claimers:
        t.start()
    for t in claimers:
        t.join()
    every = [i for ids_ in claimed for i in ids_]
    assert len(every) == 20 and len(set(every)) == 20


def test_a_window_left_by_a_dead_process_is_reported_not_opened(bot: BotServer, iam) -> None:
    durable = bot.wsgi.durable
    queue = durable.queue
    click = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "actions": [{"action_id": ids.REVEAL, "value": "R-ABCDEF"}],
        "response_url": bot.slack.response_url("reveal"),
        "trigger_id": "T-old",
    }
    queue.record(
        request_id="abc", kind="action", function="window", body=click, found=None, owner=None, lease=timedelta(0)
    )
    assert durable.sweep() == 1
    bot.work.idle()
    (answer,) = bot.slack.calls_to("response_url")
    assert "Click Reveal again" in answer.raw and "no key was created" in answer.raw
    assert bot.slack.calls_to("views.open") == []  # never opened late
    assert queue.depth().items == 0


def test_health_and_metrics_show_the_queue(bot: BotServer) -> None:
    _left_for_others(bot)
    assert json.loads(bot.get("/healthz").body)["work_queue"] == {"depth": 0, "oldest_seconds": None}
    bot.command("list ci")
    health = json.loads(bot.get("/healthz").body)["work_queue"]
    assert health["depth"] == 1 and health["oldest_seconds"] >= 0
    metrics = bot.get("/metrics").body
    assert "keywarden_work_queue_depth 1.0" in metrics and "keywarden_work_queue_oldest_seconds" in metrics


def test_expired_work_is_dropped_not_done(bot: BotServer, clock) -> None:
    _left_for_others(bot)
    bot.command("list ci")
    clock.advance(minutes=31)  # Slack's response_url is dead by now
    assert bot.wsgi.durable.sweep() == 1
    bot.work.idle()
    assert bot.slack.calls_to("response_url") == [] and bot.wsgi.durable.queue.depth().items == 0


def test_recording_does_not_wait_for_the_bots_own_writes(database_url: str) -> None:
    """The ack path's INSERT: on SQLite the queue has a file of its own (bot/store/sqlite.py), so a write the work
    after an ack holds open on the bot's file does not hold the next ack up (SQLite's one writer per file)."""
    db = Database(database_url)
    queue = WorkQueue(db, system_clock)
    try:
        with db.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))  # the write lock, held
            item = queue.record(
                request_id="abc", kind="command", function="run_command", body={}, found=None, owner="p", lease=LEASE
            )
            assert queue.depth().items == 1
        queue.sync()  # on the disk (SQLite's queue file), or nothing to do (PostgreSQL)
        queue.finish(item)
        assert queue.depth().items == 0
    finally:
        db.dispose()


def test_recording_survives_a_connection_the_server_closed(database_url: str) -> None:
    """The queue's connections are not pinged before each statement (one round trip in the ack path): one the
    server closed (PostgreSQL restarted, a proxy timed it out) is replaced and the INSERT tried once more."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's queue file has no server to close a connection")
    db = Database(database_url)
    queue = WorkQueue(db, system_clock)
    try:
        first = queue.record(request_id="a", kind="command", function="f", body={}, found=None, owner="p", lease=LEASE)
        with db.statements() as conn:  # the pooled connection the next INSERT will get
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with db.session() as session:
            assert session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        second = queue.record(request_id="b", kind="command", function="f", body={}, found=None, owner="p", lease=LEASE)
        assert second > first and queue.depth().items == 2
    finally:
        db.dispose()
