"""Keys' workloads: `replace <key-id>` (the workload, the role that replaces the key and its template, sent as a file
to the caller's DM) and the weekly sample behind the `replaceable-by-role` finding.

`replace` is for the key's owner (per its user's owner tag, read live) or an approver for it; anyone else is refused
and the refusal audited (bot/services/permissions.py), before CloudTrail is read. CloudTrail is read as `activity`
reads it (bot/services/trail.py), paced to its 2 LookupEvents a second per account and region by the pacer the
bot shares.

The weekly sample spends at most `sample_budget` LookupEvents per account: users whose keys were never profiled
first, then those profiled longest ago; a key not used in the window costs no CloudTrail call at all (its last use
says so). Each profile is kept (bot/store/workloads.py): the verdict only, never addresses or user agents.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.aws import AwsError, AwsGateway, partition_of_region
from bot.aws.ip_ranges import IpRangesSource
from bot.clock import Clock, Pacer
from bot.domain.access_advisor import ServiceAccess
from bot.domain.activity import search_regions, window
from bot.domain.findings import CONSOLE_AND_KEY
from bot.domain.keys import InputError, KeyFacts
from bot.domain.replacement import Kind, ReplaceResult, permission_set_name, replacement, role_name
from bot.domain.sessions import global_region
from bot.domain.workload import Workload, describe, profile
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnershipIndex
from bot.services.permissions import Permissions
from bot.services.trail import PAGE, TrailReader
from bot.slack.notifier import Notifier
from bot.store.workloads import WORKLOAD_FRESH, KeyWorkloads, KnownWorkload

log = logging.getLogger(__name__)

DAYS = 30
RESAMPLE = timedelta(days=6)  # the sample leaves a key profiled more recently than this alone
USERS_PER_LOOKUP = 2  # the sample looks at no more users than this many per LookupEvents of its budget

Advisor = Callable[[str, str], list[ServiceAccess]]  # (account, user) -> IAM Access Advisor's services


@dataclass
class Sampled:
    """One account's weekly sample."""

    account: str
    profiled: int = 0
    replaceable: int = 0
    lookups: int = 0
    idle: int = 0  # keys not used in the window: judged from their last use, without CloudTrail
    error: str | None = None


@dataclass
class _Counter:
    n: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.n += 1


@dataclass(kw_only=True, eq=False)
class WorkloadService:
    aws: AwsGateway
    inventory: InventoryService
    index: OwnershipIndex
    viewers: Permissions
    notifier: Notifier
    clock: Clock
    store: KeyWorkloads
    ranges: IpRangesSource
    pacer: Pacer
    regions: tuple[str, ...] = ()  # ACTIVITY_REGIONS
    max_events: int = 1000  # `replace` reads as much as `activity`
    sample_budget: int = 300  # LookupEvents per account per weekly sample
    sample_events: int = 100  # per key in the sample
    advisor: Advisor | None = None

    # replace
    def replace(self, caller: str, key_id: str, days: int = DAYS) -> ReplaceResult:
        try:
            account, user = self.inventory.locate(key_id)
        except InputError:
            check = self.inventory.check(key_id)
            raise InputError(f"No workload to show for `{key_id}`. {check.next_step}") from None
        self.viewers.see(caller, account, user, "workload", key_id)
        keys = self.inventory.user_keys(account, user)
        view = next((k for k in keys.keys if k.facts.key_id == key_id), None)
        if view is None:
            raise InputError(f"`{key_id}` was deleted a moment ago; `check {key_id}` explains.")
        key = view.facts
        workload, lookups, notes, account_id = self._profile(account, key, days, self.max_events)
        self._keep(account, user, workload, days, lookups)
        person = any(f.code == CONSOLE_AND_KEY for f in view.findings)  # a console user: a person, if anything
        made = replacement(workload, user, password_enabled=person, account_id=account_id)
        notes += self._advisor_notes(account, user, workload)
        filename = f"keywarden-{made.kind.value}-{key_id}.json"
        sent = self.notifier.upload_dm(
            caller, filename, made.template_text(), f"{made.title[0].upper()}{made.title[1:]} to replace {key_id}"
        )
        return ReplaceResult(account, user, key, workload, made, filename, sent, tuple(notes), days)

    def _profile(
        self, account: str, key: KeyFacts, days: int, max_events: int
    ) -> tuple[Workload, int, list[str], str | None]:
        """(workload, LookupEvents made, notes on what could not be read, the account's id if CloudTrail said it)."""
        assert key.key_id is not None
        start, end = window(self.clock(), days)
        client = self.aws.account(account)
        partition = partition_of_region(client.region)
        regions = search_regions(key.last_region, self.regions, global_region(partition, client.region))
        counted = _Counter()

        def paced(slot: tuple[str, str]) -> float:
            counted.add()
            return self.pacer.take(slot)

        read = TrailReader(client, account, paced, max_events).read(key.key_id, regions, start, end)
        ranges = self.ranges.ranges()
        workload = profile(
            read.events, read.sessions, ranges, key_id=key.key_id, start=start, end=end, truncated=read.truncated
        )
        notes = [f"Region `{r}` could not be read: {why}" for r, why in read.failed.items()]
        if ranges is None:
            notes.append("AWS's IP address ranges could not be read: addresses were not placed inside or outside AWS.")
        account_id = next((s.account_id for s in read.sessions if s.account_id), None)
        return workload, counted.n, notes, account_id

    def _advisor_notes(self, account: str, user: str, workload: Workload) -> list[str]:
        """Services Access Advisor saw the user use in the window with no call in CloudTrail's event history: data
        calls (S3 objects, DynamoDB items, Lambda invocations) are recorded only in trails, so their actions are
        not in the template."""
        if self.advisor is None:
            return []
        try:
            services = self.advisor(account, user)
        except (AwsError, InputError) as e:
            return [f"IAM Access Advisor could not be read ({e}): services used only through data calls are unknown."]
        seen = {a.split(":", 1)[0] for a in workload.actions}
        missing = sorted(
            s.namespace
            for s in services
            if s.last_used is not None and s.last_used >= workload.start and s.namespace not in seen
        )
        if not missing:
            return []
        names = ", ".join(f"`{n}`" for n in missing)
        return [
            f"IAM Access Advisor saw the user use {names} in the window with no call in CloudTrail's event history: "
            "data calls (S3 objects, DynamoDB items, Lambda invocations) are not recorded there, so add the actions "
            "they need to the template."
        ]

    def _keep(self, account: str, user: str, w: Workload, days: int, lookups: int) -> KnownWorkload:
        made = replacement(w, user)
        known = KnownWorkload(
            key_id=w.key_id,
            account=account,
            iam_user=user,
            profiled_at=self.clock(),
            days=days,
            calls=w.calls,
            runner=w.runner.value if w.runner else None,
            confidence=w.confidence.value,
            replaceable=w.replaceable,
            summary=f"{describe(w)}, over {days} days",
            kind=made.kind.value,
            role_name=made.role_name,
            lookups=lookups,
        )
        self.store.save(known)
        return known

    # What scans and `list` read
    def replaceable_in(self, account: str) -> dict[str, dict[str, str]]:
        """{IAM user: {key id: verdict}} of the account's keys a role could replace, from profiles of the last two
        weeks."""
        return self.store.replaceable_in(account, self.clock() - WORKLOAD_FRESH)

    def replaceable_among(self, key_ids: Iterable[str]) -> dict[str, KnownWorkload]:
        since = self.clock() - WORKLOAD_FRESH
        return {k: w for k, w in self.store.of_keys(key_ids).items() if w.replaceable and w.profiled_at >= since}

    # The weekly sample
    def sample(self) -> list[Sampled]:
        """Profile a bounded sample of each account's keys (the accounts one after another: CloudTrail's limit is
        per account and region, so accounts could go side by side, but the sample is not in a hurry)."""
        return [self.sample_account(alias) for alias in self.aws.list_aliases()]

    def sample_account(self, account: str) -> Sampled:
        run = Sampled(account)
        try:
            self._sample_into(run)
        except AwsError as e:
            log.warning("workload sample of %s stopped: %s", account, e.message)
            run.error = e.message
        log.info(
            "workload sample of %s: %d keys profiled (%d idle), %d replaceable by a role, %d LookupEvents",
            account,
            run.profiled,
            run.idle,
            run.replaceable,
            run.lookups,
        )
        return run

    def _sample_into(self, run: Sampled) -> None:
        now = self.clock()
        seen = self.store.profiled_users(run.account)
        users = sorted((u.name for u in self.index.fresh_users(run.account)), key=lambda n: (n in seen, seen.get(n), n))
        per_key = (math.ceil(self.sample_events / PAGE) + 1) * (len(self.regions) + 2)  # worst case, every region
        for n, user in enumerate(users):
            if run.lookups + per_key > self.sample_budget or n >= USERS_PER_LOOKUP * self.sample_budget:
                return
            try:
                keys = self.inventory.user_keys(run.account, user)
            except InputError:
                continue  # deleted since the index was read
            fresh = self.store.of_keys(k.facts.key_id for k in keys.keys if k.facts.key_id)
            for view in keys.keys:
                key = view.facts
                if not key.active or key.key_id is None:
                    continue
                known = fresh.get(key.key_id)
                if known is not None and now - known.profiled_at < RESAMPLE:
                    continue
                if run.lookups + per_key > self.sample_budget:
                    return
                run.profiled += 1
                if key.last_used is None or now - key.last_used > timedelta(days=DAYS):
                    start, end = window(now, DAYS)
                    idle = profile([], [], None, key_id=key.key_id, start=start, end=end)
                    self._keep(run.account, user, idle, DAYS, 0)
                    run.idle += 1
                    continue
                workload, lookups, _, _ = self._profile(run.account, key, DAYS, self.sample_events)
                run.lookups += lookups
                run.replaceable += self._keep(run.account, user, workload, DAYS, lookups).replaceable


def replacement_role(iam_user: str, kind: str | None) -> tuple[str, bool]:
    """The role `retire` watches for a key of `iam_user` whose profile suggested `kind` (None: never profiled):
    (name, whether it names an Identity Center permission set)."""
    if kind == Kind.IDENTITY_CENTER.value:
        return permission_set_name(iam_user), True
    return role_name(iam_user), False
