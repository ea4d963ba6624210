"""The audit stream end to end: real requests through the app, a local receiver that fails for a while."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.domain.audit_events import EVENT_TYPES, event_type
from bot.domain.requests import Status
from bot.slack import ids
from bot.store.models import AuditOutbox
from tests.support.flows import BOSS, REQUESTER, filed_id, key_made, wait_status
from tests.support.harness import BotServer

SECRET = "a-webhook-secret-of-some-length"
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A SIEM's HTTP collector on loopback: answers `status` (500 while "down"), keeps what it accepted;
    with `location`, its answers carry that Location header (a redirect)."""

    def __init__(self) -> None:
        self.status = 500
        self.location: str | None = None
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.status == 200:
                    receiver.accepted.append((dict(self.headers), body))
                else:
                    receiver.refused += 1
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/keywarden"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.accepted]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def streaming(make_bot, aws, receiver: Receiver, iam) -> BotServer:
    bot = make_bot(AUDIT_WEBHOOK_URL=receiver.url, AUDIT_WEBHOOK_SECRET=SECRET)
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return bot


def _backlog(bot: BotServer) -> int:
    with bot.services.db.session() as session:
        return session.scalar(select(func.count(AuditOutbox.id)))


def _run_request(bot: BotServer, text: str, n: int = 1) -> str:
    bot.command(text)
    rid = filed_id(bot, n)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.SUCCEEDED)
    return rid


def test_events_survive_an_endpoint_that_fails_for_a_while_in_order_and_signed(
    streaming: BotServer, receiver: Receiver, iam, clock
) -> None:
    bot, stream = streaming, streaming.services.audit_stream
    key = key_made(iam, "ci", 30, clock())
    first = _run_request(bot, f"deactivate {key} leaving")
    second = _run_request(bot, f"reactivate {key} back again", 2)
    recorded = bot.services.audit.all()
    assert len(recorded) == 10 and _backlog(bot) == 10

    # Down: each round sends the oldest event, fails, and waits longer (1 s, 2 s, 4 s ...) before the next.
    assert stream.deliver_due() == 0 and receiver.refused == 1
    assert stream.deliver_due() == 0 and receiver.refused == 1  # still paused
    for seconds in (1, 2, 4, 8):
        clock.advance(seconds=seconds)
        assert stream.deliver_due() == 0
    assert receiver.refused == 5 and _backlog(bot) == 10
    health = bot.get("/healthz").json()
    assert health["audit_backlog"]["events"] == 10 and health["audit_backlog"]["retrying"] is True
    assert health["audit_backlog"]["last_error"] == "HTTP 500"

    # Up again: everything arrives once, oldest first, and the outbox is empty.
    receiver.status = 200
    clock.advance(seconds=16)
    assert stream.deliver_due() == 10
    assert _backlog(bot) == 0 and bot.get("/healthz").json()["audit_backlog"]["events"] == 0
    events = receiver.events()
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert [(e["request_id"], e["type"]) for e in events] == [
        (first, "request.filed"),
        (first, "request.approval_added"),
        (first, "request.approved"),
        (first, "request.executing"),
        (first, "key.deactivated"),
        (second, "request.filed"),
        (second, "request.approval_added"),
        (second, "request.approved"),
        (second, "request.executing"),
        (second, "key.reactivated"),
    ]
    assert all(e["version"] == 1 and e["key_id"] == key and e["account"] == "default" for e in events)
    for headers, body in receiver.accepted:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Keywarden-Signature-256"], expected)
        assert headers["X-Keywarden-Event"] == json.loads(body)["type"]
    # The export prints the same events, byte for byte.
    assert [json.loads(line) for line in bot.services.audit.events()] == events


def test_an_endpoint_that_never_answers_keeps_everything_and_acks_are_not_held(
    make_bot, aws, iam, clock, receiver: Receiver
) -> None:
    receiver.stop()  # nothing listens on that port any more: connection refused
    bot = make_bot(AUDIT_WEBHOOK_URL=receiver.url)
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 30, clock())
    assert bot.command(f"deactivate {key} leaving").status == 200
    filed_id(bot)
    for _ in range(3):
        clock.advance(minutes=10)
        assert bot.services.audit_stream.deliver_due() == 0
    backlog = bot.services.audit_stream.backlog()
    assert backlog.events == 1 and backlog.last_error == "ConnectionRefusedError"
    assert bot.get("/healthz").json()["audit_backlog"]["oldest_seconds"] == 30 * 60


def test_without_a_webhook_no_outbox_rows(bot: BotServer, iam, clock) -> None:
    bot.services.audit.write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE")
    assert bot.services.audit_stream is None and _backlog(bot) == 0
    assert "audit_backlog" not in bot.get("/healthz").json()


def test_every_mapped_type_is_documented() -> None:
    doc = (ROOT / "docs" / "audit-events.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", doc, flags=re.M))
    assert documented == EVENT_TYPES
    assert event_type("rotation_grace") == "rotation.stage_changed"
    assert event_type("executed", "delete") == "key.deleted"
    assert event_type("something_new") == "audit.recorded"


def test_audit_json_export_with_since_and_until(tmp_path: Path, clock) -> None:
    from datetime import timedelta

    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    url = f"sqlite:///{tmp_path / 'kw.db'}"
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "DATABASE_URL": url}
    services = bootstrap(Settings.from_env(env), clock=clock)
    start = clock()
    services.audit.write("UBOSS", "snoozed", account="default", key_id="AKIAOLD")
    clock.advance(days=2)
    services.audit.write("UBOSS", "exposed", account="default", key_id="AKIANEW", outcome="critical")
    clock.advance(days=2)
    services.audit.write("UBOSS", "rotation_grace", account="default", key_id="AKIALATER")
    services.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "audit", *args],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    since = (start + timedelta(days=1)).date().isoformat()
    until = (start + timedelta(days=3)).isoformat()
    result = run("--json", "--since", since, "--until", until)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    event = json.loads(line)
    assert (event["type"], event["key_id"], event["outcome"], event["version"]) == (
        "exposure.detected",
        "AKIANEW",
        "critical",
        1,
    )
    everything = [json.loads(x)["type"] for x in run("--json").stdout.splitlines()]
    assert everything == ["finding.snoozed", "exposure.detected", "rotation.stage_changed"]
    bad = run("--json", "--since", "last tuesday")
    assert bad.returncode == 2 and "'last tuesday' is not a date" in bad.stderr and "Traceback" not in bad.stderr


class Elsewhere:
    """Another host on loopback: records every request of any method that reaches it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        elsewhere = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                elsewhere.received.append((self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._record()

            def do_POST(self) -> None:
                self._record()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/collect"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_kept_and_retried_and_nothing_follows_it(
    status: int, sqlite_url: str, clock, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.services.audit_stream import AuditStream
    from bot.store.audit import AuditLog
    from bot.store.audit_outbox import Outbox
    from bot.store.db import Database

    elsewhere = Elsewhere()
    receiver.status, receiver.location = status, elsewhere.url
    db = Database(sqlite_url)
    try:
        AuditLog(db, clock, stream=True).write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE")
        stream = AuditStream(Outbox(db), clock, receiver.url, SECRET)
        with caplog.at_level("WARNING", logger="bot.services.audit_stream"):
            assert stream.deliver_due() == 0
        assert elsewhere.received == []  # no GET, no POST, no signature anywhere else
        backlog = stream.backlog()
        assert backlog.events == 1 and backlog.last_error == f"HTTP {status} to {elsewhere.url}, not followed"
        assert f"audit webhook failed (HTTP {status} to {elsewhere.url}, not followed) on event" in caplog.text
        with db.session() as session:
            assert session.scalar(select(AuditOutbox.attempts)) == 1

        receiver.status = 200  # the endpoint answers its own POST again: the kept event goes out
        clock.advance(seconds=1)
        assert stream.deliver_due() == 1 and stream.backlog().events == 0
        assert [e["type"] for e in receiver.events()] == ["finding.snoozed"] and elsewhere.received == []
    finally:
        db.dispose()
        elsewhere.stop()
