"""IAM Access Advisor: which services a user's policies allow, and which it used. Pure.

Access Advisor keeps about 400 days of history; a use shows up about 4 hours after it happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_DAYS = 90
MAX_DAYS = 400


@dataclass(frozen=True)
class ServiceAccess:
    name: str  # "Amazon S3"
    namespace: str  # "s3"
    last_used: datetime | None
    region: str | None = None


def parse_services(raw: Iterable[Mapping[str, Any]]) -> list[ServiceAccess]:
    services = []
    for item in raw:
        when = item.get("LastAuthenticated")
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        services.append(
            ServiceAccess(
                str(item.get("ServiceName") or item.get("ServiceNamespace") or "?"),
                str(item.get("ServiceNamespace") or "?"),
                when if isinstance(when, datetime) else None,
                item.get("LastAuthenticatedRegion") or None,
            )
        )
    return services


@dataclass(frozen=True)
class AccessSummary:
    account: str
    user: str
    days: int
    generated: datetime  # when Access Advisor's answer was read (results are cached)
    used: list[ServiceAccess]  # used within `days`, most recent first
    stale: list[ServiceAccess]  # used, but not within `days`
    never: list[ServiceAccess]  # allowed, never used (as far as Access Advisor remembers)

    @property
    def allowed(self) -> int:
        return len(self.used) + len(self.stale) + len(self.never)


def summarize_access(
    account: str, user: str, services: Iterable[ServiceAccess], now: datetime, days: int, generated: datetime
) -> AccessSummary:
    cutoff = now - timedelta(days=days)
    used, stale, never = [], [], []
    for s in services:
        if s.last_used is None:
            never.append(s)
        elif s.last_used >= cutoff:
            used.append(s)
        else:
            stale.append(s)
    used.sort(key=lambda s: s.last_used or now, reverse=True)
    stale.sort(key=lambda s: s.last_used or now, reverse=True)
    never.sort(key=lambda s: s.namespace)
    return AccessSummary(account, user, days, generated, used, stale, never)
