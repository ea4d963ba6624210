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
