"""Modal submissions: validate in the ack (inline errors), then hand over to the service."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.commands import REQUEST_ID, parse
from bot.domain.keys import InputError
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.time_bound import DurationError
from bot.slack import ids
from bot.slack.messages.common import plain
from bot.slack.messages.request_replies import deny_reply
from bot.slack.messages.requests import build_break_glass_done, build_request_filed
from handlers import typed_secrets
from handlers.durable import FOUND
from handlers.errors import user_message
from handlers.wiring import wiring

_FILED_BY_MODAL = frozenset(spec.name for spec in REQUEST_OPERATIONS.values())


def _value(view: dict[str, Any], block: str) -> str:
    inputs = view.get("state", {}).get("values", {}).get(block, {})
    state = inputs.get(ids.INPUT) or inputs.get(ids.TARGET_CHOICE) or {}  # the target: a menu of the person's own
    return str(state.get("value") or (state.get("selected_option") or {}).get("value") or "").strip()


def _request_text(view: dict[str, Any]) -> tuple[str, str]:
    operation = _value(view, ids.BLOCK_OPERATION)
    valid_for = _value(view, ids.BLOCK_VALID_FOR)
    parts = (operation, _value(view, ids.BLOCK_TARGET), f"--for {valid_for}" if valid_for else "")
    text = " ".join(p for p in (*parts, _value(view, ids.BLOCK_REASON)) if p)
    return operation, text


def _deny_target(view: dict[str, Any]) -> str | None:
    try:
        request_id = json.loads(view.get("private_metadata") or "{}").get("request_id", "")
    except (json.JSONDecodeError, AttributeError):
        return None
    return request_id if isinstance(request_id, str) and REQUEST_ID.match(request_id) else None


def _request_errors(view: dict[str, Any], aliases: list[str]) -> dict[str, str]:
    fields = (ids.BLOCK_TARGET, ids.BLOCK_VALID_FOR, ids.BLOCK_REASON)
    secret = typed_secrets.field_errors({b: _value(view, b) for b in fields})
    if secret:  # before parsing: a parse error may quote what was typed
        return secret
    operation, text = _request_text(view)
    if operation not in _FILED_BY_MODAL:
        return {ids.BLOCK_OPERATION: "Choose an operation."}
    try:
        parse(text, aliases)
    except DurationError as e:
        return {ids.BLOCK_VALID_FOR: str(e).split(" Usage:")[0][:150]}
    except InputError as e:
        message = str(e).split(" Usage:")[0]
        return {ids.BLOCK_REASON if "reason" in message else ids.BLOCK_TARGET: message[:150]}
    return {}


def _deny_errors(view: dict[str, Any]) -> dict[str, str]:
    secret = typed_secrets.field_errors({ids.BLOCK_REASON: _value(view, ids.BLOCK_REASON)})
    if secret:
        return secret
    if not _value(view, ids.BLOCK_REASON):
        return {ids.BLOCK_REASON: "Say why, so the requester knows what to change."}
    if _deny_target(view) is None:
        return {ids.BLOCK_REASON: "This form lost its request; click Deny again."}
    return {}


def ack_request(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    errors = _request_errors(view, wiring(context).services.aws.list_aliases())
    ack(response_action="errors", errors=errors) if errors else ack()


def ack_deny(ack: Ack, view: dict[str, Any]) -> None:
    errors = _deny_errors(view)
    ack(response_action="errors", errors=errors) if errors else ack()


# Lazy listeners run whatever the ack said, so each checks the submission again.
def file_request(body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    services = wiring(context).services
    aliases = services.aws.list_aliases()
    user_id = body["user"]["id"]
    _, text = _request_text(view)
    if typed_secrets.answered(services, user_id, text, "request-form", context.get(FOUND)):
        return
    if _request_errors(view, aliases):
        return
    try:
        cmd = parse(text, aliases)
        request = services.filing.file(user_id, cmd)
        done = build_break_glass_done if cmd.now else build_request_filed
        services.notifier.dm(user_id, done(request, services.names))
    except Exception as e:  # no response_url for modals: the answer goes to the user's DM
        services.notifier.dm(user_id, plain(user_message(e, services.names)))


def deny(body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    services = wiring(context).services
    user_id = body["user"]["id"]
    reason = _value(view, ids.BLOCK_REASON)
    if typed_secrets.answered(services, user_id, reason, "deny-form", context.get(FOUND)) or _deny_errors(view):
        return
    request_id = _deny_target(view)
    assert request_id is not None
    try:
        reply = deny_reply(services.decisions.deny(request_id, user_id, _value(view, ids.BLOCK_REASON)[:300]))
    except Exception as e:  # as above: tell the approver in a DM
        reply = user_message(e, services.names)
    if reply:
        services.notifier.dm(user_id, plain(reply))


def register(app: App) -> None:
    app.view(ids.REQUEST_MODAL)(ack=ack_request, lazy=[file_request])
    app.view(ids.DENY_MODAL)(ack=ack_deny, lazy=[deny])
