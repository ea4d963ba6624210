"""The WSGI application: Slack at POST /slack/events, health at GET /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import create_app, views_executor
from bot.bootstrap import Services

log = logging.getLogger(__name__)

# Work after the ack (AWS calls, database writes) shares the interpreter with the acks. Few workers keep
# that work from crowding out acks under load; a burst waits in the queue instead (response_url lasts 30 min).
WORKERS = 3
# Request threads only verify, parse and ack: no I/O, about a millisecond of CPU each. A few are enough to
# keep both cores busy; more only add threads queueing for the GIL, which shows as ack latency under load
# (p99 at 32 concurrent clients: about 3x lower with 4 threads than with 16, see docs/benchmarks.md).
# The Procfile's `web` line passes the same number to waitress-serve.
SERVER_THREADS = 4

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class KeywardenWSGI:
    """The WSGI callable, plus `drain()` to let work after the ack finish at shutdown."""

    def __init__(
        self, services: Services, executor: ThreadPoolExecutor | None = None, views: ThreadPoolExecutor | None = None
    ) -> None:
        self.services = services
        self.executor = executor or ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="keywarden-work")
        # Modals open on a pool of their own, so a busy `executor` never makes a trigger_id expire.
        self.views = views or views_executor()
        self._slack = SlackRequestHandler(create_app(services, self.executor, self.views), path="/slack/events")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            status, body = _health(self.services)
            payload = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        try:
            return self._slack(environ, start_response)
        except Exception as e:  # a body Slack never sends (bad JSON, wrong shapes) must not become a 500
            log.warning("malformed request to %s refused: %s", environ.get("PATH_INFO"), type(e).__name__)
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "11")])
            return [b"Bad Request"]

    def drain(self) -> None:
        self.views.shutdown(wait=True)  # first: an opened Reveal window hands its work to the executor
        self.executor.shutdown(wait=True)


def build_wsgi(
    services: Services, executor: ThreadPoolExecutor | None = None, views: ThreadPoolExecutor | None = None
) -> KeywardenWSGI:
    return KeywardenWSGI(services, executor, views)


def _health(services: Services) -> tuple[str, dict[str, Any]]:
    try:
        services.db.ping()
    except Exception as e:  # a health check reports, it does not raise
        log.warning("health check: database unreachable: %s", type(e).__name__)
        return "503 Service Unavailable", {"status": "error", "database": "unreachable"}
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    if services.audit_stream is not None:
        try:
            body["audit_backlog"] = services.audit_stream.backlog().as_health()
        except Exception as e:  # a health check reports, it does not raise
            log.warning("health check: audit backlog unreadable: %s", type(e).__name__)
            body["audit_backlog"] = "unknown"
    return "200 OK", body


def create_wsgi_app() -> WSGIApp:
    """Factory for production WSGI servers (`waitress-serve --call bot.web:create_wsgi_app`)."""
    from bot.bootstrap import bootstrap
    from bot.logs import setup_logging
    from bot.main import load_settings_or_exit

    settings = load_settings_or_exit()
    setup_logging(settings.log_level)
    services = bootstrap(settings)
    services.settle()
    return build_wsgi(services)
