"""Slack glue: a middleware gives every listener the app's dependencies; each module registers one kind of listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext

from bot.bootstrap import Services
from bot.slack.client import RetryingRespond
from bot.slack.messages.common import plain
from bot.slack.notifier import Notifier
from handlers import actions, commands, errors, events, home, views
from handlers.guests import help_only_for_guests
from handlers.lanes import Lanes
from handlers.wiring import ProvideWiring, Wiring, wiring


def register_listeners(app: App, services: Services, lanes: Lanes) -> None:
    app.middleware(ProvideWiring(Wiring(services, lanes)))
    app.middleware(retrying_respond)
    app.middleware(help_only_for_guests)  # after `respond` is in place: it answers guests with it
    errors.register(app)
    commands.register(app, services.settings.slash_command)
    actions.register(app)
    home.register(app)
    views.register(app)
    events.register(app)
    events.register_fallback(app)  # last: it matches every event


def retrying_respond(context: BoltContext, body: dict[str, Any], next: Callable[[], None]) -> None:
    """Global middleware: `respond` retries Slack's failures, and reaches the DM where there is no response_url."""
    services = wiring(context).services
    if context.response_url:
        context["respond"] = RetryingRespond(context.response_url, sleep=services.sleep)
    elif isinstance(body, dict) and (body.get("container") or {}).get("type") == "view" and context.user_id:
        # A click in the App Home has no response_url: the reply goes to the user's DM instead.
        context["respond"] = DirectReply(services.notifier, context.user_id)
    next()


class DirectReply:
    """`respond()` for a click without a response_url (the App Home): the text goes to the user's DM."""

    def __init__(self, notifier: Notifier, user_id: str) -> None:
        self._notifier = notifier
        self._user_id = user_id

    def __deepcopy__(self, memo: dict) -> DirectReply:  # Bolt copies the context for lazy listeners
        return self

    def __call__(self, text: str = "", blocks: list | None = None, **_: Any) -> None:
        if text or blocks:
            self._notifier.dm(self._user_id, (text, blocks) if blocks else plain(text))
