"""The yardstick for ack latency: a Bolt app that only acks, served like Keywarden's web process.

    waitress-serve --listen=127.0.0.1:3001 --threads=4 --ident=keywarden --call bench.bare_app:create

It verifies signatures with SLACK_SIGNING_SECRET exactly as Keywarden does and answers the slash
command and button clicks with a bare ack(). Its only Web API call is the one Bolt's authorization
middleware makes on the first request (`auth.test`, then cached), as Keywarden's does; the client
points at SLACK_API_URL, so that call stays on the machine too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

COMMAND = os.environ.get("SLASH_COMMAND", "/awskeys")
ACTION = "request_approve"


def create() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    client = WebClient(
        token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-bench"),
        base_url=os.environ.get("SLACK_API_URL", "http://127.0.0.1:9/api/"),
    )
    app = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=False,
    )

    @app.command(COMMAND)
    def command(ack: Ack) -> None:
        ack()

    @app.action(ACTION)
    def action(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app, path="/slack/events")
