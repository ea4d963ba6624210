"""The App Home. On opening it is published at once from what Keywarden knows (the ownership index, key memory,
requests, rotations, scan memory), then the person's keys are read from AWS (status, last use, findings now) and
it is published again: Slack's 3 s apply to the event's answer, not to views.publish. A request or rotation that
changes publishes it again from the database, with the keys' status as AWS last said it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.access import Access
from bot.aws import AwsError
from bot.clock import Clock
from bot.domain.catalogue import TWO_ACTIVE_KEYS, canonical_code
from bot.domain.findings import Severity
from bot.domain.inventory import UserKeys
from bot.domain.keys import InputError, KeyFacts
from bot.domain.requests import Request
from bot.domain.under_way import UnderWay
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnedUser, OwnershipIndex
from bot.services.permissions import indexed_subject
from bot.services.trouble import logged
from bot.services.under_way import WorkUnderWay
from bot.slack.client import SlackDirectory
from bot.slack.messages.home import CriticalKey, Home, HomeKey, HomeUser, build_home, last_scan_line
from bot.slack.messages.request_form import TargetChoices
from bot.slack.notifier import Notifier
from bot.store.finding_notices import FindingNotices
from bot.store.key_memory import KeyMemory, PresentKey
from bot.store.requests import RequestStore
from bot.store.rotations import RotationStore
from bot.store.scan_runs import ScanRuns

log = logging.getLogger(__name__)

CRITICAL_LOOKED_AT = 500  # critical keys read to find those an approver of some users may see
LIVE_USERS = 25  # users whose keys are read from AWS when the Home opens; the rest show what Keywarden knows

Seen = tuple[datetime, dict[str, KeyFacts]]  # when AWS was asked, and what it said of each key


class HomeService:
    def __init__(
        self,
        memory: KeyMemory,
        notices: FindingNotices,
        runs: ScanRuns,
        clock: Clock,
        index: OwnershipIndex,
        store: RequestStore,
        rotations: RotationStore,
        access: Access,
        directory: SlackDirectory,
        notifier: Notifier,
        *,
        stored_under: str | None = None,
        inventory: InventoryService | None = None,  # without it the Home shows only what Keywarden knows
        under_way: WorkUnderWay | None = None,
        aliases: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._memory = memory
        self._notices = notices
        self._runs = runs
        self._stored_under = stored_under  # keys go to Secrets Manager under this prefix: the Home offers no Reveal
        self._clock = clock
        self._index = index
        self._store = store
        self._rotations = rotations
        self._access = access
        self._directory = directory
        self._notifier = notifier
        self._inventory = inventory
        self._under_way = under_way
        self._aliases = aliases
        self._opened: set[str] = set()  # who opened their Home in this process: those are refreshed
        self._seen: dict[str, Seen] = {}  # per person: their keys as AWS last said
        self._lock = threading.Lock()

    def publish(self, user_id: str) -> bool:
        """The person opened their Home: what is known at once, then (with the inventory) the keys as AWS says."""
        with self._lock:
            self._opened.add(user_id)
        home = self.gather(user_id)
        if self._inventory is None:
            return self._notifier.publish_home(user_id, build_home(home, self._clock()))
        first = self._notifier.publish_home(user_id, build_home(replace(home, looking=True), self._clock()))
        live = self._live(user_id, home)
        return self._notifier.publish_home(user_id, build_home(live, self._clock())) or first

    def refresh(self, *user_ids: str) -> None:
        """Publish again for those who have opened their Home (a request or rotation of theirs changed), from the
        database and the keys' status as AWS last said it; no AWS call."""
        with self._lock:
            due = [u for u in user_ids if u in self._opened]
        for user_id in due:
            try:
                self._notifier.publish_home(user_id, build_home(self.gather(user_id), self._clock()))
            except Exception:  # a Home refresh never breaks the change that caused it
                log.exception("refreshing the App Home of %s failed", user_id)

    def gather(self, user_id: str) -> Home:
        person = self._directory.person(user_id)
        note = "" if person.email or person.name else "Slack did not say who you are just now: showing what is known."
        owned = self._index.owned_by(person.identities, fresh=False)  # no AWS call on this path
        with self._lock:
            seen = self._seen.get(user_id)
        home = Home(
            user_id,
            person.name,
            self._users(owned, self._works(), seen[1] if seen else {}),
            self._store.open_for(user_id),
            self._rotations.open_for(user_id),
            note=note,
            stored_under=self._stored_under,
            several_accounts=self._several_accounts(),
            looked_up=seen[0] if seen else None,
        )
        try:
            approver = self._access.is_approver(user_id)
        except Exception:
            approver = False
        if not approver:
            return home
        queue, last_scan = self._queue(user_id), self._last_scan()
        critical = [
            CriticalKey(n.account, n.iam_user, n.subject, n.code)
            for n in self._notices.open_at_least(Severity.CRITICAL, CRITICAL_LOOKED_AT)
        ]
        return replace(
            home, approver=True, queue=queue, last_scan=last_scan, critical=self._in_scope(user_id, critical)[:20]
        )

    def request_choices(self, user_id: str) -> TargetChoices:
        """The IAM users a person owns and their keys, for the request form's menu: from the database only (Slack
        waits 3 s for the options)."""
        owned = self._index.owned_by(self._directory.person(user_id).identities, fresh=False)
        users = sorted((u.account, u.name) for u in owned)
        names = {name for _, name in users}
        keys = sorted(
            (k.account, k.iam_user, k.key_id)
            for k in self._memory.present_on(names)
            if (k.account, k.iam_user) in set(users)
        )
        return TargetChoices(users, keys, self._several_accounts())

    # The keys as AWS says now
    def _live(self, user_id: str, known: Home) -> Home:
        """`known` with the person's keys read from AWS: status, last use and findings as they are now."""
        assert self._inventory is not None
        person = self._directory.person(user_id)
        try:
            owned = sorted(self._index.owned_by(person.identities), key=lambda u: (u.account, u.name))
            read = [keys for u in owned[:LIVE_USERS] if (keys := self._read(u)) is not None]
        except AwsError as e:  # the operator's detail to the log; the Home gives its reference
            reference = logged(e, f"App Home of {user_id}: AWS not asked", log)
            return replace(known, aws_trouble=reference, live=True)
        now = self._clock()
        facts = {k.facts.key_id: k.facts for u in read for k in u.keys if k.facts.key_id}
        with self._lock:
            self._seen[user_id] = (now, facts)
        works = self._works()
        live = [self._live_user(u, works, now) for u in read if u.keys]
        done = {(u.account, u.user) for u in read}
        rest = [u for u in self._users(owned[LIVE_USERS:], works, facts) if (u.account, u.name) not in done]
        return replace(known, users=live + rest, looked_up=now, live=True)

    def _read(self, user: OwnedUser) -> UserKeys | None:
        assert self._inventory is not None
        try:
            return self._inventory.user_keys(user.account, user.name)
        except InputError:  # the user was deleted since the index was read
            return None

    @staticmethod
    def _live_user(user: UserKeys, works: list[UnderWay], now: datetime) -> HomeUser:
        active = [k for k in user.keys if k.facts.active]
        keys = []
        for view in sorted(user.keys, key=lambda v: v.facts.key_id or ""):
            key_id = view.facts.key_id or ""
            codes = tuple(sorted({f.code for f in view.findings}))
            kept, work = _with_work(user.account, user.user, key_id, codes, works, now)
            keys.append(HomeKey(key_id, view.facts.created, kept, work, view.facts))
        return HomeUser(user.account, user.user, tuple(keys), two_active=len(active) >= 2)

    # What Keywarden knows
    def _users(self, owned: list[OwnedUser], works: list[UnderWay], seen: dict[str, KeyFacts]) -> list[HomeUser]:
        """The owned users that have keys, each with its keys' open findings and the work under way (from the
        database; `seen`: the keys' status and last use as AWS last said)."""
        keys: dict[tuple[str, str], list[PresentKey]] = {}
        for row in self._memory.present_on(u.name for u in owned):
            keys.setdefault((row.account, row.iam_user), []).append(row)
        findings = self._notices.open_codes(k.key_id for rows in keys.values() for k in rows)
        now = self._clock()
        users = []
        for u in sorted(owned, key=lambda u: (u.account, u.name)):
            present = sorted(keys.get((u.account, u.name), []), key=lambda k: k.key_id)
            if not present:
                continue
            home_keys = []
            for k in present:
                codes = tuple(sorted({canonical_code(c) or c for c in findings.get(k.key_id, ())}))
                kept, work = _with_work(u.account, u.name, k.key_id, codes, works, now)
                home_keys.append(HomeKey(k.key_id, k.created, kept, work, seen.get(k.key_id)))
            two = any(TWO_ACTIVE_KEYS in (canonical_code(c) for c in findings.get(k.key_id, ())) for k in present)
            users.append(HomeUser(u.account, u.name, tuple(home_keys), two_active=two))
        return users

    def _works(self) -> list[UnderWay]:
        return self._under_way.now() if self._under_way is not None else []

    def _several_accounts(self) -> bool:
        return len(self._aliases()) > 1 if self._aliases is not None else True

    def _queue(self, user_id: str) -> list[Request]:
        """The pending requests the approver may decide."""
        pending = self._store.pending(self._clock())
        try:
            return self._access.decidable_by(user_id, pending)
        except InputError:  # Slack did not say who is in a group: show them all; a click is checked anyway
            log.warning("App Home of %s: approver groups unreadable, queue not filtered", user_id)
            return [r for r in pending if r.requester != user_id]

    def _last_scan(self) -> str | None:
        run = self._runs.last_finished()
        if run is None:
            return None
        s = run.summary
        return last_scan_line(
            run.finished_at, s.get("findings", 0), len(s.get("accounts", [])), len(s.get("failed") or {})
        )

    def _in_scope(self, user_id: str, critical: list[CriticalKey]) -> list[CriticalKey]:
        """The keys of users the approver approves for or owns, judged on the ownership index (no AWS call)."""
        try:
            scope = self._access.scope_of(user_id)
        except InputError:  # Slack did not say who is in a group: show none rather than all
            return []
        if scope.everything:
            return critical
        index = self._index
        return [
            c
            for c in critical
            if c.iam_user
            and self._access.in_scope(user_id, indexed_subject(index, c.account, c.iam_user, fresh=False), scope)
        ]


def _with_work(
    account: str, user: str, key_id: str, codes: tuple[str, ...], works: list[UnderWay], now: datetime
) -> tuple[tuple[str, ...], UnderWay | None]:
    """A key's findings less those Keywarden's own work deals with, and that work (on the key itself first)."""
    mine = [w for w in works if (w.account, w.iam_user) == (account, user)]
    kept = tuple(c for c in codes if not any(w.covers(account, user, key_id, c, now) for w in mine))
    on_key = next((w for w in mine if key_id in (w.old_key_id, w.new_key_id)), None)
    dealt = next((w for w in mine if any(w.covers(account, user, key_id, c, now) for c in codes)), None)
    return kept, on_key or dealt
