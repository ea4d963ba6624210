"""Message events (channels, private channels, DMs to the bot): ack at once, look for pasted keys after the ack.

The text of a message may hold a secret: it goes to the detector and nowhere else (no log line, no error
message, no database row). Failures are logged by type only.

Every other event gets its 200 at once too (`register_fallback`), so Slack never retries one or disables
the subscription; manifest.yaml subscribes only to the events in HANDLED.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.exposure import MAX_TEXT, PastedMessage
from handlers.durable import FOUND
from handlers.wiring import wiring

log = logging.getLogger(__name__)

# The manifest's `bot_events` that a listener here handles (each `message.*` arrives as a `message` event);
# a test holds manifest.yaml to exactly these.
HANDLED: frozenset[str] = frozenset(
    {"message.channels", "message.groups", "message.im", "message.mpim", "app_home_opened"}
)

# Subtypes whose text is something a person wrote; the rest (joins, topics, deletions, bots) are not looked at.
_PEOPLE = {None, "message_changed", "thread_broadcast", "file_share", "me_message"}


def pasted_message(body: dict[str, Any], team_id: str | None) -> PastedMessage | None:
    """The message a person posted or edited, as plain values; None for anything else."""
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    if team_id and body.get("team_id") not in (None, team_id):
        return None  # an event of another workspace: not ours to answer
    subtype = event.get("subtype")
    if subtype not in _PEOPLE or event.get("bot_id"):
        return None
    message = event.get("message") if subtype == "message_changed" else event
    if not isinstance(message, dict) or message.get("bot_id") or message.get("subtype") == "bot_message":
        return None
    channel = _text(event.get("channel"))
    ts, user, text = (_text(message.get(name)) for name in ("ts", "user", "text"))
    if not (channel and ts and user and text):
        return None  # attachments without text, tombstones, malformed shapes
    thread_ts = message.get("thread_ts")
    return PastedMessage(
        channel=channel[:32],
        ts=ts[:32],
        user=user[:32],
        text=text[:MAX_TEXT],
        thread_ts=thread_ts[:32] if isinstance(thread_ts, str) and thread_ts != ts else None,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def ack_message(ack: Ack) -> None:
    ack()  # Slack retries (X-Slack-Retry-Num) get the same 200; the database keeps each step to once


def look_for_keys(body: dict[str, Any], context: BoltContext) -> None:
    authorized = context.authorize_result
    team_id = authorized.team_id if authorized is not None else None
    try:
        message = pasted_message(body, team_id)
        found = context.get(FOUND)  # resumed: what the detector found in the ack (the text was not kept)
        if message is not None and found is not None:
            wiring(context).services.exposures.handle_found(message, found)
        elif message is not None:
            wiring(context).services.exposures.handle_message(message)
    except Exception as e:  # logged without the exception's text: it may quote the message, and so the secret
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" at {where.filename}:{where.lineno}" if where else ""
        log.error("looking at a message failed: %s%s", type(e).__name__, at)


def publish_home(body: dict[str, Any], context: BoltContext) -> None:
    home = wiring(context).services.home
    event = body.get("event") or {}
    user = event.get("user")
    if event.get("tab", "home") != "home" or not isinstance(user, str) or home is None:
        return
    try:
        home.publish(user[:32])
    except Exception as e:
        log.error("publishing the App Home failed: %s", type(e).__name__)


def acknowledge_unhandled(event: dict[str, Any]) -> None:
    log.debug("event %r acknowledged and ignored", event.get("type"))


def register(app: App) -> None:
    app.event("message")(ack=ack_message, lazy=[look_for_keys])
    app.event("app_home_opened")(ack=ack_message, lazy=[publish_home])


def register_fallback(app: App) -> None:
    """Acknowledge any event no other listener took. Bolt runs the first listener that matches, so this
    is registered after all the others; without it an unhandled event gets Bolt's 404 and Slack retries."""
    app.event(re.compile(".*"))(acknowledge_unhandled)
