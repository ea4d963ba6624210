"""What a key does and what a user needs: `activity` (CloudTrail) and `access` (IAM Access Advisor).

Both are reads for the user's owner (per its owner tag, read live) or an approver for it
(bot/services/permissions.py); anyone else is refused, and the refusal is audited. AWS is paced: CloudTrail
allows 2 LookupEvents a second per account and region.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.aws import AwsError, AwsGateway, AwsNotFound, partition_of_region
from bot.clock import Clock, Pacer
from bot.domain.access_advisor import AccessSummary, ServiceAccess, parse_services, summarize_access
from bot.domain.activity import ActivityResult, search_regions, summarize, window
from bot.domain.keys import InputError, UserRef
from bot.domain.sessions import global_region, user_arn
from bot.services.inventory import InventoryService
from bot.services.permissions import Permissions
from bot.services.trail import TrailReader
from bot.slack.messages.usage import events_csv
from bot.slack.notifier import Notifier
from bot.store.rotations import RotationStore

LOOKUPS_PER_SECOND = 2.0  # CloudTrail LookupEvents, per account and region
PACING_MARGIN = 0.01  # seconds added to each gap, so jitter never puts 3 calls inside one second
CSV_AFTER_EVENTS = 20  # more events than this: the full table also goes to the caller as a CSV file
ACCESS_GIVE_UP_SECONDS = 60.0
ACCESS_FIRST_DELAY = 0.5
ACCESS_MAX_DELAY = 5.0
PENDING_JOB_MINUTES = 15  # a job that outlived one `access` is polled again, not started anew


def lookup_pacer(monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Pacer:
    """CloudTrail's pace, per (account, region): LookupEvents spaced evenly, 1/rate plus the margin apart. A burst
    of two would save half a second but leave CloudTrail's own bucket empty."""
    return Pacer(1.0 / LOOKUPS_PER_SECOND + PACING_MARGIN, monotonic=monotonic, sleep=sleep)


@dataclass(kw_only=True, eq=False)
class ActivityService:
    aws: AwsGateway
    inventory: InventoryService
    viewers: Permissions
    notifier: Notifier
    clock: Clock
    regions: tuple[str, ...] = ()
    max_events: int = 1000
    pacer: Pacer = field(default_factory=lookup_pacer)
    rotations: RotationStore | None = None  # the rotations that replaced a key: "new addresses" since then

    def activity(self, caller: str, key_id: str, days: int) -> ActivityResult:
        account, user = self._owner_of(key_id)
        self.viewers.see(caller, account, user, "activity", key_id)
        keys = self.inventory.user_keys(account, user)
        key = next((k.facts for k in keys.keys if k.facts.key_id == key_id), None)
        if key is None:
            raise InputError(f"`{key_id}` was deleted a moment ago; `check {key_id}` explains.")
        start, end = window(self.clock(), days)
        client = self.aws.account(account)
        # IAM's events are in the partition's own global-service region: us-east-1 does not exist in GovCloud or
        # China. STS calls to a regional endpoint are in the caller's region (the key's last-used one, or
        # ACTIVITY_REGIONS).
        partition = partition_of_region(client.region)
        regions = search_regions(key.last_region, self.regions, global_region(partition, client.region))
        read = TrailReader(client, account, self.pacer.take, self.max_events).read(key_id, regions, start, end)
        events, failed = read.events, read.failed
        rotation = self.rotations.last_replacing(key_id) if self.rotations else None
        summary = summarize(
            events,
            key_id=key_id,
            start=start,
            end=end,
            regions_searched=[r for r in regions if r not in failed],
            truncated=read.truncated,
            key_created=key.created,
            rotated_at=rotation.created_at if rotation else None,
        )
        notes = [f"Region `{r}` could not be read: {message}" for r, message in failed.items()]
        account_id = next((s.account_id for s in read.sessions if s.account_id), None)
        result = ActivityResult(
            account,
            user,
            key,
            summary,
            notes,
            sessions=read.sessions,
            sessions_unread=read.sessions_unread,
            user_arn=user_arn(partition, account_id, user),
            read_at=end,
        )
        if len(events) > CSV_AFTER_EVENTS:
            result.csv_sent = self.notifier.upload_dm(
                caller,
                f"keywarden-activity-{key_id}-{end:%Y%m%d}.csv",
                events_csv(events),
                f"CloudTrail events of {key_id}, {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            )
        return result

    def _owner_of(self, key_id: str) -> tuple[str, str]:
        try:
            return self.inventory.locate(key_id)
        except InputError:
            pass
        check = self.inventory.check(key_id)  # says why: deleted key, deleted user, another account, ...
        raise InputError(f"No activity to show for `{key_id}`. {check.next_step}")


@dataclass
class _Cached:
    services: list[ServiceAccess]
    read_at: datetime


class AccessTookTooLong(AwsError):
    code = "AccessAdvisorTimeout"
    written_for_people = True


class AccessAdvisorService:
    """Access Advisor per user: start a job, poll it with bounded backoff, cache the answer for a few hours."""

    def __init__(
        self,
        aws: AwsGateway,
        inventory: InventoryService,
        viewers: Permissions,
        clock: Clock,
        *,
        cache_hours: int = 4,
        give_up_seconds: float = ACCESS_GIVE_UP_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._aws = aws
        self._inventory = inventory
        self._viewers = viewers
        self._clock = clock
        self._ttl = timedelta(hours=cache_hours)
        self._give_up = give_up_seconds
        self._monotonic = monotonic
        self._sleep = sleep
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._pending: dict[tuple[str, str], tuple[str, datetime]] = {}  # job id, started
        self._lock = threading.Lock()

    def access(self, caller: str, ref: UserRef, days: int) -> AccessSummary:
        account, user = self._inventory.resolve(ref)
        self._viewers.see(caller, account, user, "access")
        cached = self._services(account, user)
        return summarize_access(account, user, cached.services, self._clock(), days, cached.read_at)

    def services_of(self, account: str, user: str) -> list[ServiceAccess]:
        """The services the user's policies allow, each with its last use (cached as for `access`); no permission
        check: for callers that made their own (`replace`)."""
        return self._services(account, user).services

    def _services(self, account: str, user: str) -> _Cached:
        key = (account, user)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            pending = self._pending.get(key)
        if hit is not None and now - hit.read_at < self._ttl:
            return hit
        client = self._aws.account(account)
        if pending is not None and now - pending[1] < timedelta(minutes=PENDING_JOB_MINUTES):
            job_id = pending[0]
        else:
            try:
                arn = client.user_arn(user)
            except AwsNotFound:
                raise InputError(f"No IAM user `{user}` in account `{account}`.") from None
            job_id = client.start_access_report(arn)
            with self._lock:
                self._pending[key] = (job_id, now)
        services = self._wait(client, job_id, account, user)
        fresh = _Cached(parse_services(services), self._clock())
        with self._lock:
            self._cache[key] = fresh
            self._pending.pop(key, None)
        return fresh

    def _wait(self, client, job_id: str, account: str, user: str) -> list:
        started = self._monotonic()
        delay = ACCESS_FIRST_DELAY
        while True:
            report = client.access_report(job_id)
            if report.status == "COMPLETED":
                return report.services
            if report.status == "FAILED":
                with self._lock:
                    self._pending.pop((account, user), None)
                raise AwsError(
                    f"IAM Access Advisor could not build the report for `{user}` in account `{account}`: "
                    f"{report.error or 'no reason given'}. Try again in a few minutes.",
                    for_people=True,
                )
            left = self._give_up - (self._monotonic() - started)
            if left <= 0:
                raise AccessTookTooLong(
                    f"IAM Access Advisor has not finished the report for `{user}` after {self._give_up:g} seconds. "
                    "AWS keeps working on it: ask again in a few minutes and the answer will be there."
                )
            self._sleep(min(delay, left))
            delay = min(delay * 2, ACCESS_MAX_DELAY)
