"""Reading what a key did from CloudTrail: its own calls, then those of the sessions it minted, in one budget.

A session's calls are signed by the session's key id (`ASIA…`), so each session the key minted is looked up by
that id too (and sessions those sessions minted, for role chains). Everything shares the budget `activity` had
before sessions were followed: at most `max_events` events in all, and per region as many LookupEvents requests
as reading `max_events` events takes, each paced to CloudTrail's 2 requests a second per account and region.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.aws import AwsError
from bot.domain.activity import TrailEvent, parse_trail_event, session_minted
from bot.domain.sessions import MintedSession
from bot.services.trouble import logged
from bot.slack.messages.trouble import region_unread

log = logging.getLogger(__name__)

PAGE = 50  # LookupEvents returns at most 50 events a page
ROUNDS = 3  # the key, the sessions it minted, the sessions those minted (a role chain)


class TrailClient(Protocol):
    def lookup_key_events(
        self, region: str, key_id: str, start: datetime, end: datetime, pace: Callable[[], None]
    ) -> Any: ...


class _Spent(Exception):
    """The region's request budget is spent."""


@dataclass
class TrailRead:
    events: list[TrailEvent] = field(default_factory=list)
    sessions: list[MintedSession] = field(default_factory=list)  # newest first
    truncated: bool = False  # stopped at `max_events`: there was more
    # region -> why it could not be read, in people's words (the detail is logged under the reference they give)
    failed: dict[str, str] = field(default_factory=dict)
    sessions_unread: int = 0  # sessions not looked up in every region read: the budget was spent


class TrailReader:
    def __init__(
        self, client: TrailClient, account: str, take: Callable[[tuple[str, str]], float], max_events: int
    ) -> None:
        self._client = client
        self._account = account
        self._take = take
        self._max_events = max_events
        self._lock = threading.Lock()
        self._errors: dict[str, AwsError] = {}

    def read(self, key_id: str, regions: tuple[str, ...], start: datetime, end: datetime) -> TrailRead:
        """Every region at once (each paced on its own); the key first, then the sessions it minted."""
        out = TrailRead()
        budget = {r: math.ceil(self._max_events / PAGE) + 1 for r in regions}  # one more page: "is there more?"
        done: dict[str, set[str]] = {}  # key id -> regions fully read
        found: dict[str, MintedSession] = {}
        wanted = [key_id]
        readable = list(regions)
        for depth in range(ROUNDS):
            minted = self._round(wanted, readable, start, end, budget, done, out, session=depth > 0)
            if depth == 0:
                if len(out.failed) == len(regions):
                    raise next(iter(self._errors.values()))
                readable = [r for r in regions if r not in out.failed]
            fresh = {s.key_id: s for s in minted if s.key_id not in found and s.key_id != key_id}
            new = sorted(fresh.values(), key=lambda s: s.minted_at, reverse=True)
            if not new:
                break
            found.update((s.key_id, s) for s in new)
            wanted = [s.key_id for s in new]
        out.sessions = sorted(found.values(), key=lambda s: s.minted_at, reverse=True)
        out.sessions_unread = sum(1 for s in out.sessions if not set(readable) <= done.get(s.key_id, set()))
        return out

    def _round(
        self,
        ids: list[str],
        regions: list[str],
        start: datetime,
        end: datetime,
        budget: dict[str, int],
        done: dict[str, set[str]],
        out: TrailRead,
        *,
        session: bool,
    ) -> list[MintedSession]:
        minted: list[MintedSession] = []

        def pace(region: str) -> None:
            with self._lock:
                if budget[region] <= 0:
                    raise _Spent
                budget[region] -= 1
            self._take((self._account, region))

        def read(region: str) -> None:
            for key_id in ids:
                pages = self._client.lookup_key_events(region, key_id, start, end, pace=lambda: pace(region))
                try:
                    for raw in pages:
                        event = parse_trail_event(raw, region, key_id if session else None)
                        with self._lock:
                            if len(out.events) >= self._max_events:
                                out.truncated = True  # there was more than we may read
                                return
                            out.events.append(event)
                            if (made := session_minted(raw, event)) is not None:
                                minted.append(made)
                except _Spent:
                    out.truncated = out.truncated or not session
                    return
                with self._lock:
                    done.setdefault(key_id, set()).add(region)

        if not regions or not ids:
            return minted
        with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="keywarden-trail") as pool:
            futures = {region: pool.submit(read, region) for region in regions}
            for region, future in futures.items():
                try:
                    future.result()
                except AwsError as e:
                    if region not in out.failed:
                        reference = logged(e, f"CloudTrail in {self._account}/{region} could not be read", log)
                        out.failed[region] = region_unread(e.code, reference)
                    self._errors.setdefault(region, e)
        return minted
