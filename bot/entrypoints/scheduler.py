"""The clock process: APScheduler jobs that call services, run by exactly one active process.

PostgreSQL: the active process holds a session-level advisory lock on a dedicated connection; when
it dies the connection closes, the lock is freed and a standby takes over. SQLite: a lease row that
the active process renews.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import insert, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.bootstrap import Services
from bot.clock import Clock
from bot.store.db import Database
from bot.store.models import SchedulerLease

log = logging.getLogger(__name__)

LOCK_KEY = 0x6B77_7363  # "kwsc"


def lock_key(schema: str) -> int:
    """The advisory lock of the deployment whose tables are in `schema`.

    Advisory locks belong to the whole database: two deployments in their own schemas of one database would
    otherwise share one leader. The `public` schema keeps the historical key, so an upgrade keeps its leader.
    """
    if schema == "public":
        return LOCK_KEY
    return (zlib.crc32(schema.encode()) & 0x7FFF_FFFF) << 32 | LOCK_KEY


LEASE_NAME = "scheduler"
WORKLOAD_SAMPLE_CRON = "0 7 * * 1"


class Lease:
    """Leadership: acquire() once, renew() while running, release() at the end."""

    def acquire(self) -> bool:
        raise NotImplementedError

    def renew(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class AdvisoryLock(Lease):
    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._key = LOCK_KEY

    def acquire(self) -> bool:
        conn = self._db.engine.connect()
        self._key = lock_key(conn.execute(text("SELECT current_schema()")).scalar_one())
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        conn.commit()
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def renew(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except OperationalError:
            self._conn = None
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
                self._conn.close()
            except OperationalError:
                pass
            self._conn = None


class LeaseRow(Lease):
    def __init__(self, db: Database, clock: Clock, ttl: timedelta = timedelta(seconds=60)) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def acquire(self) -> bool:
        now = self._clock()
        with self._db.session() as session:
            taken = session.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == LEASE_NAME,
                    (SchedulerLease.expires_at < now) | (SchedulerLease.holder == self.holder),
                )
                .values(holder=self.holder, expires_at=now + self._ttl)
                .returning(SchedulerLease.name)
            ).first()
            if taken:
                return True
        try:
            with self._db.session() as session:
                session.execute(
                    insert(SchedulerLease).values(name=LEASE_NAME, holder=self.holder, expires_at=now + self._ttl)
                )
            return True
        except IntegrityError:
            return False

    renew = acquire

    def release(self) -> None:
        with self._db.session() as session:
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == self.holder)
                .values(expires_at=self._clock() - timedelta(seconds=1))
            )


def make_lease(services: Services) -> Lease:
    return AdvisoryLock(services.db) if services.db.is_postgres else LeaseRow(services.db, services.clock)


def jobs(services: Services) -> dict[str, tuple[Callable[[], object], object]]:
    """Each job: a service call and its trigger. Every job but the scan also runs in `python -m bot housekeeping`
    (bot/entrypoints/housekeeping.py), possibly beside this process: each must be safe to run twice at once."""

    def housekeeping() -> None:
        services.decisions.expire_due()
        services.reminders.remind_due()
        services.recovery.reconcile_stuck(timedelta(minutes=services.settings.reconcile_after_minutes))
        services.recovery.resync()
        # An exposure response is claimed for seconds; one left longer was interrupted (crash, Slack down).
        services.exposures.resume_unfinished(timedelta(minutes=max(2, services.settings.reconcile_after_minutes)))

    settings = services.settings
    stream = services.audit_stream
    streaming = {"audit_stream": (stream.deliver_due, IntervalTrigger(seconds=5))} if stream else {}
    # The weekly sample of keys' workloads (replaceable-by-role), early on Mondays, before that day's scan.
    weekly = CronTrigger.from_crontab(WORKLOAD_SAMPLE_CRON, timezone=settings.scan_timezone)
    sample = {"workload_sample": (services.workloads.sample, weekly)} if settings.workload_sample_lookups else {}
    return (
        streaming
        | sample
        | {
            "housekeeping": (housekeeping, IntervalTrigger(seconds=60)),
            "rotations": (services.rotations.advance_due, IntervalTrigger(minutes=15)),
            "time_bound_keys": (services.time_bound.advance_due, IntervalTrigger(seconds=60)),
            "retirements": (services.retirements.advance_due, IntervalTrigger(minutes=5)),
            "scan": (
                lambda: services.scan(post=True, weekly_chart=True),
                CronTrigger.from_crontab(settings.scan_cron, timezone=settings.scan_timezone),
            ),
            # LOCATIONS_FILE: rotations due by rotate_every_days, then every delivered rotation's next step (refused
            # places tried again with backoff, cut-overs by use, claims left by a crash).
            "scheduled_rotations": (services.scheduled_rotations.run, IntervalTrigger(hours=1)),
            "deliveries": (services.scheduled_rotations.advance, IntervalTrigger(minutes=5)),
        }
    )


class ClockProcess:
    """Wait for leadership, then run the jobs until stopped or leadership is lost."""

    def __init__(
        self, services: Services, lease: Lease | None = None, poll_seconds: float = 5, events_wait_seconds: int = 20
    ) -> None:
        self.services = services
        self.lease = lease or make_lease(services)
        self.poll_seconds = poll_seconds
        self.events_wait_seconds = events_wait_seconds
        self.stopping = threading.Event()
        self.active = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            if self.lease.acquire():
                log.info("this process now runs the scheduler")
                self._lead()
            self.stopping.wait(self.poll_seconds)

    def _lead(self) -> None:
        scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        )
        for name, (func, trigger) in jobs(self.services).items():
            # Housekeeping runs at once: a new leader finishes what a dead one left behind.
            first = {"next_run_time": datetime.now(UTC)} if name == "housekeeping" else {}
            scheduler.add_job(_logged(name, func), trigger, id=name, name=name, **first)
        scheduler.start()
        events_stop, events = self._start_event_intake()
        self.active.set()
        try:
            while not self.stopping.wait(self.poll_seconds):
                if not self.lease.renew():
                    log.warning("lost the scheduler lease; standing by")
                    break
        finally:
            events_stop.set()
            scheduler.shutdown(wait=True)
            if events is not None:
                events.join(timeout=self.events_wait_seconds + 30)  # a long poll in flight ends by itself
            self.active.clear()
            self.lease.release()

    def _start_event_intake(self) -> tuple[threading.Event, threading.Thread | None]:
        """With EVENTS_QUEUE_URL, the long-poll loop of the events queue, while this process leads."""
        stop = threading.Event()
        intake = self.services.event_intake(self.events_wait_seconds)
        if intake is None:
            return stop, None
        thread = threading.Thread(target=intake.run, args=(stop,), name="keywarden-events", daemon=True)
        thread.start()
        return stop, thread

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="keywarden-scheduler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()


def _logged(name: str, func: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            func()
        except Exception:  # a failed run is logged and retried at the next tick; the scheduler lives on
            log.exception("scheduled job %s failed", name)

    return run
