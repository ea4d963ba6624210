"""Modal submissions: validate in the ack (inline errors), then hand over to the service."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot import ids
from bot.blocks import plain
from bot.bootstrap import Services
from bot.domain.commands import REQUEST_ID, parse
from bot.domain.keys import InputError
from bot.request_blocks import build_request_filed
from handlers.errors import user_message

_FILED_BY_MODAL = {"create", "rotate", "deactivate", "reactivate", "delete"}


def _value(view: dict[str, Any], block: str) -> str:
    state = view.get("state", {}).get("values", {}).get(block, {}).get(ids.INPUT, {})
    return str(state.get("value") or (state.get("selected_option") or {}).get("value") or "").strip()


def _request_text(view: dict[str, Any]) -> tuple[str, str]:
    operation = _value(view, ids.BLOCK_OPERATION)
    text = " ".join(p for p in (operation, _value(view, ids.BLOCK_TARGET), _value(view, ids.BLOCK_REASON)) if p)
    return operation, text


def _deny_target(view: dict[str, Any]) -> str | None:
    try:
        request_id = json.loads(view.get("private_metadata") or "{}").get("request_id", "")
    except (json.JSONDecodeError, AttributeError):
        return None
    return request_id if isinstance(request_id, str) and REQUEST_ID.match(request_id) else None


def register(app: App, services: Services) -> None:
    aliases = services.settings.account_aliases

    def ack_request(ack: Ack, view: dict[str, Any]) -> None:
        operation, text = _request_text(view)
        if operation not in _FILED_BY_MODAL:
            ack(response_action="errors", errors={ids.BLOCK_OPERATION: "Choose an operation."})
            return
        try:
            parse(text, aliases)
        except InputError as e:
            block = ids.BLOCK_REASON if "reason" in str(e) else ids.BLOCK_TARGET
            ack(response_action="errors", errors={block: str(e).split(" Usage:")[0][:150]})
            return
        ack()

    def file_request(body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        _, text = _request_text(view)
        try:
            request = services.approvals.file(user_id, parse(text, aliases))
            services.notifier.dm(user_id, build_request_filed(request))
        except Exception as e:  # no response_url for modals: the answer goes to the user's DM
            services.notifier.dm(user_id, plain(user_message(e)))

    def ack_deny(ack: Ack, view: dict[str, Any]) -> None:
        if not _value(view, ids.BLOCK_REASON):
            ack(response_action="errors", errors={ids.BLOCK_REASON: "Say why, so the requester knows what to change."})
            return
        if _deny_target(view) is None:
            ack(response_action="errors", errors={ids.BLOCK_REASON: "This form lost its request; click Deny again."})
            return
        ack()

    def deny(body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        request_id = _deny_target(view)
        assert request_id is not None
        try:
            reply = services.approvals.deny(request_id, user_id, _value(view, ids.BLOCK_REASON)[:300])
        except Exception as e:  # as above: tell the approver in a DM
            reply = user_message(e)
        if reply:
            services.notifier.dm(user_id, plain(reply))

    app.view(ids.REQUEST_MODAL)(ack=ack_request, lazy=[file_request])
    app.view(ids.DENY_MODAL)(ack=ack_deny, lazy=[deny])
