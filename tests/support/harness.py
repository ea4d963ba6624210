"""Run the real WSGI app under the production server on loopback and talk to it as Slack does."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server

from bot.bootstrap import Services
from bot.entrypoints.web import build_wsgi
from tests.support.fake_slack import FakeSlack

SIGNING_SECRET = "test-signing-secret"


class TestClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class RecordingSleep:
    """Waits nothing and remembers how long it was asked to wait (Slack's Retry-After, backoffs, pacing)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackRequests:
    """Requests as Slack sends them, signed, to a Keywarden at `url`."""

    url: str
    slack: FakeSlack
    slash_command: str = "/awskeys"
    signing_secret: str = SIGNING_SECRET

    @property
    def _verifier(self) -> SignatureVerifier:
        return SignatureVerifier(self.signing_secret)

    # Raw HTTP
    def post(self, body: str, headers: dict[str, str], path: str = "/slack/events") -> Reply:
        request = urllib.request.Request(self.url + path, data=body.encode(), headers=headers, method="POST")
        return send(request)

    def get(self, path: str) -> Reply:
        return send(urllib.request.Request(self.url + path))

    def signed_headers(self, body: str, timestamp: int | None = None, content_type: str = "") -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type or "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body),
        }

    # As Slack sends them
    def command(self, text: str, user_id: str = "UALICE", *, trigger_id: str = "T-trigger") -> Reply:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": "T1",
                "team_domain": "acme",
                "channel_id": "CWORK",
                "channel_name": "work",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": self.slash_command,
                "text": text,
                "api_app_id": "A1",
                "response_url": self.slack.response_url(f"cmd-{user_id}"),
                "trigger_id": trigger_id,
            }
        )
        return self.post(body, self.signed_headers(body))

    def event(
        self,
        event: dict[str, Any],
        *,
        team_id: str = "T1",
        event_id: str | None = None,
        retry: int | None = None,
        raw: str | None = None,
    ) -> Reply:
        """An Events API event_callback, signed, as Slack sends it; `retry` adds X-Slack-Retry-Num."""
        body = raw
        if body is None:
            envelope = {
                "token": "legacy",
                "team_id": team_id,
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{abs(hash((json.dumps(event, sort_keys=True), team_id))) % 10**10:010d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
            }
            # Real Slack escapes every "/" in its JSON; a pasted secret arrives escaped too.
            body = json.dumps(envelope).replace("/", "\\/")
        headers = self.signed_headers(body, content_type="application/json")
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.post(body, headers)

    def message(
        self, text: str, *, user: str = "UALICE", channel: str = "CWORK", ts: str = "1700000100.000100", **kw: Any
    ) -> Reply:
        """A plain message event in a channel."""
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "channel_type": "channel"}
        return self.event(event, **kw)

    def interact(self, payload: dict[str, Any]) -> Reply:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, self.signed_headers(body))

    def click(
        self,
        action_id: str,
        value: str,
        user_id: str,
        *,
        channel: str = "CAPPROVE",
        message_ts: str = "1700000000.000100",
        trigger_id: str = "T-click",
    ) -> Reply:
        return self.interact(
            interaction(
                "block_actions",
                user_id,
                trigger_id=trigger_id,
                container={"type": "message", "message_ts": message_ts, "channel_id": channel},
                channel={"id": channel, "name": "approvals"},
                message={"ts": message_ts, "text": "", "blocks": []},
                response_url=self.slack.response_url(f"click-{user_id}"),
                actions=[
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "actions",
                        "value": value,
                        "action_ts": str(time.time()),
                    }
                ],
            )
        )

    def submit_view(
        self, callback_id: str, values: dict[str, dict[str, Any]], user_id: str, private_metadata: str = ""
    ) -> Reply:
        return self.interact(
            interaction(
                "view_submission",
                user_id,
                trigger_id="T-view",
                view={
                    "id": "V1",
                    "type": "modal",
                    "callback_id": callback_id,
                    "private_metadata": private_metadata,
                    "state": {"values": values},
                    "hash": "h",
                },
            )
        )


def interaction(kind: str, user_id: str, **fields: Any) -> dict[str, Any]:
    """An interaction payload as Slack sends it: `kind` from `user_id` of team T1 to app A1, with `fields`."""
    return {
        "type": kind,
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        **fields,
    }


class TrackingExecutor(ThreadPoolExecutor):
    """The work-after-ack pool, able to say when everything submitted so far has finished.

    `reports_to`: another TrackingExecutor whose idle() also waits for this one's work."""

    def __init__(
        self, max_workers: int = 10, name: str = "keywarden-work", reports_to: TrackingExecutor | None = None
    ) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self.workers = max_workers
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self._reports_to = reports_to

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        self._track(future)
        return future

    def _track(self, future: Future) -> None:
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()] + [future]
        if self._reports_to is not None:
            self._reports_to._track(future)

    def idle(self, timeout: float = 30) -> None:
        """Wait until no submitted work is left (work may submit more work, so look again)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            assert time.monotonic() < deadline, "work after the ack did not finish"


class BotServer(SlackRequests):
    """The real WSGI app under the production server (waitress), in this process, on loopback."""

    def __init__(self, services: Services, slack: FakeSlack) -> None:
        self.services = services
        self.slack = slack
        self.slash_command = services.settings.slash_command
        self.work = TrackingExecutor()
        self.views = TrackingExecutor(4, "keywarden-views", reports_to=self.work)  # work.idle() waits for it too
        self.wsgi = build_wsgi(services, self.work, self.views)
        self._server = create_server(self.wsgi, host="127.0.0.1", port=0, threads=8)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:  # type: ignore[override]
        return f"http://127.0.0.1:{self._server.effective_port}"

    def stop(self) -> None:
        self._server.close()
        self._server.task_dispatcher.shutdown()  # its threads would otherwise wait for work forever
        self.wsgi.drain()  # work after the ack finishes while fake Slack still answers


class RemoteBot(SlackRequests):
    """A Keywarden running in another process."""

    def __init__(self, url: str, slack: FakeSlack) -> None:
        self.url = url
        self.slack = slack


def send(request: urllib.request.Request, timeout: float = 30) -> Reply:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read().decode())


def healthy_body(**overrides: object) -> dict[str, object]:
    """What GET /healthz answers when all is well on a web process (no scheduler of its own, none holds the
    lease), with `overrides` for what differs."""
    return {
        "status": "ok",
        "database": "ok",
        "migrations": "current",
        "work_queue": {"depth": 0, "oldest_seconds": None},
        "slack": "ok",
        "aws": "ok",
        "scheduler": "none",
    } | overrides
