"""The Bolt app factory: no module-level App, no client created at import."""

from __future__ import annotations

from slack_bolt import App

from bot.bootstrap import Services
from handlers import register_listeners


def create_app(services: Services) -> App:
    settings = services.settings
    app = App(
        client=services.slack,
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,  # no auth.test at boot; each web worker starts without Slack
        process_before_response=False,
    )
    register_listeners(app, services)
    return app
