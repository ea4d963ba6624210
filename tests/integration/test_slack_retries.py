"""Slack's Web API and response_url posts are retried by slack_sdk's own retry handlers, subclassed so that they
wait with the injected sleep: 429 after its Retry-After, 500/503 and refused connections with backoff."""

from __future__ import annotations

import socket
from urllib.error import URLError

import pytest
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack.client import RetryingRespond, make_web_client
from tests.support.fake_slack import FakeSlack, Fault
from tests.support.harness import RecordingSleep

RATELIMITED = Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
UNAVAILABLE = Fault(503, {"ok": False, "error": "service_unavailable"})


def test_web_api_retries_wait_with_the_injected_sleep(slack: FakeSlack, sleeps: RecordingSleep) -> None:
    slack.fail("chat.postMessage", RATELIMITED, UNAVAILABLE)
    client = make_web_client("xoxb-test", slack.api_url, sleep=sleeps)

    assert client.chat_postMessage(channel="C1", text="hello")["ok"]

    assert slack.attempts["chat.postMessage"] == 3
    assert len(sleeps.waits) == 2 and 7 <= sleeps.waits[0] < 8  # Retry-After, plus under a second of spread
    kinds = (ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler)
    assert [next(k for k in kinds if isinstance(h, k)) for h in client.retry_handlers] == list(kinds)
    # slack_sdk's handlers, subclassed: no method is replaced on a live handler
    assert all("prepare_for_next_attempt" not in vars(h) for h in client.retry_handlers)


def test_response_url_posts_are_retried_too(slack: FakeSlack, sleeps: RecordingSleep) -> None:
    slack.fail("response_url", RATELIMITED)
    respond = RetryingRespond(slack.response_url(), sleep=sleeps)

    assert respond("done").status_code == 200
    assert slack.attempts["response_url"] == 2 and len(sleeps.waits) == 1 and 7 <= sleeps.waits[0] < 8


def test_a_refused_connection_is_retried_with_backoff_then_raised(sleeps: RecordingSleep) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_web_client("xoxb-test", f"http://127.0.0.1:{port}/api/", max_retries=2, sleep=sleeps)

    with pytest.raises(URLError):
        client.auth_test()
    assert len(sleeps.waits) == 2 and all(0 < wait < 5 for wait in sleeps.waits)
