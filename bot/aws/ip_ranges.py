"""AWS's published address ranges, fetched at most once a day and kept in a file, so that a restart or an
unreachable endpoint still has the last copy. The parsing is pure (bot/domain/ip_ranges.py).

`IP_RANGES_URL` names the document (default AWS's own; a `file://` URL reads a local copy, as tests and places
without internet access do). A failed fetch falls back to the last copy, however old, and says so in the log; with
no copy at all there are no ranges, and addresses stay unplaced (never guessed to be outside AWS).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import Clock
from bot.domain.ip_ranges import AwsRanges, RangesError, parse_ranges

log = logging.getLogger(__name__)

URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
MAX_AGE = timedelta(days=1)
CACHE_FILE = Path(tempfile.gettempdir()) / "keywarden-ip-ranges.json"
TIMEOUT = 10.0


def fetch_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
        return bytes(reply.read())


class IpRangesSource:
    def __init__(
        self,
        clock: Clock,
        url: str = URL,
        *,
        cache_file: Path = CACHE_FILE,
        fetch: Callable[[str], bytes] = fetch_url,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self._clock = clock
        self._url = url
        self._file = cache_file
        self._fetch = fetch
        self._max_age = max_age
        self._lock = threading.Lock()
        self._ranges: AwsRanges | None = None
        self._read_at: datetime | None = None
        self.fetches = 0

    def ranges(self) -> AwsRanges | None:
        """The ranges, at most a day old when AWS can be reached; the last copy otherwise; None without any."""
        with self._lock:
            now = self._clock()
            if self._ranges is not None and self._read_at is not None and now - self._read_at < self._max_age:
                return self._ranges
            fresh = self._download()
            if fresh is not None:
                self._ranges, self._read_at = fresh, now
            elif self._ranges is None:
                self._ranges = self._from_file()  # read_at stays: the next call tries the download again
            return self._ranges

    def _download(self) -> AwsRanges | None:
        try:
            data = self._fetch(self._url)
            self.fetches += 1
            ranges = parse_ranges(json.loads(data))
        except (OSError, ValueError, RangesError) as e:
            log.warning("AWS's IP address ranges could not be fetched from %s (%s): using the last copy", self._url, e)
            return None
        if self._url.startswith("file://"):
            return ranges  # a local copy already: nothing to keep
        try:
            partial = self._file.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(data)
            os.replace(partial, self._file)
        except OSError as e:
            log.info("could not keep a copy of AWS's IP address ranges in %s: %s", self._file, e)
        return ranges

    def _from_file(self) -> AwsRanges | None:
        try:
            return parse_ranges(json.loads(self._file.read_bytes()))
        except (OSError, ValueError, RangesError):
            return None
