"""One Pacer spaces Slack posts per channel and CloudTrail lookups per account and region, on an injected clock."""

import threading

import pytest
from slack_sdk import WebClient

from bot.clock import Pacer
from bot.slack.notifier import Notifier
from tests.support.fake_slack import FakeSlack


class FakeTime:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_a_pacer_spaces_calls_per_key_and_saves_no_burst() -> None:
    t = FakeTime()
    pacer = Pacer(1.0, monotonic=t.monotonic, sleep=t.sleep)
    assert pacer.take("C1") == 0  # the first call goes at once
    assert pacer.take("C1") == pytest.approx(1.0)
    assert pacer.take("C2") == 0  # another key has its own slots
    t.now += 0.25
    assert pacer.take("C1") == pytest.approx(0.75)  # waits only what is left of the interval
    t.now += 60
    assert pacer.take("C1") == 0 and pacer.take("C1") == pytest.approx(1.0)  # idle time is no burst
    assert t.waits == [pytest.approx(1.0), pytest.approx(0.75), pytest.approx(1.0)]


def test_threads_that_share_a_key_get_one_slot_each() -> None:
    t = FakeTime()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            t.waits.append(seconds)  # the clock stands still: every thread asks at the same instant

    pacer = Pacer(0.5, monotonic=t.monotonic, sleep=sleep)
    threads = [threading.Thread(target=pacer.take, args=(("prod", "us-east-1"),)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(t.waits) == [pytest.approx(0.5 * n) for n in range(1, 6)]  # the first went at once


def test_the_notifier_posts_to_one_channel_once_a_second(slack: FakeSlack) -> None:
    t = FakeTime()
    notifier = Notifier(WebClient(token="xoxb-1", base_url=slack.api_url), monotonic=t.monotonic, sleep=t.sleep)
    message = ("hello", [])
    for channel in ("C1", "C1", "C2", "C1"):
        assert notifier.post(channel, message) is not None
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["C1", "C1", "C2", "C1"]
    assert t.waits == [pytest.approx(1.0), pytest.approx(1.0)]  # C2 never waited for C1
