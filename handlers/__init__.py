"""Slack glue: each module registers one kind of listener."""

from collections.abc import Callable

from slack_bolt import App, BoltContext

from bot.bootstrap import Services
from bot.slack import RetryingRespond
from handlers import actions, commands, errors, events, views
from handlers.lanes import Lanes


def register_listeners(app: App, services: Services, lanes: Lanes) -> None:
    @app.middleware
    def retrying_respond(context: BoltContext, next: Callable[[], None]) -> None:
        if context.response_url:
            context["respond"] = RetryingRespond(context.response_url, sleep=services.sleep)
        next()

    errors.register(app, services)
    commands.register(app, services, lanes)
    actions.register(app, services, lanes)
    views.register(app, services)
    events.register(app, services)
    events.register_fallback(app)  # last: it matches every event
