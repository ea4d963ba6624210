"""The edge: each payload's shape is checked once, before Bolt's matchers and any listener read it.

Slack sends a handful of well-known shapes. A request that passed the signature check but is none of them (a
forged body, a broken client) gets a deliberate answer instead of a traceback somewhere inside: 400 for a
command or an interaction, 200 for an event (Slack retries a failed event, and would disable a subscription
that keeps failing), and one WARNING line naming the field. Ids are checked against Slack's id shapes here, so
no listener ever writes `<@{user}>` or `<#{channel}>` from a value an attacker chose.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.domain.slack_ids import USER_ID

log = logging.getLogger(__name__)

CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,20}$")
TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,20}$")
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
MAX_DEPTH = 24
# Payload types Slack sends that no listener here takes.
UNHANDLED = frozenset(
    {"app_rate_limited", "shortcut", "message_action", "interactive_message", "dialog_submission"}
)  # Slack's deepest payloads (a view's state) are about 8 levels


class Malformed(Exception):
    """A payload Slack would never send; `field` says where it goes wrong."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def problem(body: Any) -> str | None:
    """The first field of `body` that is not as Slack sends it, or None."""
    try:
        check(body)
    except Malformed as e:
        return e.field
    return None


def check(body: Any) -> None:
    if not isinstance(body, dict) or not body:
        raise Malformed("body")
    if _too_deep(body):
        raise Malformed("body (nested too deeply)")
    kind = body.get("type")
    if kind is None and "command" in body:
        _command(body)
    elif kind == "event_callback":
        _event(body)
    elif kind == "url_verification":
        _text(body, "challenge")
    elif kind == "block_actions":
        _block_actions(body)
    elif kind in ("view_submission", "view_closed"):
        _view_payload(body)
    elif kind == "block_suggestion":
        _block_suggestion(body)
    elif kind in UNHANDLED:  # no listener: Bolt answers them 404, as it should, once they look like Slack's
        _mapping(body, "event", optional=True)
        _mapping(body, "user", optional=True)
    else:
        raise Malformed("type")


def _command(body: dict) -> None:
    _text(body, "command")
    _text(body, "text", optional=True)
    _id(body, "user_id", USER_ID)
    _id(body, "channel_id", CHANNEL_ID, optional=True)
    _url(body, "response_url")
    _text(body, "trigger_id", optional=True)


def _block_actions(body: dict) -> None:
    _user(body)
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise Malformed("actions")
    for i, action in enumerate(actions):
        if not isinstance(action, dict):
            raise Malformed(f"actions[{i}]")
        _text(action, "action_id", where=f"actions[{i}].")
        _text(action, "value", where=f"actions[{i}].", optional=True)
    _text(body, "trigger_id", optional=True)
    for name in ("channel", "message"):
        _mapping(body, name, optional=True)
    from_view = _mapping(body, "container", optional=True).get("type") == "view"
    _url(body, "response_url", optional=from_view)  # a click in a message always has one; the App Home's never
    if from_view or "view" in body:
        _view(body)


def _block_suggestion(body: dict) -> None:
    """Slack asking for a menu's options as someone types (the request form's target)."""
    _user(body)
    _text(body, "action_id")
    _text(body, "block_id", optional=True)
    _text(body, "value", optional=True)
    if "view" in body:
        _view(body)


def _view_payload(body: dict) -> None:
    _user(body)
    _view(body)
    _text(body, "trigger_id", optional=True)


def _view(body: dict) -> None:
    view = _mapping(body, "view")
    _text(view, "callback_id", where="view.", optional=body.get("type") == "block_actions")
    _text(view, "private_metadata", where="view.", optional=True)
    state = _mapping(view, "state", where="view.", optional=True)
    values = _mapping(state, "values", where="view.state.", optional=True) if state else {}
    for block_id, block in values.items():
        if not isinstance(block, dict) or not all(isinstance(v, dict) for v in block.values()):
            raise Malformed(f"view.state.values.{str(block_id)[:40]}")


def _event(body: dict) -> None:
    event = _mapping(body, "event")
    _text(event, "type", where="event.")
    _text(body, "team_id", optional=True)
    for name in ("subtype", "text", "ts", "thread_ts", "tab", "bot_id", "channel_type"):
        _text(event, name, where="event.", optional=True)
    _id(event, "user", USER_ID, where="event.", optional=True)
    _id(event, "channel", CHANNEL_ID, where="event.", optional=True)
    message = _mapping(event, "message", where="event.", optional=True)
    if message:
        for name in ("text", "ts", "thread_ts", "subtype", "bot_id"):
            _text(message, name, where="event.message.", optional=True)
        _id(message, "user", USER_ID, where="event.message.", optional=True)


def _user(body: dict) -> None:
    user = _mapping(body, "user")
    _id(user, "id", USER_ID, where="user.")


# Field checks: each raises Malformed naming the field.
def _present(body: dict, name: str, where: str, optional: bool) -> bool:
    if name in body and body[name] is not None:
        return True
    if optional:
        return False
    raise Malformed(where + name)


def _text(body: dict, name: str, *, where: str = "", optional: bool = False) -> None:
    if _present(body, name, where, optional) and not isinstance(body[name], str):
        raise Malformed(where + name)


def _id(body: dict, name: str, shape: re.Pattern[str], *, where: str = "", optional: bool = False) -> None:
    if _present(body, name, where, optional) and not (isinstance(body[name], str) and shape.match(body[name])):
        raise Malformed(where + name)


def _url(body: dict, name: str, *, optional: bool = False) -> None:
    if not _present(body, name, "", optional):
        return
    value = body[name]
    if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http") or not urlsplit(value).netloc:
        raise Malformed(name)


def _mapping(body: dict, name: str, *, where: str = "", optional: bool = False) -> dict:
    if not _present(body, name, where, optional):
        return {}
    if not isinstance(body[name], dict):
        raise Malformed(where + name)
    return body[name]


def _too_deep(value: Any) -> bool:
    """Iteratively, so a payload nested a thousand deep cannot overflow the stack checking it."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in _children(item))
    return False


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


class OncePer:
    """Lets a log line through at most once per `seconds` for each key: a flood of bad requests is one line."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last: dict[str, float] = {}

    def __call__(self, key: str) -> bool:
        now = self._clock()
        if now - self._last.get(key, -self._seconds) < self._seconds:
            return False
        self._last[key] = now
        return True


_warn_once = OncePer(60)


class Edge:
    """What every request passes before Bolt's own middleware, matchers and listeners read it.

    Bolt's signature check parses the timestamp header as an integer and raises on anything else, which its
    error handler would answer 200 with an ERROR log: a malformed timestamp is an unsigned request (401). A
    payload Slack never sends is refused by its shape, once its signature holds (an unsigned one stays a 401).
    """

    def __init__(self, signing_secret: str | None) -> None:
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def refuse(self, req: BoltRequest) -> BoltResponse | None:
        signed_by_http = req.mode == "http" and self._verifier is not None
        timestamp = _header(req, "x-slack-request-timestamp")
        if signed_by_http and timestamp is not None and not TIMESTAMP.match(timestamp):
            return BoltResponse(status=401, body="")  # counted with every other refused signature (one line a minute)
        field = problem(req.body)
        if field is None:
            return None
        if signed_by_http and not self._signed(req, timestamp):
            return None  # Bolt's own check answers 401, as for any other unsigned request
        is_event = isinstance(req.body, dict) and req.body.get("type") == "event_callback"
        if _warn_once(field):
            log.warning("ignored a Slack %s with a malformed `%s`", "event" if is_event else "request", field)
        return BoltResponse(status=200, body="") if is_event else BoltResponse(status=400, body="Bad Request")

    def unparsable(self, body: str, timestamp: str | None, signature: str | None, is_json: bool) -> int:
        """The status for a body Bolt could not even parse (not JSON, or nested deeper than the parser goes).

        Unsigned: 401, like any unsigned request. Signed: 200 for JSON (only events come as JSON, and Slack
        retries a failed event), 400 for the rest.
        """
        if self._verifier is not None and not self._valid(body, timestamp, signature):
            return 401
        if _warn_once("body"):
            log.warning("ignored a Slack %s whose body cannot be parsed", "event" if is_json else "request")
        return 200 if is_json else 400

    def _signed(self, req: BoltRequest, timestamp: str | None) -> bool:
        return self._valid(req.raw_body, timestamp, _header(req, "x-slack-signature"))

    def _valid(self, body: str, timestamp: str | None, signature: str | None) -> bool:
        if not (timestamp and signature and TIMESTAMP.match(timestamp)) or self._verifier is None:
            return False
        return self._verifier.is_valid(body, timestamp, signature)


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None if not values else ""
