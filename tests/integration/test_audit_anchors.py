"""A cut-off tail of the audit log shows: heads recorded outside the audit table (by each scan, and by the
audit stream for what its endpoint acknowledged) must still be in the chain, and on PostgreSQL the bot's
login role can neither delete audit rows nor disable the append-only trigger."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.entrypoints.web import serve_ops
from bot.services.audit_stream import AuditStream
from bot.store.audit import AuditLog
from bot.store.audit_outbox import Outbox
from bot.store.db import Database
from tests.support.harness import send

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in a process of its own, with the database and nothing else configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "ACCOUNTS"))}
    env |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url}
    env |= {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def cut_newest(database_url: str, n: int) -> None:
    """Delete the newest `n` audit events as the tables' owner (on PostgreSQL: with the trigger disabled)."""
    engine = create_engine(database_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        conn.execute(
            text("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events ORDER BY id DESC LIMIT :n)"),
            {"n": n},
        )
        if postgres:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    engine.dispose()


@pytest.fixture
def audit_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def test_deleting_the_newest_events_after_a_recorded_head_fails_verify(
    audit_db: Database, database_url: str, clock
) -> None:
    log = AuditLog(audit_db, clock)
    for n in range(5):
        log.write("UBOSS", "snoozed", account="default", key_id=f"AKIA{n:016d}")
    anchor = log.anchor_head()  # what a scan records
    assert anchor is not None and anchor.source == "scan"
    ids = [e.id for e in log.all()]
    assert anchor.seq == ids[-1]
    ok = cli(database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"audit log intact: 5 events, chain head {anchor.hash}" in ok.stdout
    assert f"It holds the newest head recorded outside it: #{anchor.seq} (hash {anchor.hash})" in ok.stdout

    cut_newest(database_url, 2)  # what is left is still a valid chain
    result = cli(database_url, "audit", "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"audit log truncated: the chain ends at #{ids[2]} but #{ids[4]} (hash {anchor.hash}) was recorded at "
        f"{anchor.recorded_at:%Y-%m-%d %H:%M:%S} UTC by a scan." in result.stdout
    )
    assert "Traceback" not in result.stderr

    # New events chained onto what was left do not hide the cut.
    log.write("UBOSS", "snoozed", account="default", key_id="AKIAAFTERTHECUT0000")
    log.write("UBOSS", "snoozed", account="default", key_id="AKIAAFTERTHECUT0001")
    check = log.verify()
    assert not check.intact and check.bad_id is None
    assert "events were cut off and others written after them" in check.truncated


class Collector:
    """A SIEM's collector on loopback that accepts every event."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_newest_event_the_stream_delivered_must_stay_in_the_chain(
    audit_db: Database, database_url: str, clock
) -> None:
    collector = Collector()
    try:
        log = AuditLog(audit_db, clock, stream=True)
        for n in range(3):
            log.write("UBOSS", "snoozed", account="default", key_id=f"AKIA{n:016d}")
        stream = AuditStream(Outbox(audit_db), clock, collector.url)
        assert stream.deliver_due() == 3 and len(collector.bodies) == 3
    finally:
        collector.stop()
    newest = log.all()[-1]
    check = log.verify()
    assert check.intact and check.anchor is not None
    assert (check.anchor.source, check.anchor.seq, check.anchor.hash) == ("stream", newest.id, newest.row_hash)

    cut_newest(database_url, 1)  # the event the SIEM already holds
    result = cli(database_url, "audit", "verify")
    assert result.returncode == 1
    assert f"but #{newest.id} (hash {newest.row_hash}) was recorded at" in result.stdout
    assert "by the audit stream's endpoint." in result.stdout


def test_each_scan_records_the_head_in_its_log_line_metrics_and_healthz(
    make_services, aws, caplog: pytest.LogCaptureFixture
) -> None:
    services = make_services()
    services.audit.write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE000000000")
    head = services.audit.all()[-1]
    server = serve_ops(services, 0, lambda: True, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.effective_port}"
    try:
        with caplog.at_level(logging.INFO, logger="bot.services.scanner"):
            services.scan(post=False)
        assert f"audit chain head #{head.id} {head.row_hash}" in caplog.text
        services.audit.write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE000000001")
        newest = services.audit.all()[-1]
        metrics = send(urllib.request.Request(url + "/metrics")).body
        assert f"keywarden_audit_head_seq {float(newest.id)}" in metrics
        assert f"keywarden_audit_anchor_seq {float(head.id)}" in metrics
        health = send(urllib.request.Request(url + "/healthz")).json()
        anchored = {"seq": head.id, "hash": head.row_hash, "at": services.clock().isoformat(timespec="seconds")}
        assert health["audit_head"] == {
            "seq": newest.id,
            "hash": newest.row_hash,
            "anchored": anchored | {"by": "scan"},
        }
    finally:
        server.close()


# The PostgreSQL role split: migrations as the owner, the bot as a login role that may only read and append.


@pytest.fixture
def login_role(database_url: str) -> Iterator[str]:
    if not database_url.startswith("postgresql"):
        pytest.skip("roles are PostgreSQL's")
    role = f"kw_login_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    yield role
    with admin.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def test_the_login_role_cannot_delete_audit_events_nor_disable_the_trigger(
    database_url: str, login_role: str, clock
) -> None:
    granted = cli(database_url, "db", "upgrade", "--grant-to", login_role)
    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert f"{login_role} may read and append to audit_events, audit_anchors" in granted.stdout
    as_login = make_url(database_url).set(username=login_role).render_as_string(hide_password=False)

    # The bot works as the login role: its start-up migration (nothing to do), audit events, anchors, verify.
    db = Database(as_login)
    try:
        db.migrate()
        log = AuditLog(db, clock, stream=True)
        log.write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE000000000")
        log.write("UBOSS", "snoozed", account="default", key_id="AKIAEXAMPLE000000001")
        assert log.anchor_head() is not None and log.verify().intact
        with db.engine.begin() as conn:  # the stream deletes what it delivered
            conn.execute(text("DELETE FROM audit_outbox"))

        for statement in (
            "DELETE FROM audit_events",
            "UPDATE audit_events SET actor = 'UMALLORY'",
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "DROP TABLE audit_events",
            "DELETE FROM audit_anchors",
            "TRUNCATE audit_anchors",
            "ALTER TABLE audit_anchors DISABLE TRIGGER audit_anchors_append_only",
        ):
            with pytest.raises(DBAPIError) as refused, db.engine.begin() as conn:
                conn.execute(text(statement))
            assert refused.value.orig.sqlstate == "42501", statement  # insufficient_privilege
        assert len(log.all()) == 2 and log.verify().intact
    finally:
        db.dispose()


def test_grant_to_refuses_a_role_that_could_delete_audit_events(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        on_sqlite = cli(database_url, "db", "upgrade", "--grant-to", "keywarden")
        assert on_sqlite.returncode == 2
        assert on_sqlite.stderr.strip() == "keywarden: --grant-to needs PostgreSQL: SQLite has no roles."
        return
    owner = make_url(database_url).username
    for role, why in ((owner, "is a superuser"), ("kw_nobody_here", "does not exist")):
        result = cli(database_url, "db", "upgrade", "--grant-to", role)
        assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr
