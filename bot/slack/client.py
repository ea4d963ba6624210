"""The Slack Web API edge: a retrying client and the lookups the services need."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot import metrics
from bot.domain.slack_ids import is_user_id
from bot.logs import slack_api_call
from bot.slack.retries import Sleep, retry_handlers

log = logging.getLogger(__name__)

T = TypeVar("T")


class _WebClient(metrics.MeteredWebClient):
    """Tells the log filter which method each call is for: the bodies of views.* calls are never logged."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        with slack_api_call(api_method):
            return super().api_call(api_method, **kwargs)


def make_web_client(
    token: str, base_url: str, max_retries: int = 5, sleep: Sleep = time.sleep, timeout: int = 15
) -> WebClient:
    """A WebClient that retries 429 (honouring Retry-After), 5xx and connection errors, waiting with `sleep`."""
    handlers = retry_handlers(max_retries, sleep) if max_retries else []
    return _WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class RetryingRespond:
    """Bolt's `respond()` with the Web API client's retries (Bolt's own does not retry)."""

    def __init__(self, response_url: str, max_retries: int = 5, sleep: Sleep = time.sleep) -> None:
        self.response_url = response_url
        self._client = WebhookClient(response_url, timeout=15, retry_handlers=retry_handlers(max_retries, sleep))

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


class _Kept(Generic[T]):
    """Answers kept for `ttl` seconds, each under its key; `keep` says which answers are worth keeping."""

    def __init__(self, ttl: float, monotonic: Callable[[], float]) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._answers: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T], keep: Callable[[T], bool] = lambda _: True) -> T:
        now = self._monotonic()
        with self._lock:
            hit = self._answers.get(key)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        value = load()
        if keep(value):
            with self._lock:
                self._answers[key] = (now, value)
        return value


class SlackDirectory:
    """Who a Slack user is, and which Slack user an owner tag names; cached briefly."""

    def __init__(self, client: WebClient, ttl_seconds: float = 300, monotonic: Callable[[], float] = time.monotonic):
        self._client = client
        self._people: _Kept[Person] = _Kept(ttl_seconds, monotonic)
        self._emails: _Kept[str | None] = _Kept(ttl_seconds, monotonic)

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

        return self._people.get(user_id, load, keep=lambda person: person.guest is not None)

    def user_id_for(self, owner: str) -> str | None:
        """Resolve an owner tag (a Slack user id or an email) to a Slack user id, or None."""
        owner = owner.strip()
        if is_user_id(owner):
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

        return self._emails.get(owner.lower(), load)

    def group_members(self, group_id: str) -> frozenset[str] | None:
        """A user group's members, asked live on every call (never cached: someone removed from the
        approver group loses the right at once); None when Slack does not answer."""
        try:
            return frozenset(self._client.usergroups_users_list(usergroup=group_id)["users"])
        except (SlackApiError, SlackClientError, OSError) as e:
            reason = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            log.warning("usergroups.users.list failed for %s: %s", group_id, reason)
            return None
