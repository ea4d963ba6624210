"""The WSGI application: Slack at POST /slack/events, readiness at GET /healthz, liveness at GET /livez, metrics
at GET /metrics."""

from __future__ import annotations

import _thread
import io
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.bootstrap import Services
from bot.entrypoints.app import create_durable_app, views_executor
from bot.entrypoints.health import health
from bot.entrypoints.probes import Dependencies
from bot.entrypoints.work import DRAIN_SECONDS
from bot.metrics import CONTENT_TYPE
from bot.slack.payloads import Edge
from bot.store.gauges import Exporter

log = logging.getLogger(__name__)

# Work after the ack (AWS calls, database writes) shares the interpreter with the acks. Few workers keep
# that work from crowding out acks under load; a burst waits in the queue instead (response_url lasts 30 min).
WORKERS = 3
# Request threads only verify, parse and ack: no I/O, about a millisecond of CPU each. A few are enough to
# keep both cores busy; more only add threads queueing for the GIL, which shows as ack latency under load
# (p99 at 32 concurrent clients: about 3x lower with 4 threads than with 16, see docs/benchmarks.md).
# The Procfile's `web` line passes the same number to waitress-serve.
SERVER_THREADS = 4

STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class KeywardenWSGI:
    """The WSGI callable, plus `drain()` to let work after the ack finish at shutdown."""

    def __init__(
        self,
        services: Services,
        executor: ThreadPoolExecutor | None = None,
        views: ThreadPoolExecutor | None = None,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self.services = services
        self.executor = executor or ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="keywarden-work")
        # Modals open on a pool of their own, so a busy `executor` never makes a trigger_id expire.
        self.views = views or views_executor()
        app, self.durable = create_durable_app(services, self.executor, self.views)
        self._slack = SlackRequestHandler(app, path="/slack/events")
        self._edge = Edge(services.settings.slack_signing_secret.get_secret_value())
        self.ops = OpsApp(services, is_leader, draining=self.durable.draining.is_set)
        self.signatures = SignatureWarning()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in OpsApp.PATHS:
            return self.ops(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) if "wsgi.input" in environ else b""
        environ["wsgi.input"] = io.BytesIO(body)

        def respond(status: str, *args: Any) -> Any:
            if status.startswith("401"):  # Bolt refused the signature
                self.signatures.refused()
            return start_response(status, *args)

        try:
            return self._slack(environ, respond)
        except Exception:  # Bolt could not parse the body (not JSON, nested too deep): never a 500
            status = self._edge.unparsable(
                body.decode(errors="replace"),
                environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                environ.get("HTTP_X_SLACK_SIGNATURE"),
                "json" in (environ.get("CONTENT_TYPE") or ""),
            )
            start_response(STATUS_LINES[status], [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]

    def drain(self, timeout: float | None = None) -> int:
        """Let the work acknowledged here finish: all of it, or for at most `timeout` seconds, the rest left to
        the other processes (recorded, bot/entrypoints/work.py). How many items were left."""
        if timeout is None:
            self.views.shutdown(wait=True)  # first: an opened Reveal window hands its work to the executor
            self.executor.shutdown(wait=True)
        left = self.durable.drain(timeout or 0.0)
        self.views.shutdown(wait=False)
        self.executor.shutdown(wait=False)
        return left


def build_wsgi(
    services: Services,
    executor: ThreadPoolExecutor | None = None,
    views: ThreadPoolExecutor | None = None,
    is_leader: Callable[[], bool] | None = None,
) -> KeywardenWSGI:
    return KeywardenWSGI(services, executor, views, is_leader)


class SignatureWarning:
    """Requests refused for their signature (Bolt logs each at INFO, without a hint): one WARNING a minute that
    names SLACK_SIGNING_SECRET, with how many were refused since the last one."""

    def __init__(self, every_seconds: float = 60, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._every = every_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._warned_at: float | None = None
        self._refused = 0

    def refused(self) -> None:
        with self._lock:
            self._refused += 1
            now = self._monotonic()
            if self._warned_at is not None and now - self._warned_at < self._every:
                return
            count, self._refused, self._warned_at = self._refused, 0, now
        log.warning(
            "%d request(s) to /slack/events refused: their signature does not match SLACK_SIGNING_SECRET. If Slack "
            "sent them, SLACK_SIGNING_SECRET is not this app's Signing Secret (Basic Information, App Credentials)",
            count,
        )


class OpsApp:
    """GET /healthz, GET /livez and GET /metrics: part of the web app, and served alone on METRICS_PORT by the
    clock."""

    PATHS = ("/healthz", "/livez", "/metrics")

    def __init__(
        self,
        services: Services,
        is_leader: Callable[[], bool] | None = None,
        draining: Callable[[], bool] | None = None,
    ) -> None:
        self.services = services
        self.is_leader = is_leader
        self.draining = draining  # shutting down: readiness fails, so no new requests are routed here
        self.exporter = Exporter(services.db, is_leader=is_leader, dlq_depth=services.events_dlq_depth)
        self.dependencies = Dependencies.of(services.settings, services.aws)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path not in self.PATHS or method not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"Not Found"]
        if path == "/metrics":
            status, content_type, payload = "200 OK", CONTENT_TYPE, self.exporter.exposition()
        elif path == "/livez":  # the process answers: no dependency is asked, so a blip restarts nothing
            status, content_type, payload = "200 OK", "application/json", b'{"status": "ok"}'
        else:
            status, body = health(self.services, self.is_leader, self.dependencies)
            if self.draining is not None and self.draining():
                status, body["status"] = "503 Service Unavailable", "draining"
            content_type, payload = "application/json", json.dumps(body).encode()
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
        return [payload]


def serve_ops(
    services: Services,
    port: int,
    is_leader: Callable[[], bool] | None = None,
    *,
    host: str = "0.0.0.0",
    draining: Callable[[], bool] | None = None,
) -> Any:
    """Serve OpsApp on `port` in a background thread (METRICS_PORT); returns the server (`.close()` stops it)."""
    from waitress.server import create_server

    ops = OpsApp(services, is_leader, draining)
    server = create_server(ops, host=host, port=port, threads=2, ident="keywarden")
    threading.Thread(target=server.run, daemon=True).start()
    return server


def create_wsgi_app() -> WSGIApp:
    """Factory for production WSGI servers (`waitress-serve --call bot.entrypoints.web:create_wsgi_app`)."""
    from bot.bootstrap import bootstrap
    from bot.entrypoints.startup import check_dependencies_or_exit, load_settings_or_exit, reach_database_or_exit
    from bot.logs import setup_logging

    settings = load_settings_or_exit()
    setup_logging(settings.log_level, settings.log_format)
    reach_database_or_exit(settings)
    services = bootstrap(settings)
    check_dependencies_or_exit(settings, services.aws)
    services.warm_up()
    wsgi = build_wsgi(services)
    wsgi.durable.start_sweeping()
    drain_on_sigterm(wsgi)
    return wsgi


def drain_on_sigterm(wsgi: KeywardenWSGI) -> None:
    """SIGTERM: GET /healthz answers 503 at once (no new requests routed here; any that come are acked and left
    to the other processes), the work acknowledged here finishes (at most DRAIN_SECONDS, the rest handed over),
    then the server stops (waitress's loop ends on KeyboardInterrupt and closes its socket)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def drain_then_stop() -> None:
        log.info("SIGTERM: finishing the work acknowledged here (at most %d s), then stopping", DRAIN_SECONDS)
        left = wsgi.drain(DRAIN_SECONDS)
        log.info("work after the ack drained (%d item(s) left to the other processes); stopping", left)
        backstop = threading.Timer(10, os._exit, args=(0,))  # a listener stuck past the drain does not hold the exit
        backstop.daemon = True
        backstop.start()
        _thread.interrupt_main()

    def on_sigterm(signum: int, frame: Any) -> None:
        if not wsgi.durable.draining.is_set():
            wsgi.durable.draining.set()
            threading.Thread(target=drain_then_stop, name="keywarden-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
