"""Slack guests (single- and multi-channel) get `help` and nothing else: a global middleware answers every other
command, click, form and App Home of theirs with one short message, before any listener runs. Message events
pass: a key a guest pastes is still an exposure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse

from bot.slack.messages.common import plain
from bot.slack.messages.guests import guest_home, refusal
from handlers.wiring import wiring


def _what(body: dict[str, Any]) -> str | None:
    """What a request asks for, when it is something guests may not do: None for `help` and message events."""
    if "command" in body:
        words = str(body.get("text") or "").split()
        return None if words[:1] and words[0].lower() == "help" else "command"
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        return "app home" if isinstance(event, dict) and event.get("type") == "app_home_opened" else None
    return {"block_actions": "button", "view_submission": "form", "block_suggestion": "menu"}.get(str(kind))


def help_only_for_guests(context: BoltContext, body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
    """Global middleware, after the wiring and `respond`: a guest's request is answered here and goes no further."""
    what = _what(body) if isinstance(body, dict) else None
    user_id = context.user_id
    if what is None or not user_id:
        next()
        return None
    wired = wiring(context)
    guest = wired.services.access_rules.is_guest(user_id)
    if guest is False:
        next()
        return None
    text = refusal(guest, wired.services.settings.slash_command)
    if guest and what != "app home":  # opening the Home is no attempt at anything
        wired.lanes.work.submit(wired.services.audit.refused, user_id, what, "a Slack guest")
    if what == "command":
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
    if what == "menu":  # the request form's menu of users and keys: empty (the form itself is refused)
        return BoltResponse(status=200, body={"options": []})
    if what == "button" and context.get("respond") is not None:
        wired.lanes.work.submit(context["respond"], text=text, response_type="ephemeral", replace_original=False)
    elif what == "app home":
        wired.lanes.work.submit(wired.services.notifier.publish_home, user_id, guest_home(text))
    elif what == "form":
        blocks = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        if blocks:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": dict.fromkeys(blocks, text)})
        wired.lanes.work.submit(wired.services.notifier.dm, user_id, plain(text))
    return BoltResponse(status=200, body="")
