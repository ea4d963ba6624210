"""One active scheduler, whatever the number of clock processes."""

from __future__ import annotations

import time

from bot.scheduler import ClockProcess, LeaseRow


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
    from bot.db import Database

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


def test_two_scheduler_processes_on_postgresql_one_active(tmp_path) -> None:
    """Real `python -m bot scheduler` processes: one holds the advisory lock; kill it and the other takes over."""
    import os
    import signal
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    import pytest
    from sqlalchemy import create_engine, text

    from bot.scheduler import LOCK_KEY
    from tests.conftest import PG_URL, _pg_schema_url

    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "SLACK_BOT_TOKEN": "xoxb-t",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "DATABASE_URL": _pg_schema_url(base, schema),
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "scheduler"],
            cwd=tmp_path,
            env=env | {"DATABASE_URL": f"{env['DATABASE_URL']}&application_name=clock{n}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(2)
    ]

    def holders() -> list[str]:
        """application_name of each connection holding the scheduler lock."""
        with admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted"
                ),
                {"k": LOCK_KEY & 0xFFFFFFFF},
            )
            return [r[0] for r in rows]

    try:
        _wait(lambda: len(holders()) == 1, timeout=60)
        first = holders()[0]
        time.sleep(1)
        assert holders() == [first]  # the other process stands by
        active = procs[int(first.removeprefix("clock"))]
        active.send_signal(signal.SIGKILL)  # no clean shutdown: the lock dies with its connection
        active.wait()
        _wait(lambda: len(holders()) == 1 and holders()[0] != first, timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
