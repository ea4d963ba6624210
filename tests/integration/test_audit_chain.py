"""The audit log is tamper-evident: a hash chain `python -m bot audit verify` checks, a PostgreSQL
trigger that refuses UPDATE/DELETE/TRUNCATE, one chain under concurrent writers, and a CSV export that
spreadsheets cannot run."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.exc import DBAPIError

from bot.clock import system_clock
from bot.domain.requests import Status
from bot.slack import ids
from bot.store.audit import AuditLog
from bot.store.db import MIGRATIONS, Database
from bot.store.models import UTCDateTime
from tests.support.flows import BOSS, filed_id, wait_status
from tests.support.harness import BotServer
from tests.support.harness import TestClock as ManualClock

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def cli(database_url: str, *args: str, raw: bool = False) -> subprocess.CompletedProcess:
    """`python -m bot audit ARGS` in a process of its own; `raw` keeps stdout as bytes (CR and all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "ACCOUNTS"))}
    env |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url}
    if args[:1] != ("verify",):
        env |= {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit", *args], env=env, capture_output=True, text=not raw, timeout=60, cwd=ROOT
    )


def approval_flow(bot: BotServer, key_id: str) -> None:
    bot.command(f"deactivate {key_id} leaving the team")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.SUCCEEDED)


def test_chain_verifies_after_an_approval_flow(bot: BotServer, ci_user: str) -> None:
    approval_flow(bot, ci_user)
    events = bot.services.audit.all()
    assert [e.action for e in events] == ["requested", "approval", "approved", "executing", "executed"]
    result = cli(bot.services.settings.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"audit log intact: {len(events)} events")


def test_tampering_is_named_by_verify_on_sqlite(bot: BotServer, ci_user: str, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL refuses the UPDATE itself (next test)")
    approval_flow(bot, ci_user)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        approved = conn.execute(text("SELECT id FROM audit_events WHERE action = 'approved'")).scalar_one()
        conn.execute(text("UPDATE audit_events SET actor = 'UMALLORY' WHERE id = :id"), {"id": approved})
    result = cli(database_url, "verify")
    assert result.returncode == 1
    assert f"audit log broken at event {approved}: it was changed after it was written" in result.stdout

    with engine.begin() as conn:  # put it back: intact again
        conn.execute(text("UPDATE audit_events SET actor = :a WHERE id = :id"), {"a": BOSS, "id": approved})
    assert cli(database_url, "verify").returncode == 0
    with engine.begin() as conn:  # cut an event out of the middle
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": approved})
    result = cli(database_url, "verify")
    assert result.returncode == 1
    nxt = approved + 1
    assert f"broken at event {nxt}: it does not follow event {approved - 1}" in result.stdout
    engine.dispose()


def test_postgres_refuses_update_delete_and_truncate(bot: BotServer, ci_user: str, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the trigger is PostgreSQL's")
    approval_flow(bot, ci_user)
    engine = bot.services.db.engine
    for statement in (
        "UPDATE audit_events SET actor = 'UMALLORY' WHERE action = 'approved'",
        "DELETE FROM audit_events WHERE action = 'approved'",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="audit_events is append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.actor for e in bot.services.audit.all() if e.action == "approved"] == [BOSS]
    assert cli(database_url, "verify").returncode == 0


def test_concurrent_writers_keep_one_chain(database_url: str) -> None:
    """Four "processes" (an engine and pool each), four threads each, events alone and inside transactions."""
    dbs = [Database(database_url) for _ in range(4)]
    dbs[0].migrate()
    logs = [AuditLog(db, system_clock) for db in dbs]
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        log = logs[n % 4]
        try:
            start.wait()
            for i in range(15):
                if i % 3:
                    log.write(f"U{n}", "refused", detail=f"{n}-{i}")
                else:
                    with dbs[n % 4].session() as session:  # two events in one caller's transaction
                        log.record(session, f"U{n}", "approval", request_id=f"R-{n:02d}{i:04d}")
                        log.record(session, f"U{n}", "approved", request_id=f"R-{n:02d}{i:04d}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    check = logs[0].verify()
    assert check.intact, check
    assert check.count == 16 * (10 + 5 * 2)
    for db in dbs:
        db.dispose()


def test_existing_events_are_chained_by_the_migration(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    clock = ManualClock()
    rows = [
        {"at": clock.advance(seconds=1), "actor": f"U{n}", "action": "requested", "outcome": "ok"}
        | {"request_id": None, "account": "default", "iam_user": "ci", "key_id": None, "detail": f"#{n}"}
        for n in range(2500)  # more than one page of the backfill
    ]
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")  # the schema before the chain, with events in it
        conn.execute(
            text(
                "INSERT INTO audit_events (at, actor, action, outcome, request_id, account, iam_user, key_id, detail)"
                " VALUES (:at, :actor, :action, :outcome, :request_id, :account, :iam_user, :key_id, :detail)"
            ).bindparams(bindparam("at", type_=UTCDateTime())),
            rows,
        )
        conn.commit()
    db.migrate()
    log = AuditLog(db, clock)
    log.write("UBOSS", "approved", request_id="R-ABCDEF")  # new events continue the backfilled chain
    check = log.verify()
    assert check.intact and check.count == 2501
    db.dispose()


def test_csv_export_cannot_run_in_a_spreadsheet(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    log = AuditLog(db, system_clock)
    nasty = ['=HYPERLINK("https://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for n, value in enumerate(nasty):
        log.write("UBOSS", "refused", iam_user=value[:60], detail=value, request_id=f"R-{n}")
    log.write("UBOSS", "approved", iam_user="ci", detail="plain text, with = and - inside")
    db.dispose()
    result = cli(sqlite_url, "--csv", raw=True)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout.decode(), newline="")))
    header, data = rows[0], rows[1:]
    detail, user = header.index("detail"), header.index("iam_user")
    assert [r[detail] for r in data[:-1]] == [f"'{v}" for v in nasty]
    assert [r[user] for r in data[:-1]] == [f"'{v[:60]}" for v in nasty]
    assert data[-1][detail] == "plain text, with = and - inside" and data[-1][user] == "ci"
