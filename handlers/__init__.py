"""Slack glue: each module registers one kind of listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext

from bot.bootstrap import Services
from bot.slack.client import RetryingRespond
from bot.slack.messages.common import plain
from handlers import actions, commands, errors, events, views
from handlers.lanes import Lanes


def register_listeners(app: App, services: Services, lanes: Lanes) -> None:
    @app.middleware
    def retrying_respond(context: BoltContext, body: dict[str, Any], next: Callable[[], None]) -> None:
        if context.response_url:
            context["respond"] = RetryingRespond(context.response_url, sleep=services.sleep)
        elif isinstance(body, dict) and (body.get("container") or {}).get("type") == "view" and context.user_id:
            # A click in the App Home has no response_url: the reply goes to the user's DM instead.
            context["respond"] = DirectReply(services, context.user_id)
        next()

    errors.register(app, services)
    commands.register(app, services, lanes)
    actions.register(app, services, lanes)
    views.register(app, services)
    events.register(app, services)
    events.register_fallback(app)  # last: it matches every event


class DirectReply:
    """`respond()` for a click without a response_url (the App Home): the text goes to the user's DM."""

    def __init__(self, services: Services, user_id: str) -> None:
        self._services = services
        self._user_id = user_id

    def __deepcopy__(self, memo: dict) -> DirectReply:  # Bolt copies the context for lazy listeners
        return self

    def __call__(self, text: str = "", blocks: list | None = None, **_: Any) -> None:
        if text or blocks:
            self._services.notifier.dm(self._user_id, (text, blocks) if blocks else plain(text))
