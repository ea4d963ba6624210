"""One active scheduler, whatever the number of clock processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.entrypoints.scheduler import LOCK_KEY, AdvisoryLock, ClockProcess, LeaseRow, lock_key
from bot.store.db import Database
from tests.support.databases import pg_schema
from tests.support.processes import Process, clean_env

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


def taken_over(holders: list[str], first: str) -> bool:
    """One other process holds the lock now (one read of the holders: it may change between two)."""
    return len(holders) == 1 and holders[0] != first


def _wait(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_only_one_clock_process_is_active_and_a_standby_takes_over(make_services, aws) -> None:
    first, second = ClockProcess(make_services(), poll_seconds=0.05), ClockProcess(make_services(), poll_seconds=0.05)
    first.start_in_thread()
    _wait(first.active.is_set)
    second.start_in_thread()
    time.sleep(0.5)  # give the standby many chances to (wrongly) take over
    assert not second.active.is_set()
    first.stop()
    _wait(second.active.is_set)
    assert not first.active.is_set()
    second.stop()
    _wait(lambda: not second.active.is_set())


def test_sqlite_lease_expires_when_its_holder_stops_renewing(sqlite_url, clock) -> None:
    db = Database(sqlite_url)
    db.migrate()
    a, b = LeaseRow(db, clock), LeaseRow(db, clock)
    assert a.acquire() and a.renew()
    assert not b.acquire()
    clock.advance(seconds=61)
    assert b.acquire()
    assert not a.renew()
    b.release()
    assert a.acquire()
    db.dispose()


def test_two_scheduler_processes_on_postgresql_one_active(tmp_path: Path, slack, moto_url: str) -> None:
    """Two clock processes (the Procfile's line): one holds the advisory lock; SIGKILL it and the other takes over."""
    with pg_schema() as url:
        env = clean_env(
            SLACK_BOT_TOKEN="xoxb-t",
            SLACK_SIGNING_SECRET="s",
            SLACK_API_URL=slack.api_url,
            APPROVER_IDS="UBOSS",
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID="t",
            AWS_SECRET_ACCESS_KEY="t",
            AWS_DEFAULT_REGION="us-east-1",
        )
        clocks = [
            Process(
                "clock", env | {"DATABASE_URL": f"{url}&application_name=clock{n}"}, tmp_path, tmp_path / f"c{n}.log"
            )
            for n in range(2)
        ]
        admin = create_engine(url)
        with admin.connect() as conn:
            key = lock_key(conn.execute(text("SELECT current_schema()")).scalar_one())

        def holders() -> list[str]:
            """application_name of each connection holding the scheduler lock."""
            with admin.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.classid = :high AND l.objid = :low AND l.granted"
                    ),
                    {"high": key >> 32, "low": key & 0xFFFFFFFF},
                )
                return [r[0] for r in rows]

        try:
            _wait(lambda: len(holders()) == 1, timeout=60)
            first = holders()[0]
            time.sleep(1)
            assert holders() == [first]  # the other process stands by
            clocks[int(first.removeprefix("clock"))].kill()  # SIGKILL: the lock dies with its connection
            _wait(lambda: taken_over(holders(), first), timeout=60)
        finally:
            for clock in clocks:
                clock.stop()
            admin.dispose()


def test_deployments_in_their_own_schemas_each_have_a_leader() -> None:
    """Advisory locks span the database: each schema's deployment gets a lock of its own; `public` keeps the old key."""
    assert lock_key("public") == LOCK_KEY
    with pg_schema() as first_url, pg_schema() as second_url:
        first, second = Database(first_url), Database(second_url)
        try:
            a, b, c = AdvisoryLock(first), AdvisoryLock(second), AdvisoryLock(first)
            assert a.acquire() and b.acquire()
            assert not c.acquire()  # the same deployment: one leader
            a.release()
            assert c.acquire()
            b.release()
            c.release()
        finally:
            first.dispose()
            second.dispose()
