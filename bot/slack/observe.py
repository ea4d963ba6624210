"""Each Slack request, seen once: a request id, a log line at the ack and after the work, and its metrics.

`ObservedApp` dispatches every request (HTTP and Socket Mode alike) inside its log context; `WorkExecutor`
wraps the executor that runs the work after the ack, so that work keeps the request's log context and
reports how long it took after the ack and how it ended.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request import payload_utils as payload

from bot import metrics
from bot.logs import current_log_context, log_context
from bot.slack.payloads import Edge

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"\bR-[A-Z0-9]{6}\b")

# How the work after an ack ended; set by handlers.errors when it turns an exception into a reply.
_work_outcome: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("keywarden_work_outcome", default=None)
# When the request in hand reached the app (time.perf_counter()).
_request_started: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "keywarden_request_started", default=None
)


# The body of the request in hand (recorded by a lane that keeps its work: bot/entrypoints/work.py).
_request_body: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "keywarden_request_body", default=None
)


def request_body() -> dict[str, Any] | None:
    return _request_body.get()


@contextlib.contextmanager
def resumed(request_id: str, kind: str, age_seconds: float) -> Iterator[None]:
    """Work taken over from another process: it logs and counts as the request acknowledged `age_seconds` ago."""
    token = _request_started.set(time.perf_counter() - age_seconds)
    try:
        with log_context(request_id=request_id, kind=kind):
            yield
    finally:
        _request_started.reset(token)


def kind_of(body: dict[str, Any]) -> str:
    """The kind of a Slack request, from a small fixed set; `other` for anything else, however malformed."""
    try:
        return _kind_of(body)
    except (TypeError, AttributeError, KeyError, IndexError):  # a body Slack never sends (checked later)
        return "other"


def _kind_of(body: dict[str, Any]) -> str:
    if payload.is_slash_command(body):
        return "command"
    if payload.is_block_actions(body) or payload.is_action(body):
        return "action"
    if payload.is_view_submission(body):
        return "view_submission"
    if payload.is_view_closed(body):
        return "view_closed"
    if payload.is_event(body):
        return "event"
    if payload.is_shortcut(body):
        return "shortcut"
    if payload.is_options(body):
        return "options"
    return "other"


def _keywarden_request(body: dict[str, Any]) -> str | None:
    """The Keywarden request a button or command names, when it names one (R-XXXXXX)."""
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    for text in (first.get("value"), body.get("text")):
        if isinstance(text, str):
            match = _REQUEST_ID.search(text)
            if match:
                return match.group(0)
    return None


class ObservedApp(App):
    """Bolt's App, each request dispatched inside its log context, its ack timed and counted.

    Bolt's middleware runs before the listeners and cannot wrap them, so this wraps `dispatch`, which
    HTTP and Socket Mode adapters both call; refused signatures (401) are counted too. The edge's checks
    (bot/slack/payloads.py) come first: Bolt's own middleware and matchers assume Slack's shapes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._edge = Edge(kwargs.get("signing_secret"))

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        if req.lazy_only:
            return super().dispatch(req)
        started = time.perf_counter()
        body = req.body if isinstance(req.body, dict) else {}
        kind = kind_of(body)
        request_id = uuid.uuid4().hex[:12]
        started_token, body_token = _request_started.set(started), _request_body.set(body)
        try:
            with log_context(
                request_id=request_id,
                slack_user_id=req.context.user_id,
                keywarden_request_id=_keywarden_request(body),
                kind=kind,
            ):
                response = self._edge.refuse(req) or super().dispatch(req)
                seconds = time.perf_counter() - started
                status = response.status
                outcome = "ok" if status < 400 else "error" if status >= 500 else "refused"
                metrics.slack_request(kind, outcome, seconds)
                log.info("request %s: ack %s (%s, %d) in %.1f ms", request_id, kind, outcome, status, seconds * 1000)
        finally:
            _request_started.reset(started_token)
            _request_body.reset(body_token)
        return response


def work_failed(kind: str) -> None:
    """Called where the work after an ack turns an exception into a reply: `input`, `aws` or `error`."""
    outcome = _work_outcome.get()
    if outcome is not None:
        outcome[0] = kind


class WorkExecutor(Executor):
    """Runs work after an ack (Bolt's lazy listeners and the handlers' lanes) on `inner`.

    Each task keeps the log context it was submitted in (request id, Slack user), and reports how long
    after the request came in it finished and how it ended: a metric and a log line per task, so a click
    whose work runs in two steps (Reveal: the window, then the key) logs both.
    """

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        context = contextvars.copy_context()
        started = _request_started.get() or time.perf_counter()
        context_fields = current_log_context()
        kind, request_id = context_fields.get("kind", "other"), context_fields.get("request_id", "-")
        name = getattr(fn, "__name__", "work")

        def run() -> Any:
            outcome = ["ok"]
            _work_outcome.set(outcome)
            try:
                return fn(*args, **kwargs)
            except BaseException:
                outcome[0] = "error"
                raise
            finally:
                seconds = time.perf_counter() - started
                metrics.work_done(kind, outcome[0], seconds)
                log.info(
                    "request %s: work after the ack done (%s, %s) in %.1f ms",
                    request_id,
                    name,
                    outcome[0],
                    seconds * 1000,
                )

        return self.inner.submit(context.run, run)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)
