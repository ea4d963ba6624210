"""The Bolt app factory: no module-level App, no client created at import."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import timedelta

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.bootstrap import Services
from bot.entrypoints.work import DurableLane, DurableWork
from bot.slack.observe import ObservedApp, WorkExecutor
from handlers import register_listeners
from handlers.lanes import Lanes

# Threads that open modals: each waits on one views.open round trip, at human click rates.
VIEW_WORKERS = 4


def views_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=VIEW_WORKERS, thread_name_prefix="keywarden-views")


def create_app(services: Services, executor: Executor, views: Executor | None = None) -> App:
    """The App; work after the ack runs on `executor`, opening modals on `views` (a pool of its own)."""
    return create_durable_app(services, executor, views)[0]


def create_durable_app(
    services: Services, executor: Executor, views: Executor | None = None, *, capacity: int | None = None
) -> tuple[App, DurableWork]:
    """The App and what keeps its work after the ack (bot/entrypoints/work.py): recorded before each ack, done
    on `executor` here (or by workers, with WORK_IN=worker), taken over from dead processes by `sweep`."""
    settings = services.settings
    _quiet_token_notice()
    work = WorkExecutor(executor)  # Bolt's lazy listeners and the work lane: one pool, observed alike
    here = settings.work_in == "web"
    durable = DurableWork(
        services,
        work,
        run_here=here,
        capacity=(2 * getattr(executor, "_max_workers", 3) if here else 0) if capacity is None else capacity,
        lease=timedelta(seconds=settings.work_lease_seconds),
    )
    app = ObservedApp(  # Bolt's App, each request timed, counted and named in the log
        name="keywarden",  # without a name Bolt reads the whole call stack's source for one (~80 ms per app)
        listener_executor=work,
        client=services.slack,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,  # no auth.test at boot; each web worker starts without Slack
        # Ack listeners run in the request thread (they only parse and ack); the work after the ack
        # runs on the executor, so a busy executor never delays an ack.
        process_before_response=True,
    )
    # Bolt starts lazy listeners through its runner: ours records each before the ack goes back.
    app.listener_runner.lazy_listener_runner = durable
    durable.app = app
    lanes = Lanes(work=work, views=DurableLane(durable, WorkExecutor(views or views_executor())))
    register_listeners(app, services, lanes)
    _withhold_request_bodies()
    return app, durable


def _withhold_request_bodies() -> None:
    """Bolt logs the whole body of a request whose signature fails, at INFO. A message event's body holds the
    message's text, and so a pasted secret, JSON-escaped (`\\/`) where no redaction pattern would see it."""
    verification = logging.getLogger("slack_bolt.RequestVerification")
    if not any(isinstance(f, _NoBodies) for f in verification.filters):
        verification.addFilter(_NoBodies())


class _NoBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "body:" in message:
            record.msg, record.args = message.split("body:", 1)[0] + "body withheld)", None
        return True


def _quiet_token_notice() -> None:
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and, given our client (which holds that token,
    and retries), warns at every start that the token "will be unused": true, and nothing to act on."""
    bolt = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _NoTokenNotice) for f in bolt.filters):
        bolt.addFilter(_NoTokenNotice())


class _NoTokenNotice(logging.Filter):
    NOTICE = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.NOTICE
