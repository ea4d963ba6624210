"""The Bolt app factory: no module-level App, no client created at import."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App

from bot.bootstrap import Services
from bot.observe import ObservedApp, WorkExecutor
from handlers import register_listeners


def create_app(services: Services, executor: Executor) -> App:
    """The App; work after the ack runs on `executor`."""
    settings = services.settings
    app = ObservedApp(  # Bolt's App, each request timed, counted and named in the log
        listener_executor=WorkExecutor(executor),
        client=services.slack,
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,  # no auth.test at boot; each web worker starts without Slack
        # Ack listeners run in the request thread (they only parse and ack); the work after the ack
        # runs on the executor, so a busy executor never delays an ack.
        process_before_response=True,
    )
    register_listeners(app, services)
    return app
