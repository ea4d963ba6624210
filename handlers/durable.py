"""What of a Slack request is kept for the work after its ack (bot/entrypoints/work.py records it before the
ack), and what a person is told when the process that acknowledged a window's click died before opening it.

Never a secret: a message holding a key id and a secret is kept as its place (channel, ts, user) and the key
ids the detector found, without its text; a command or form with a typed secret is kept with that text
withheld. Nothing else is redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.request import payload_utils as payload

from bot.bootstrap import Services
from bot.domain.exposure import detect, detect_typed
from bot.slack import ids
from bot.slack.client import RetryingRespond
from bot.slack.messages.common import plain

# On a resumed request's Bolt context: the key ids found in a text that was not kept (handlers read it).
FOUND = "keywarden_found"
# The function name of an item that opens a window (views lane): never resumed, only reported lost.
WINDOW = "window"
WITHHELD = "(withheld)"

_MESSAGE_FIELDS = ("type", "subtype", "channel", "user", "ts", "thread_ts", "bot_id")


@dataclass(frozen=True)
class Kept:
    body: dict[str, Any]
    found: tuple[str, ...] | None = None  # set when a text was withheld: what the detector found in it


def kept(body: dict[str, Any]) -> Kept | None:
    """What to record of `body` for the work after its ack; None when that work has nothing to do."""
    if payload.is_event(body):
        event = body.get("event")
        if isinstance(event, dict) and event.get("type") == "message":
            return _message(body, event)
        return Kept(body)
    if payload.is_slash_command(body):
        text = str(body.get("text") or "")
        if text.split()[:1] in ([], ["help"]):
            return None  # answered in the ack (help), or a window (recorded by the views lane)
        found = detect_typed(text)
        return Kept(body | {"text": WITHHELD}, found.key_ids) if found.secret else Kept(body)
    if payload.is_view_submission(body):
        return _form(body)
    return Kept(body)


def _message(body: dict[str, Any], event: dict[str, Any]) -> Kept | None:
    """A message: only when it is an exposure, and then without its text (nor its blocks, nor an earlier text)."""
    inner = event.get("message") if event.get("subtype") == "message_changed" else event
    text = inner.get("text") if isinstance(inner, dict) else None
    detection = detect(text) if isinstance(text, str) else None
    if detection is None or not detection.exposure:
        return None  # the listener looks, finds nothing, and does nothing: not worth a row
    place = {k: event[k] for k in _MESSAGE_FIELDS if k in event}
    if inner is not event and isinstance(inner, dict):
        place["message"] = {k: inner[k] for k in _MESSAGE_FIELDS if k in inner} | {"text": WITHHELD}
    else:
        place["text"] = WITHHELD
    outer = {k: body[k] for k in ("type", "team_id", "api_app_id", "event_id", "event_time") if k in body}
    return Kept(outer | {"event": place}, detection.key_ids)


def _form(body: dict[str, Any]) -> Kept:
    given = body.get("view")
    view: dict[str, Any] = given if isinstance(given, dict) else {}
    values = (view.get("state") or {}).get("values") or {}
    texts = [
        str(field.get("value") or "")
        for block in values.values()
        if isinstance(block, dict)
        for field in block.values()
        if isinstance(field, dict)
    ]
    found = detect_typed(" ".join(texts))
    if not found.secret:
        return Kept(body)
    withheld = {
        name: {
            action: (field | {"value": WITHHELD}) if isinstance(field, dict) and "value" in field else field
            for action, field in block.items()
        }
        for name, block in values.items()
        if isinstance(block, dict)
    }
    state = (view.get("state") or {}) | {"values": withheld}
    return Kept(body | {"view": view | {"state": state}}, found.key_ids)


LOST = {
    ids.REVEAL: "Keywarden restarted before it could open the window, so no key was created. Click Reveal again.",
    ids.DENY: "Keywarden restarted before it could open the form for the reason. Click Deny again.",
    ids.HOME_REQUEST: "Keywarden restarted before it could open the request form. Click Request again.",
}
LOST_FORM = "Keywarden restarted before it could open the request form. Run the command again, or type the request."


def tell_window_lost(services: Services, body: dict[str, Any]) -> None:
    """A window's click was acknowledged, and its process died before opening it: say so, never open it late."""
    actions = body.get("actions")
    action_id = actions[0].get("action_id") if isinstance(actions, list) and actions else None
    text = LOST.get(action_id or "", LOST_FORM)
    url = body.get("response_url")
    if isinstance(url, str) and url:
        RetryingRespond(url, sleep=services.sleep)(text=text, response_type="ephemeral", replace_original=False)
        return
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    if isinstance(user, str) and user:
        services.notifier.dm(user, plain(text))
