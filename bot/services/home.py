"""The App Home: gathered from the database only (ownership index, key memory, requests, rotations, scan
memory), never from AWS, so that it is published within Slack's 3 s; refreshed when a request changes."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from bot.access import Access
from bot.clock import Clock
from bot.domain.findings import Severity
from bot.domain.keys import InputError
from bot.domain.requests import Request
from bot.services.ownership import OwnedUser, OwnershipIndex
from bot.services.permissions import indexed_subject
from bot.slack.client import SlackDirectory
from bot.slack.messages.home import CriticalKey, Home, HomeKey, HomeRotation, HomeUser, build_home, last_scan_line
from bot.slack.notifier import Notifier
from bot.store.finding_notices import FindingNotices
from bot.store.key_memory import KeyMemory, PresentKey
from bot.store.requests import RequestStore
from bot.store.rotations import RotationStore
from bot.store.scan_runs import ScanRuns

log = logging.getLogger(__name__)

CRITICAL_LOOKED_AT = 500  # critical keys read to find those an approver of some users may see


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
        self._opened: set[str] = set()  # who opened their Home in this process: those are refreshed
        self._lock = threading.Lock()

    def publish(self, user_id: str) -> bool:
        with self._lock:
            self._opened.add(user_id)
        home = replace(self.gather(user_id), stored_under=self._stored_under)
        return self._notifier.publish_home(user_id, build_home(home, self._clock()))

    def refresh(self, *user_ids: str) -> None:
        """Publish again for those who have opened their Home (a request or rotation of theirs changed)."""
        with self._lock:
            due = [u for u in user_ids if u in self._opened]
        for user_id in due:
            try:
                self.publish(user_id)
            except Exception:  # a Home refresh never breaks the change that caused it
                log.exception("refreshing the App Home of %s failed", user_id)

    def gather(self, user_id: str) -> Home:
        person = self._directory.person(user_id)
        note = "" if person.email or person.name else "Slack did not say who you are just now: showing what is known."
        owned = self._index.owned_by(person.identities, fresh=False)  # no AWS call on this path
        rotations = self._rotations.open_for(user_id)
        home = Home(
            user_id,
            person.name,
            self._users(owned, {r.old_key_id: r.state.value for r in rotations}),
            self._store.open_for(user_id),
            [HomeRotation(r.id, r.account, r.iam_user, r.old_key_id, r.state.value) for r in rotations],
            note=note,
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

    def _users(self, owned: list[OwnedUser], rotating: dict[str, str]) -> list[HomeUser]:
        """The owned users that have keys, each with its keys' open findings and rotations (what Keywarden knows:
        no AWS call)."""
        keys: dict[tuple[str, str], list[PresentKey]] = {}
        for row in self._memory.present_on(u.name for u in owned):
            keys.setdefault((row.account, row.iam_user), []).append(row)
        findings = self._notices.open_codes(k.key_id for rows in keys.values() for k in rows)
        return [
            HomeUser(
                u.account,
                u.name,
                tuple(
                    HomeKey(k.key_id, k.created, tuple(sorted(findings.get(k.key_id, ()))), rotating.get(k.key_id))
                    for k in sorted(keys.get((u.account, u.name), []), key=lambda k: k.key_id)
                ),
            )
            for u in sorted(owned, key=lambda u: (u.account, u.name))
            if keys.get((u.account, u.name))
        ]

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
