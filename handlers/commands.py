"""The slash command: parse and ack at once, do the AWS work after the ack, answer through `respond`.
The command alone opens the request form, on the views lane (handlers/lanes.py): Slack's 3 s apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.bootstrap import Services
from bot.domain.commands import Command, parse
from bot.domain.keys import InputError
from bot.domain.operations import REQUEST_OPERATIONS
from bot.slack.messages.audit import AUDIT_SHOWN, build_audit
from bot.slack.messages.check import Alarm, build_check
from bot.slack.messages.common import Message, build_key_list, escape, plain
from bot.slack.messages.help import build_help
from bot.slack.messages.home import work_note
from bot.slack.messages.request_replies import cancel_reply
from bot.slack.messages.requests import (
    build_break_glass_done,
    build_open_requests,
    build_request_filed,
    build_request_modal,
)
from bot.slack.messages.roles import build_replace, list_blocks, retirement_note
from bot.slack.messages.rotations import key_note, rotation_blocks
from bot.slack.messages.scans import scan_summary
from bot.slack.messages.time_bound import list_note
from bot.slack.messages.usage import build_access, build_activity
from handlers import typed_secrets
from handlers.durable import FOUND
from handlers.errors import replies_on_error
from handlers.wiring import wiring

Route = Callable[[Services, Command, str], Message]
MAX_BLOCKS = 50  # Slack's limit per message


def _list(services: Services, cmd: Command, user_id: str) -> Message:
    caller = services.directory.person(user_id)
    result = services.permissions.listing(caller, cmd.user)
    notes: dict[str, str] = {}
    key_ids = [k.facts.key_id for u in result.users for k in u.keys if k.facts.key_id]
    for key_id in key_ids:
        rotation = services.rotations.state_for_key(key_id)
        if rotation is not None:
            notes[key_id] = key_note(rotation, key_id)
        elif key_id in result.under_way:  # a key an approved create just made, or the one beside it
            notes[key_id] = work_note(result.under_way[key_id], key_id)
    for key_id, ends in services.time_bound.of_keys(key_ids).items():
        notes[key_id] = f"{notes[key_id]}\n    {list_note(ends)}" if key_id in notes else list_note(ends)
    for key_id, retiring in services.retirements.of_keys(key_ids).items():
        notes[key_id] = (
            f"{notes[key_id]}\n    {retirement_note(retiring)}" if key_id in notes else retirement_note(retiring)
        )
    for found in (services.exposure_notes.quarantine_notes(key_ids), services.exposure_notes.notes_for(key_ids)):
        for key_id, note in found.items():
            notes[key_id] = f"{note}\n    {notes[key_id]}" if key_id in notes else note
    text, blocks = build_key_list(result, services.clock(), notes, several_accounts=services.names.several)
    # How many of these keys a role could replace (the weekly sample's and `replace`'s verdicts), with the buttons.
    known = services.workloads.replaceable_among(key_ids)
    active = {k.facts.key_id for u in result.users for k in u.keys if k.facts.active}
    replaceable = [(w.account, w.iam_user, w.key_id, w.summary) for w in known.values() if w.key_id in active]
    extra = list_blocks(replaceable, services.names.several)
    return text, blocks + extra if len(blocks) + len(extra) <= MAX_BLOCKS else blocks


def _check(services: Services, cmd: Command, user_id: str) -> Message:
    result = services.permissions.checking(user_id, cmd.raw)
    exposed = services.exposure_notes.notes_for([result.key_id]).get(result.key_id)
    quarantined = services.exposure_notes.quarantine_notes([result.key_id]).get(result.key_id)
    alarmed = (exposed or quarantined) and result.key is not None and result.key.facts.active and result.account
    may_act = bool(alarmed) and services.permissions.may_act(user_id, result.account or "", result.user or "")
    ends = services.time_bound.of_keys([result.key_id]).get(result.key_id) if result.key is not None else None
    return build_check(result, services.clock(), Alarm(exposed, quarantined, may_act), ends, services.names)


def _audit(services: Services, cmd: Command, user_id: str) -> Message:
    subject = cmd.key_id or (cmd.user.name if cmd.user else None)
    # One more than is shown: the answer then says whether there are older events, and how to read them.
    return build_audit(services.permissions.audit(user_id, subject, limit=AUDIT_SHOWN + 1), subject)


def _file(services: Services, cmd: Command, user_id: str) -> Message:
    request = services.filing.file(user_id, cmd)
    if cmd.now:
        return build_break_glass_done(request, services.names)
    return build_request_filed(request, services.names)


def _requests(services: Services, cmd: Command, user_id: str) -> Message:
    text, blocks = build_open_requests(services.filing.open_requests(user_id), services.names)
    return text, blocks + rotation_blocks(services.rotations.open_for(user_id), services.names)


def _cancel(services: Services, cmd: Command, user_id: str) -> Message:
    assert cmd.request_id is not None
    return plain(cancel_reply(services.decisions.cancel(cmd.request_id, user_id), user_id))


def _scan(services: Services, cmd: Command, user_id: str) -> Message:
    services.permissions.may_scan(user_id)
    report, delivery = services.scan(post=True, trigger=f"manual:{user_id}")
    assert delivery is not None
    return plain(scan_summary(report, delivery, services.settings.alert_channel))


def _activity(services: Services, cmd: Command, user_id: str) -> Message:
    assert cmd.key_id is not None and cmd.days is not None
    return build_activity(services.activity.activity(user_id, cmd.key_id, cmd.days), services.names)


def _replace(services: Services, cmd: Command, user_id: str) -> Message:
    assert cmd.key_id is not None and cmd.days is not None
    result = services.workloads.replace(user_id, cmd.key_id, cmd.days)
    return build_replace(result, services.names.several)


def _access(services: Services, cmd: Command, user_id: str) -> Message:
    assert cmd.user is not None and cmd.days is not None
    summary = services.access_advisor.access(user_id, cmd.user, cmd.days)
    return build_access(summary, services.settings.access_cache_hours, services.names)


# Slow reads: the ack says what is coming, the answer follows through `respond`.
WORKING = {  # the ack comes before the check of who may see it: it promises nothing to someone who may not
    "activity": "`{target}`: if you may see its activity, Keywarden reads CloudTrail over {days} days (up to 2 pages "
    "a second); the answer follows here.",
    "access": "`{target}`: if you may see its access, Keywarden asks IAM Access Advisor; the answer follows here, "
    "usually within a minute.",
    "replace": "`{target}`: if you may see its workload, Keywarden reads CloudTrail over {days} days for where it "
    "runs and what it does; the answer follows here, and the role's template comes to your DM.",
}


ROUTES: dict[str, Route] = {
    "list": _list,
    "check": _check,
    "audit": _audit,
    **{spec.name: _file for spec in REQUEST_OPERATIONS.values()},
    "requests": _requests,
    "cancel": _cancel,
    "scan": _scan,
    "activity": _activity,
    "access": _access,
    "replace": _replace,
}


@replies_on_error
def open_request_form(services: Services, trigger_id: str, respond: Respond) -> None:
    """On the views lane: the request form, for the command alone."""
    if services.notifier.open_view(trigger_id, build_request_modal()) is None:
        respond(text="Slack could not open the request form; try again, or type the request.")


def ack_command(ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    wired = wiring(context)
    services = wired.services
    refused = typed_secrets.refusal(command.get("text", ""), "That command")
    if refused:  # before parsing: a parse error may quote what was typed
        ack(response_type="ephemeral", text=refused)
        return
    try:
        cmd = parse(command.get("text", ""), services.aws.list_aliases())
    except InputError as e:
        ack(response_type="ephemeral", text=escape(str(e)))
        return
    if cmd.name == "help":
        user_id = command.get("user_id", "")
        guest = bool(user_id) and services.access_rules.is_guest(user_id) is True
        approver = bool(user_id) and not guest and services.access_rules.is_approver(user_id)
        text, blocks = build_help(services.settings.slash_command, approver=approver, guest=guest)
        ack(response_type="ephemeral", text=text, blocks=blocks)
        return
    if cmd.name == "modal":
        ack()
        wired.lanes.views.submit(open_request_form, services, command.get("trigger_id", ""), respond=respond)
        return
    if cmd.name not in ROUTES:
        ack(response_type="ephemeral", text=f"`{cmd.name}` is not available yet. Try `help`.")
        return
    if cmd.name in WORKING:
        target = cmd.key_id or str(cmd.user)
        ack(response_type="ephemeral", text=WORKING[cmd.name].format(target=target, days=cmd.days))
        return
    ack()


@replies_on_error
def run_command(command: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    services = wiring(context).services
    if typed_secrets.answered(services, command["user_id"], command.get("text", ""), "command", context.get(FOUND)):
        return  # refused in the ack
    try:
        cmd = parse(command.get("text", ""), services.aws.list_aliases())
    except InputError:
        return  # already answered in the ack
    route = ROUTES.get(cmd.name)  # None for the form, opened in the ack
    if route is None:
        return
    text, blocks = route(services, cmd, command["user_id"])
    respond(text=text, blocks=blocks, response_type="ephemeral")


def register(app: App, slash_command: str) -> None:
    app.command(slash_command)(ack=ack_command, lazy=[run_command])
