"""The Slack Web API edge: a retrying client and the lookups the services need."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot import metrics
from bot.logs import slack_api_call

log = logging.getLogger(__name__)


def _retry_handlers(max_retries: int) -> list:
    return [
        metrics.CountedRetry(ConnectionErrorRetryHandler(max_retry_count=max_retries), "connection"),
        metrics.CountedRetry(RateLimitErrorRetryHandler(max_retry_count=max_retries), "ratelimited"),
        metrics.CountedRetry(ServerErrorRetryHandler(max_retry_count=max_retries), "server_error"),
    ]


class _WebClient(metrics.MeteredWebClient):
    """Tells the log filter which method each call is for: the bodies of views.* calls are never logged."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        with slack_api_call(api_method):
            return super().api_call(api_method, **kwargs)


def make_web_client(token: str, base_url: str, max_retries: int = 5) -> WebClient:
    """A WebClient that retries 429 (honouring Retry-After), 5xx and connection errors."""
    return _WebClient(token=token, base_url=base_url, timeout=15, retry_handlers=_retry_handlers(max_retries))


class RetryingRespond:
    """Bolt's `respond()` with the Web API client's retries (Bolt's own does not retry)."""

    def __init__(self, response_url: str, max_retries: int = 5) -> None:
        self.response_url = response_url
        self._client = WebhookClient(response_url, timeout=15, retry_handlers=_retry_handlers(max_retries))

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

    def _cached(self, key: tuple[str, str], load: Callable[[], object]) -> object:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def person(self, user_id: str) -> Person:
        def load() -> Person:
            try:
                user = self._client.users_info(user=user_id)["user"]
            except SlackApiError as e:
                log.warning("users.info failed for %s: %s", user_id, e.response.get("error"))
                return Person(user_id, None, None)
            profile = user.get("profile", {})
            return Person(user_id, profile.get("email"), user.get("real_name") or user.get("name"))

        return self._cached(("person", user_id), load)  # type: ignore[return-value]

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

    def group_members(self, group_id: str) -> frozenset[str]:
        def load() -> frozenset[str]:
            try:
                return frozenset(self._client.usergroups_users_list(usergroup=group_id)["users"])
            except SlackApiError as e:
                log.warning("usergroups.users.list failed for %s: %s", group_id, e.response.get("error"))
                return frozenset()

        return self._cached(("group", group_id), load)  # type: ignore[return-value]
