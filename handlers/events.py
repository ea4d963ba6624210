"""Events API: every event gets its 200 at once, handled or not, so Slack never retries it or disables
the subscription. manifest.yaml subscribes only to the event types in HANDLED."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App

from bot.bootstrap import Services

log = logging.getLogger(__name__)

# Event types with a listener of their own; a test holds manifest.yaml's `bot_events` to exactly these.
HANDLED: frozenset[str] = frozenset()


def register(app: App, services: Services) -> None:
    """Event listeners; none yet (the App Home comes later)."""


def register_fallback(app: App) -> None:
    """Acknowledge any event no other listener took. Bolt runs the first listener that matches, so this
    is registered after all the others; without it an unhandled event gets Bolt's 404 and Slack retries."""

    @app.event(re.compile(".*"))
    def acknowledge_unhandled(event: dict[str, Any]) -> None:
        log.debug("event %r acknowledged and ignored", event.get("type"))
