"""Button clicks: ack at once, then decide or reveal in the service. Button values carry only a request id.

Deny and Reveal open a modal, which Slack accepts only within 3 s of the click: they open it on the views
lane (handlers/lanes.py); Reveal then creates the key on the work lane and fills the window in."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.bootstrap import Services
from bot.domain.commands import REQUEST_ID, Command
from bot.domain.keys import ACCESS_KEY_ID
from bot.slack import ids
from bot.slack.messages.exposures import deactivate_now_reason
from bot.slack.messages.request_replies import approve_reply, cancel_reply, deny_reply, nudge_reply, reveal_reply
from bot.slack.messages.requests import (
    build_break_glass_done,
    build_deny_modal,
    build_error_modal,
    build_request_filed,
    build_secret_loading_modal,
)
from bot.slack.messages.roles import build_replace
from bot.slack.messages.rotations import rollback_reply
from bot.slack.messages.scans import snoozed_reply
from handlers.errors import replies_on_error, user_message
from handlers.wiring import wiring

NOT_A_REQUEST = "This button does not belong to a Keywarden request."


def _ack(ack: Ack) -> None:
    ack()


def _value(body: dict[str, Any]) -> str:
    """The clicked button's value, or "" when the payload is not shaped like a click."""
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    value = first.get("value") if isinstance(first, dict) else None
    return value if isinstance(value, str) else ""


def _request_id(body: dict[str, Any]) -> str | None:
    value = _value(body)
    return value if REQUEST_ID.match(value) else None


def _tell(respond: Respond, text: str | None) -> None:
    if text:
        respond(text=text, response_type="ephemeral", replace_original=False)


def _key_of(body: dict[str, Any], aliases: Collection[str]) -> tuple[str, str] | None:
    """(account, key id) from an alert button's value `account|key id`, or None when it names no key we know."""
    account, key_id = ids.parse_key_value(_value(body))
    if account in aliases and ACCESS_KEY_ID.match(key_id):
        return account, key_id
    return None


def _on_views_lane(
    open_modal: Callable[..., None], ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """Ack, then run `open_modal` on the views lane, never queued behind AWS work."""
    ack()
    wiring(context).lanes.views.submit(open_modal, body=body, respond=respond, context=context)


def ack_deny(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    _on_views_lane(open_deny_form, ack, body, respond, context)


def ack_reveal(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    _on_views_lane(open_reveal, ack, body, respond, context)


def _on_request(
    body: dict[str, Any], respond: Respond, act: Callable[[str, str], str | None], not_ours: str = NOT_A_REQUEST
) -> None:
    """Run `act(request id, clicker)` for a click whose button names a request, and relay its reply."""
    request_id = _request_id(body)
    if request_id is None:
        return _tell(respond, not_ours)
    _tell(respond, act(request_id, body["user"]["id"]))


@replies_on_error
def approve(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    decisions = wiring(context).services.decisions
    _on_request(body, respond, lambda request_id, user_id: approve_reply(decisions.approve(request_id, user_id)))


@replies_on_error
def nudge(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    reminders = wiring(context).services.reminders
    _on_request(body, respond, lambda request_id, user_id: nudge_reply(reminders.nudge(request_id, user_id), user_id))


@replies_on_error
def cancel(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    decisions = wiring(context).services.decisions
    _on_request(body, respond, lambda request_id, user_id: cancel_reply(decisions.cancel(request_id, user_id), user_id))


@replies_on_error
def open_deny_form(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    request_id = _request_id(body)
    if request_id is None:
        return _tell(respond, NOT_A_REQUEST)
    services = wiring(context).services
    refusal = services.decisions.deny_refusal(request_id, body["user"]["id"])
    if refusal:
        return _tell(respond, deny_reply(refusal))
    if services.notifier.open_view(body.get("trigger_id", ""), build_deny_modal(request_id)) is None:
        _tell(respond, "Slack could not open the form for the reason; click Deny again.")


@replies_on_error
def open_reveal(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    request_id = _request_id(body)
    if request_id is None:
        return _tell(respond, NOT_A_REQUEST)
    wired = wiring(context)
    services = wired.services
    user_id = body["user"]["id"]
    refusal = services.secret_delivery.reveal_refusal(request_id, user_id)
    if refusal:
        return _tell(respond, reveal_reply(refusal, user_id))
    view_id = services.notifier.open_view(body.get("trigger_id", ""), build_secret_loading_modal())
    if view_id is None:
        return _tell(respond, "Slack could not open the window, so no key was created. Click Reveal again.")
    wired.lanes.work.submit(finish_reveal, services, request_id, user_id, view_id, respond=respond)


@replies_on_error
def finish_reveal(services: Services, request_id: str, user_id: str, view_id: str, respond: Respond) -> None:
    """On the work lane: create the key and fill in the window `open_reveal` opened."""
    try:
        reply = reveal_reply(services.secret_delivery.reveal(request_id, user_id, view_id=view_id), user_id)
    except Exception as e:  # the window is open and says "Creating the key…": it must say what happened
        reply = user_message(e, services.names)
    if reply:
        services.notifier.update_view(view_id, build_error_modal(reply))
        _tell(respond, reply)


@replies_on_error
def rollback(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    # A rotation's id is its request's id.
    not_ours = "This button does not belong to a Keywarden rotation."
    rotations = wiring(context).services.rotations
    _on_request(
        body, respond, lambda rotation_id, user_id: rollback_reply(rotations.rollback(rotation_id, user_id)), not_ours
    )


def _file_from_alert(operation: str, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    services = wiring(context).services
    key = _key_of(body, services.aws.list_aliases())
    if key is None:
        return _tell(respond, "This button does not name a key Keywarden knows.")
    services.permissions.act_on_key(body["user"]["id"], key[1], operation)  # the owner or an approver for it
    request = services.filing.file(body["user"]["id"], Command(operation, key_id=key[1]))
    text, _ = build_request_filed(request, services.names)
    _tell(respond, text)


@replies_on_error
def file_rotation(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    _file_from_alert("rotate", body, respond, context)


@replies_on_error
def file_deactivation(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    _file_from_alert("deactivate", body, respond, context)


@replies_on_error
def file_reactivation(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    _file_from_alert("reactivate", body, respond, context)


@replies_on_error
def snooze(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    services = wiring(context).services
    key = _key_of(body, services.aws.list_aliases())
    if key is None:
        return _tell(respond, "This button does not name a key Keywarden knows.")
    user_id = body["user"]["id"]
    services.permissions.act_on_key(user_id, key[1], "snooze")
    _tell(respond, snoozed_reply(key[1], services.alerts.snooze(*key, user_id)))


@replies_on_error
def replace_with_role(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    """**Replace with a role**: `replace` for the clicker (the key's owner or an approver; anyone else is refused and
    audited), answered where the button was; the template goes to the clicker's DM."""
    services = wiring(context).services
    key = _key_of(body, services.aws.list_aliases())
    if key is None:
        return _tell(respond, "This button does not name a key Keywarden knows.")
    _tell(respond, f"Reading CloudTrail for `{key[1]}` to see where it runs: the answer follows here.")
    text, blocks = build_replace(services.workloads.replace(body["user"]["id"], key[1]), services.names.several)
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


@replies_on_error
def deactivate_now(body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    services = wiring(context).services
    key = _key_of(body, services.aws.list_aliases())
    if key is None:
        return _tell(respond, "This button does not name a key Keywarden knows.")
    notes = services.exposure_notes
    reason = deactivate_now_reason(bool(notes.notes_for([key[1]])), bool(notes.quarantine_notes([key[1]])))
    request = services.filing.file(body["user"]["id"], Command("deactivate", key_id=key[1], reason=reason, now=True))
    _tell(respond, build_break_glass_done(request, services.names)[0])


def register(app: App) -> None:
    app.action(ids.EXPOSURE_DEACTIVATE)(ack=_ack, lazy=[deactivate_now])
    app.action(ids.EXPOSURE_ROTATE)(ack=_ack, lazy=[file_rotation])
    app.action(ids.ALERT_ROTATE)(ack=_ack, lazy=[file_rotation])
    app.action(ids.ALERT_DEACTIVATE)(ack=_ack, lazy=[file_deactivation])
    app.action(ids.ALERT_SNOOZE)(ack=_ack, lazy=[snooze])
    app.action(ids.ENFORCE_REACTIVATE)(ack=_ack, lazy=[file_reactivation])
    app.action(ids.REPLACE_WITH_ROLE)(ack=_ack, lazy=[replace_with_role])
    app.action(ids.APPROVE)(ack=_ack, lazy=[approve])
    app.action(ids.DENY)(ack_deny)
    app.action(ids.REVEAL)(ack_reveal)
    app.action(ids.ROLLBACK)(ack=_ack, lazy=[rollback])
    app.action(ids.NUDGE)(ack=_ack, lazy=[nudge])
    app.action(ids.CANCEL)(ack=_ack, lazy=[cancel])
