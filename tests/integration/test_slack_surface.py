"""What Slack sees of Keywarden at its edge: events answered, text escaped, modals opened in time."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.harness import BotServer


def event_callback(event: dict, event_id: str = "Ev01") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "home", "event_ts": "1.2"},
        {"type": "reaction_added", "user": "UALICE", "reaction": "eyes", "item": {}, "event_ts": "1.3"},
    ],
    ids=["app_home_opened", "an event type nobody subscribed to"],
)
def test_every_event_gets_200(bot: BotServer, event: dict) -> None:
    body = event_callback(event)
    reply = bot.post(body, bot.signed_headers(body, content_type="application/json"))
    assert reply.status == 200
    retry = bot.signed_headers(body, content_type="application/json") | {
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_error",
    }
    assert bot.post(body, retry).status == 200
    bot.work.idle()
    assert [c.method for c in bot.slack.calls] in ([], ["auth.test"])  # Bolt learns its own bot id once
