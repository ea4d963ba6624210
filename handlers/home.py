"""The App Home's Request button, and the request form's menu of the person's own IAM users and keys.

The button opens the form on the views lane (a trigger_id lasts 3 s). Slack asks for the menu's options as the
person types and waits 3 s for them: the options are answered in the ack, from the database only."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.domain.exposure import detect_typed
from bot.slack import ids
from bot.slack.messages.request_form import TargetChoices, target_options
from bot.slack.messages.requests import build_request_modal
from handlers.errors import replies_on_error
from handlers.wiring import wiring

log = logging.getLogger(__name__)

NOT_OPENED = "Slack could not open the request form; click Request again, or type the request with the command."


def ack_request_button(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    ack()
    wiring(context).lanes.views.submit(open_request_form, body=body, respond=respond, context=context)


@replies_on_error
def open_request_form(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    """On the views lane: the request form, as the command alone opens it."""
    services = wiring(context).services
    if services.notifier.open_view(body.get("trigger_id", ""), build_request_modal()) is None:
        respond(text=NOT_OPENED, response_type="ephemeral", replace_original=False)


def _chosen_operation(body: dict[str, Any]) -> str | None:
    """The operation the form has chosen so far (it narrows the menu), or None."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    chosen = ((values.get(ids.BLOCK_OPERATION) or {}).get(ids.INPUT) or {}).get("selected_option") or {}
    value = chosen.get("value") if isinstance(chosen, dict) else None
    return value if isinstance(value, str) else None


def answer_target_options(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """In the ack: the person's users and keys matching what was typed, and the typed text itself."""
    home = wiring(context).services.home
    typed = body["value"] if isinstance(body.get("value"), str) else ""
    if detect_typed(typed).secret:  # a secret is never echoed back, not even into the person's own menu
        typed = ""
    user_id = (body.get("user") or {}).get("id")
    choices = TargetChoices()
    if home is not None and isinstance(user_id, str):
        try:
            choices = home.request_choices(user_id[:32])
        except Exception:  # the menu still offers what was typed; the form checks the target on submission
            log.exception("the request form's menu could not read %s's users and keys", user_id[:32])
    ack(**target_options(choices, _chosen_operation(body), typed))


def register(app: App) -> None:
    app.action(ids.HOME_REQUEST)(ack_request_button)
    app.options(ids.TARGET_CHOICE)(answer_target_options)
