"""What a key did, from its CloudTrail events: parsing and summarising. Pure.

CloudTrail's event history (LookupEvents) keeps 90 days of management events per region, and only those: data
events (S3 object reads and writes, Lambda invocations, DynamoDB items) are only in trails that record them.
Calls made through sessions the key minted are found by the sessions' own key ids (bot/domain/sessions.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.keys import KeyFacts
from bot.domain.sessions import MINTING, MintedSession, minted_session

MAX_DAYS = 90
DEFAULT_DAYS = 30
# Where IAM and other global services record their events in the `aws` partition (bot.domain.sessions has the
# other partitions'). STS calls to a regional endpoint are recorded in the caller's region, not here.
GLOBAL_REGION = "us-east-1"
TOP = 10


@dataclass(frozen=True)
class TrailEvent:
    at: datetime
    name: str
    service: str  # e.g. s3 (from s3.amazonaws.com)
    region: str
    source_ip: str
    user_agent: str
    error: str | None
    event_id: str
    session: str | None = None  # the session's key id (ASIA…) when signed by a session the key minted

    @property
    def call(self) -> str:
        return f"{self.service}:{self.name}"


def _detail(raw: Mapping[str, Any]) -> dict[str, Any]:
    try:
        detail = json.loads(raw.get("CloudTrailEvent") or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def parse_trail_event(raw: Mapping[str, Any], region: str, session: str | None = None) -> TrailEvent:
    """One LookupEvents event; the details come from its CloudTrailEvent JSON (missing parts stay empty).
    `session`: the session key id it was looked up by, when it was signed by a session the key minted."""
    detail = _detail(raw)
    at = raw.get("EventTime")
    if not isinstance(at, datetime):
        at = datetime.fromtimestamp(float(at or 0), UTC)
    source = str(raw.get("EventSource") or detail.get("eventSource") or "unknown")
    return TrailEvent(
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        name=str(raw.get("EventName") or detail.get("eventName") or "unknown"),
        service=source.removesuffix(".amazonaws.com"),
        region=str(detail.get("awsRegion") or region),
        source_ip=str(detail.get("sourceIPAddress") or "unknown"),
        user_agent=str(detail.get("userAgent") or "unknown"),
        error=str(detail["errorCode"]) if detail.get("errorCode") else None,
        event_id=str(raw.get("EventId") or detail.get("eventID") or ""),
        session=session,
    )


def session_minted(raw: Mapping[str, Any], event: TrailEvent) -> MintedSession | None:
    """The session a GetSessionToken, AssumeRole or GetFederationToken event created, else None."""
    if event.service != "sts" or event.name not in MINTING:
        return None
    return minted_session(event.name, _detail(raw), event.at)


@dataclass(frozen=True)
class SeenFrom:
    """A source IP address: how many calls came from it, first and last."""

    ip: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class ActivitySummary:
    key_id: str
    start: datetime
    end: datetime
    regions_searched: tuple[str, ...]
    total: int
    truncated: bool
    calls: list[tuple[str, int]]  # "service:EventName", count; the top ones signed by the key itself
    other_calls: int  # calls of the other kinds
    other_kinds: int
    ips: list[SeenFrom]
    agents: list[tuple[str, int]]
    regions: list[tuple[str, int]]
    errors: list[tuple[str, int]]
    first: TrailEvent | None
    last: TrailEvent | None
    boundary: datetime
    boundary_reason: str
    new_ips: list[SeenFrom]  # first seen after `boundary`, never before it
    session_calls: list[tuple[str, int]] = field(default_factory=list)  # the top ones made through sessions
    through_sessions: int = 0  # calls made through sessions the key minted
    by_session: dict[str, int] = field(default_factory=dict)  # session key id -> calls made through it

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start) / timedelta(days=1)))


def window(now: datetime, days: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now


def search_regions(
    last_used_region: str | None, configured: Iterable[str], global_region: str = GLOBAL_REGION
) -> tuple[str, ...]:
    """The partition's global-service region (us-east-1, us-gov-west-1, cn-north-1), the key's last-used region,
    then ACTIVITY_REGIONS; each once."""
    regions = [global_region]
    if last_used_region and last_used_region not in ("N/A", "global"):
        regions.append(last_used_region)
    regions.extend(configured)
    return tuple(dict.fromkeys(regions))


def comparison_point(
    start: datetime, end: datetime, key_created: datetime, rotated_at: datetime | None
) -> tuple[datetime, str]:
    """Where "before" ends when looking for new IP addresses.

    The rotation that replaced this key, when there was one inside the window (`rotated_at`): an old key used
    from somewhere new after it was replaced is the classic sign of a leak. A newer key alone is no rotation (a
    `create` a minute ago replaced nothing). Otherwise the middle of the window (or of the part of it the key
    existed for).
    """
    if rotated_at is not None and key_created < rotated_at and start < rotated_at < end:
        return rotated_at, f"the rotation that replaced it ({rotated_at:%Y-%m-%d %H:%M} UTC)"
    since = max(start, key_created)
    middle = since + (end - since) / 2
    return middle, f"the first half of the period (before {middle:%Y-%m-%d %H:%M} UTC)"


def summarize(
    events: Iterable[TrailEvent],
    *,
    key_id: str,
    start: datetime,
    end: datetime,
    regions_searched: Iterable[str],
    truncated: bool,
    key_created: datetime,
    rotated_at: datetime | None,
) -> ActivitySummary:
    ordered = sorted(events, key=lambda e: e.at)
    calls = Counter(e.call for e in ordered if e.session is None)
    through = Counter(e.call for e in ordered if e.session is not None)
    top = calls.most_common(TOP)
    ips = _addresses(ordered)
    boundary, reason = comparison_point(start, end, key_created, rotated_at)
    return ActivitySummary(
        key_id=key_id,
        start=start,
        end=end,
        regions_searched=tuple(regions_searched),
        total=len(ordered),
        truncated=truncated,
        calls=top,
        other_calls=sum(calls.values()) - sum(n for _, n in top),
        other_kinds=max(0, len(calls) - len(top)),
        ips=ips,
        agents=Counter(e.user_agent for e in ordered).most_common(),
        regions=Counter(e.region for e in ordered).most_common(),
        errors=Counter(e.error for e in ordered if e.error).most_common(),
        first=ordered[0] if ordered else None,
        last=ordered[-1] if ordered else None,
        boundary=boundary,
        boundary_reason=reason,
        new_ips=_new_addresses(ordered, ips, boundary),
        session_calls=through.most_common(TOP),
        through_sessions=sum(through.values()),
        by_session=dict(Counter(e.session for e in ordered if e.session)),
    )


def _addresses(ordered: list[TrailEvent]) -> list[SeenFrom]:
    """Each source IP address of the events (oldest first), the busiest first."""
    seen: dict[str, list[Any]] = {}
    for e in ordered:
        entry = seen.setdefault(e.source_ip, [0, e.at, e.at])
        entry[0] += 1
        entry[2] = e.at
    return sorted((SeenFrom(ip, n, first, last) for ip, (n, first, last) in seen.items()), key=lambda s: -s.count)


def _new_addresses(ordered: list[TrailEvent], ips: list[SeenFrom], boundary: datetime) -> list[SeenFrom]:
    """The addresses first seen after `boundary` and never before it."""
    before = {e.source_ip for e in ordered if e.at < boundary}
    # With nothing seen before the boundary, every address is "new": that says nothing, so say nothing.
    if not before:
        return []
    return [s for s in ips if s.ip not in before and s.first >= boundary]


@dataclass
class ActivityResult:
    account: str
    user: str
    key: KeyFacts
    summary: ActivitySummary
    notes: list[str] = field(default_factory=list)  # regions that could not be read
    csv_sent: bool | None = None  # None: not needed (short)
    sessions: list[MintedSession] = field(default_factory=list)  # minted by the key (or by its sessions), newest first
    sessions_unread: int = 0  # sessions whose calls were not looked up: the event or request budget was spent
    user_arn: str | None = None  # where the deny that ends the user's sessions goes (partition-aware)
    read_at: datetime | None = None  # the deny's aws:TokenIssueTime: every session issued before it
