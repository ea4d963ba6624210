"""The Slack Web API edge: a retrying client and the lookups the services need."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot import metrics
from bot.logs import slack_api_call

log = logging.getLogger(__name__)


Sleep = Callable[[float], None]


def _waiting_with(sleep: Sleep, handler: RetryHandler) -> RetryHandler:
    """`handler` deciding whether to retry, waiting with `sleep` (slack_sdk's own handlers call time.sleep)."""

    def prepare_for_next_attempt(
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if isinstance(handler, RateLimitErrorRetryHandler):
            if response is None:
                raise error  # type: ignore[misc]
            duration = retry_after(response.headers) + random.random()
        else:
            duration = handler.interval_calculator.calculate_sleep_duration(state.current_attempt)
        state.next_attempt_requested = True
        sleep(duration)
        state.increment_current_attempt()

    handler.prepare_for_next_attempt = prepare_for_next_attempt  # type: ignore[method-assign]
    return handler


def retry_after(headers: dict[str, list[str]]) -> float:
    """Seconds a 429 asks us to wait (Slack's Retry-After), 1 when it does not say."""
    for name, values in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(values[0]))
            except (IndexError, ValueError):
                break
    return 1.0


def _retry_handlers(max_retries: int, sleep: Sleep = time.sleep) -> list:
    handlers = {
        "connection": ConnectionErrorRetryHandler(max_retry_count=max_retries),
        "ratelimited": RateLimitErrorRetryHandler(max_retry_count=max_retries),
        "server_error": ServerErrorRetryHandler(max_retry_count=max_retries),
    }
    return [metrics.CountedRetry(_waiting_with(sleep, handler), reason) for reason, handler in handlers.items()]


class _WebClient(metrics.MeteredWebClient):
    """Tells the log filter which method each call is for: the bodies of views.* calls are never logged."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        with slack_api_call(api_method):
            return super().api_call(api_method, **kwargs)


def make_web_client(
    token: str, base_url: str, max_retries: int = 5, sleep: Sleep = time.sleep, timeout: int = 15
) -> WebClient:
    """A WebClient that retries 429 (honouring Retry-After), 5xx and connection errors, waiting with `sleep`."""
    handlers = _retry_handlers(max_retries, sleep) if max_retries else []
    return _WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class RetryingRespond:
    """Bolt's `respond()` with the Web API client's retries (Bolt's own does not retry)."""

    def __init__(self, response_url: str, max_retries: int = 5, sleep: Sleep = time.sleep) -> None:
        self.response_url = response_url
        self._client = WebhookClient(response_url, timeout=15, retry_handlers=_retry_handlers(max_retries, sleep))

    def __call__(self, text: str = "", blocks: list | None = None, **kwargs: Any) -> WebhookResponse:
        body = {"text": text, "blocks": blocks, **kwargs}
        response = self._client.send_dict({k: v for k, v in body.items() if v is not None})
        if response.status_code != 200:
            log.warning("response_url answered %s", response.status_code)
        return response


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str | None
    name: str | None
    guest: bool | None = False  # a single- or multi-channel guest; None: Slack did not answer just now

    @property
    def identities(self) -> set[str]:
        return {i for i in (self.user_id, self.email) if i}


class SlackDirectory:
    """Who a Slack user is, and which Slack user an owner tag names; cached briefly."""

    def __init__(self, client: WebClient, ttl_seconds: float = 300, monotonic: Callable[[], float] = time.monotonic):
        self._client = client
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()

    def _cached(
        self, key: tuple[str, str], load: Callable[[], object], keep: Callable[[object], bool] = lambda _: True
    ) -> object:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        value = load()
        if keep(value):
            with self._lock:
                self._cache[key] = (now, value)
        return value

    def person(self, user_id: str) -> Person:
        """Who a Slack user is, guest or member (`is_restricted` / `is_ultra_restricted`), kept for the cache's
        time; an answer Slack did not give (an error other than user_not_found) is asked again next time."""

        def load() -> Person:
            try:
                user = self._client.users_info(user=user_id)["user"]
            except SlackApiError as e:
                error = e.response.get("error")
                log.warning("users.info failed for %s: %s", user_id, error)
                return Person(user_id, None, None, guest=False if error == "user_not_found" else None)
            profile = user.get("profile", {})
            guest = bool(user.get("is_restricted") or user.get("is_ultra_restricted"))
            return Person(user_id, profile.get("email"), user.get("real_name") or user.get("name"), guest)

        known = lambda p: isinstance(p, Person) and p.guest is not None  # noqa: E731
        return self._cached(("person", user_id), load, keep=known)  # type: ignore[return-value]

    def user_id_for(self, owner: str) -> str | None:
        """Resolve an owner tag (a Slack user id or an email) to a Slack user id, or None."""
        owner = owner.strip()
        if owner[:1] in {"U", "W"} and owner.isalnum() and owner.upper() == owner:
            return owner
        if "@" not in owner:
            return None

        def load() -> str | None:
            try:
                return self._client.users_lookupByEmail(email=owner)["user"]["id"]
            except SlackApiError as e:
                if e.response.get("error") != "users_not_found":
                    log.warning("users.lookupByEmail failed: %s", e.response.get("error"))
                return None

        return self._cached(("email", owner.lower()), load)  # type: ignore[return-value]

    def group_members(self, group_id: str) -> frozenset[str] | None:
        """A user group's members, asked live on every call (never cached: someone removed from the
        approver group loses the right at once); None when Slack does not answer."""
        try:
            return frozenset(self._client.usergroups_users_list(usergroup=group_id)["users"])
        except (SlackApiError, SlackClientError, OSError) as e:
            reason = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            log.warning("usergroups.users.list failed for %s: %s", group_id, reason)
            return None
