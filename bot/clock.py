"""Time is injected: domain code takes `now`, services take a `Clock`, and waits go through a `Pacer` whose
`monotonic` and `sleep` tests replace."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class Pacer:
    """Spaces calls that share a key (a Slack channel; an AWS account and region) at least `interval` seconds
    apart, across every thread of the process.

    The first call for a key goes at once; each next one waits for its slot. Idle time is not saved up into a
    burst: a burst would leave the server's own allowance empty, so network jitter alone could get a call refused.
    """

    def __init__(
        self,
        interval: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> float:
        """Wait for this key's next slot; returns the seconds waited."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait
