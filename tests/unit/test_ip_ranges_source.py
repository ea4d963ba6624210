"""AWS's address ranges: fetched at most once a day, the last copy kept in a file and used when the fetch fails, none
at all (addresses left unplaced) without any copy. The fetch is a function handed in: no network here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.aws.ip_ranges import IpRangesSource
from tests.support.workloads import EC2_ADDRESS, RANGES_FILE

URL = "https://ip-ranges.example/ip-ranges.json"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Fetch:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self, url: str) -> bytes:
        assert url == URL
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return RANGES_FILE.read_bytes()


def test_fetched_daily_and_kept(tmp_path: Path) -> None:
    clock, fetch, kept = Clock(), Fetch(), tmp_path / "ranges.json"
    source = IpRangesSource(clock, URL, cache_file=kept, fetch=fetch)
    assert source.ranges().find(EC2_ADDRESS).region == "us-east-1"
    assert source.ranges() is source.ranges() and fetch.calls == 1  # within the day: from memory
    assert kept.read_bytes() == RANGES_FILE.read_bytes()
    clock.now += timedelta(days=1, seconds=1)
    source.ranges()
    assert fetch.calls == 2


def test_a_failed_fetch_uses_the_last_copy_and_without_one_there_are_none(tmp_path: Path) -> None:
    clock, fetch, kept = Clock(), Fetch(), tmp_path / "ranges.json"
    fetch.fail = True
    assert IpRangesSource(clock, URL, cache_file=kept, fetch=fetch).ranges() is None  # never guessed
    kept.write_bytes(RANGES_FILE.read_bytes())  # what an earlier process kept
    restarted = IpRangesSource(clock, URL, cache_file=kept, fetch=fetch)
    assert restarted.ranges().find(EC2_ADDRESS) is not None
    kept.write_text("<html>captive portal</html>")
    assert IpRangesSource(clock, URL, cache_file=kept, fetch=fetch).ranges() is None


def test_a_local_copy_is_read_and_not_copied(tmp_path: Path) -> None:
    kept = tmp_path / "ranges.json"
    source = IpRangesSource(Clock(), RANGES_FILE.as_uri(), cache_file=kept)
    assert source.ranges().find(EC2_ADDRESS) is not None and not kept.exists()
