"""Asking Slack and AWS whether they work, one attempt each: the start-up checks and GET /healthz share these.

Each answer says whether the dependency works, whether a failure is worth asking again (it did not answer: a
connection error, a timeout, a 5xx or a rate limit) or final (it answered no: a refused token or credentials),
and what happened in a few words.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.aws import AwsError, AwsGateway
from bot.aws.errors import AwsBadCredentials, AwsPermissionDenied, AwsThrottled, AwsUnavailable
from bot.settings import Settings
from bot.slack.client import make_web_client

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 5
HEALTH_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    ok: bool
    transient: bool = False  # no answer at all: asking again may help
    detail: str = "ok"  # a few words, for /healthz and the start-up line
    data: Any = None  # the answer itself, when there is one
    error: BaseException | None = None


def probe_client(settings: Settings) -> WebClient:
    """A Web API client that tries once, with a short timeout: the caller paces its own attempts."""
    return make_web_client(
        settings.slack_bot_token.get_secret_value(),
        settings.slack_api_url,
        max_retries=0,
        timeout=PROBE_TIMEOUT_SECONDS,
    )


def ask_slack(call: Callable[[], Any]) -> Answer:
    """One Web API call: ok with its data, Slack's refusal (its error code), or no answer (transient)."""
    try:
        return Answer(True, data=call().data)
    except SlackApiError as e:
        status = e.response.status_code
        data = e.response.data if isinstance(e.response.data, dict) else {}
        if status >= 500 or status == 429:
            return Answer(False, transient=True, detail=f"HTTP {status}", error=e)
        return Answer(False, detail=str(data.get("error") or f"HTTP {status}"), data=data, error=e)
    except (SlackClientError, OSError, ValueError) as e:  # ValueError: a body that is not JSON (a proxy's page)
        return Answer(False, transient=True, detail=f"unreachable ({type(e).__name__})", error=e)


def ask_aws(aws: AwsGateway) -> Answer:
    """sts:GetCallerIdentity with the credentials boto3 finds."""
    try:
        return Answer(True, data=aws.caller_arn(once=True))
    except (AwsUnavailable, AwsThrottled) as e:
        return Answer(False, transient=True, detail=f"unreachable ({e.code})", error=e)
    except AwsBadCredentials as e:
        return Answer(False, detail="credentials refused", error=e)
    except AwsPermissionDenied as e:
        return Answer(False, detail="access denied", error=e)
    except AwsError as e:
        return Answer(False, detail=f"error ({e.code})", error=e)


class Dependencies:
    """Slack and AWS as GET /healthz reports them, asked at most once per `ttl` seconds whatever the probe rate:
    a storm of probes is not a storm of API calls."""

    def __init__(
        self,
        slack: Callable[[], Answer],
        aws: Callable[[], Answer],
        ttl: float = HEALTH_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = {"slack": slack, "aws": aws}
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._asked_at: float | None = None
        self._answers: dict[str, str] = {}

    @classmethod
    def of(cls, settings: Settings, aws: AwsGateway, monotonic: Callable[[], float] = time.monotonic) -> Dependencies:
        client = probe_client(settings)
        return cls(lambda: ask_slack(client.auth_test), lambda: ask_aws(aws), monotonic=monotonic)

    def status(self) -> dict[str, str]:
        """{"slack": "ok" or what failed, "aws": the same}; one caller asks, the others wait for its answer."""
        with self._lock:
            now = self._monotonic()
            if self._asked_at is None or now - self._asked_at >= self._ttl:
                self._answers = {name: self._ask(name, probe) for name, probe in self._probes.items()}
                self._asked_at = now
            return dict(self._answers)

    @staticmethod
    def _ask(name: str, probe: Callable[[], Answer]) -> str:
        try:
            answer = probe()
        except Exception as e:  # a health check reports, it does not raise
            answer = Answer(False, detail=f"error ({type(e).__name__})")
        if not answer.ok:
            log.warning("health check: %s: %s", name, answer.detail)
        return "ok" if answer.ok else answer.detail
