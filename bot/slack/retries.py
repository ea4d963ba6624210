"""Retries of the Slack Web API and response_url posts: slack_sdk's own retry handlers, subclassed.

slack_sdk decides whether to retry (`_can_retry`, the method its docs tell subclasses to implement) and how long
to back off; these subclasses change only the wait, made with an injected `sleep` (slack_sdk's handlers call
`time.sleep`, which tests must not), and count each retry they grant by Web API method and reason.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import metrics

Sleep = Callable[[float], None]


class _Waiting(RetryHandler):
    """What the three handlers share: wait with `sleep`, count the retry."""

    reason = ""

    def __init__(self, max_retry_count: int, sleep: Sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        metrics.count_slack_retry(request.url, self.reason)
        state.next_attempt_requested = True
        self._sleep(self.wait(state, response))
        state.increment_current_attempt()

    def wait(self, state: RetryState, response: HttpResponse | None) -> float:
        """Seconds before the next attempt: slack_sdk's backoff."""
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)


class ConnectionRetry(_Waiting, ConnectionErrorRetryHandler):
    """A connection reset or refused, retried with backoff."""

    reason = "connection"


class ServerErrorRetry(_Waiting, ServerErrorRetryHandler):
    """HTTP 500 and 503, retried with backoff."""

    reason = "server_error"


class RateLimitRetry(_Waiting, RateLimitErrorRetryHandler):
    """HTTP 429, retried after the Retry-After it names (and up to a second more, so callers spread out)."""

    reason = "ratelimited"

    def wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return retry_after(response.headers if response is not None else {}) + random.random()


def retry_after(headers: Mapping[str, list[str] | str]) -> float:
    """Seconds a 429 asks us to wait (Slack's Retry-After), 1 when it does not say."""
    for name, values in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(values if isinstance(values, str) else values[0]))
            except (IndexError, ValueError):
                break
    return 1.0


def retry_handlers(max_retries: int, sleep: Sleep = time.sleep) -> list[RetryHandler]:
    """Retries of 429 (honouring Retry-After), 5xx and connection errors, `max_retries` of each at most."""
    return [handler(max_retries, sleep) for handler in (ConnectionRetry, RateLimitRetry, ServerErrorRetry)]
