"""Block Kit builders for exposures (key changes made outside Keywarden: bot/slack/messages/key_changes.py). Pure.

Nothing here ever receives a secret: only key ids, where they were seen and who owns them. Public places
(the thread reply, the poster's DM) show a key id masked as `AKIA…WXYZ`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.aws_events import (
    COMPROMISE_SUSPECTED_TYPE,
    COMPROMISED_TYPE,
    EXPOSED_TYPE,
    EXPOSURE_SUSPECTED_TYPE,
    QUARANTINE_TYPE,
)
from bot.domain.exposure import is_user_key, mask
from bot.slack import ids
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    button,
    confirm_dialog,
    context,
    section,
    when,
)

SLACK = "slack"
AWS_HEALTH = "aws-health"
TYPED = "typed"  # typed into Keywarden's own command or forms
# Where a secret was typed into Keywarden: the tag kept in the exposure's origin, and how people are told.
TYPED_PLACES = {
    "command": "a Keywarden command",
    "request-form": "Keywarden's request form",
    "deny-form": "a Deny reason",
}


# Each AWS Health risk event type: (what happened to the key, how AWS Health said it).
HEALTH_REPORTS = {
    EXPOSED_TYPE: ("exposed", "reported exposed by AWS Health"),
    COMPROMISED_TYPE: ("compromised", "AWS Health reports the key was abused: someone used it who should not have"),
    EXPOSURE_SUSPECTED_TYPE: ("suspected exposed", "AWS Health suspects the key was exposed"),
    COMPROMISE_SUSPECTED_TYPE: ("suspected compromised", "AWS Health suspects the key was abused"),
    QUARANTINE_TYPE: (
        "quarantined by AWS",
        "AWS attached a quarantine policy (`AWSCompromisedKeyQuarantine…`) to its user, as AWS Health reports",
    ),
}


@dataclass(frozen=True)
class ExposedKey:
    key_id: str
    account: str | None = None  # configured alias
    user: str | None = None
    aws_account_id: str | None = None
    owner: str | None = None  # Slack user id

    @property
    def managed(self) -> bool:
        """A key of a configured account's IAM user: Deactivate now and Rotate work on it."""
        return bool(self.account and self.user and is_user_key(self.key_id))

    def where(self, names: AccountNames = SEVERAL_ACCOUNTS) -> str:
        """`prod:ci` (`ci` where Keywarden watches one account), or the account the key was seen in."""
        if self.account and self.user:
            return names.user(self.account, self.user)
        if self.account:
            return f"account {self.account}"
        if self.aws_account_id:
            return f"AWS account {self.aws_account_id}"
        return "an unknown account"


@dataclass(frozen=True)
class ExposureFacts:
    source: str  # slack | aws-health
    keys: Sequence[ExposedKey]
    at: datetime
    channel: str | None = None
    poster: str | None = None
    permalink: str | None = None
    deleted: bool = False
    place: str | None = None  # TYPED: a key of TYPED_PLACES
    health_type: str | None = None  # AWS_HEALTH: the risk event's type (HEALTH_REPORTS)
    reported_at: datetime | None = None  # AWS_HEALTH: the event's startTime
    team_told: bool = False  # the alert channel has the alert
    owners_told: int = 0  # owners whose DM went out
    owners_untold: int = 0  # keys whose owner is unknown, or could not be told


def _health(f: ExposureFacts) -> tuple[str, str]:
    code = f.health_type or EXPOSED_TYPE
    what, said = HEALTH_REPORTS.get(code, HEALTH_REPORTS[EXPOSED_TYPE])
    return what, f"{said} (`{code}`)"


def _what(f: ExposureFacts) -> str:
    """What happened to the key: exposed, or as AWS Health put it (compromised, suspected ...)."""
    return _health(f)[0] if f.source == AWS_HEALTH else "exposed"


def _where_seen(f: ExposureFacts) -> str:
    if f.source == AWS_HEALTH:
        return _health(f)[1]
    if f.source == TYPED:
        return f"typed with its secret into {TYPED_PLACES.get(f.place or '', 'Keywarden')} by <@{f.poster}>"
    link = f" (<{f.permalink}|message>)" if f.permalink else ""
    return f"pasted with its secret in <#{f.channel}> by <@{f.poster}>{link}"


def _masked_list(keys: Sequence[ExposedKey], names: AccountNames) -> str:
    return ", ".join(f"`{mask(k.key_id)}` ({k.where(names)})" for k in keys)


def who_was_told(f: ExposureFacts) -> str:
    """Who has been alerted, and only them: a key with no owner Keywarden knows of has no owner told."""
    several = len(f.keys) > 1
    owners = ""
    if f.owners_told and not f.owners_untold:
        owners = "the keys' owners" if several else "the key's owner"
    elif f.owners_told:
        owners = "the owners Keywarden knows of"
    told = " and ".join(x for x in (owners, "the security team" if f.team_told else "") if x)
    if not told:
        return "Nobody else could be alerted: tell your security team now."
    verb = "has" if told == "the security team" else "have"
    missing = ""
    if not f.owners_told:
        missing = " (Keywarden knows no owner of these keys)" if several else " (Keywarden knows no owner of this key)"
    return f"{told[0].upper()}{told[1:]} {verb} been alerted{missing}."


def build_thread_reply(f: ExposureFacts, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """Under the pasted message: what was found, never the secret, and what to do."""
    keys = _masked_list(f.keys, names)
    if f.deleted:
        text = (
            f":rotating_light: This message contained an AWS access key {keys} and what looks like its secret. "
            f"I deleted it. {who_was_told(f)}"
        )
    else:
        text = (
            f":rotating_light: This message contains an AWS access key {keys} and what looks like its secret. "
            "*Delete this message now* (hover it, then More actions → Delete message). "
            f"{who_was_told(f)}"
        )
    return text, [section(text)]


def build_poster_dm(f: ExposureFacts, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    keys = _masked_list(f.keys, names)
    where = f"<#{f.channel}>" + (f" (<{f.permalink}|the message>)" if f.permalink else "")
    if f.deleted:
        first = f"You posted an AWS secret access key in {where}, with key {keys}. The message has been deleted."
    else:
        first = (
            f"You posted an AWS secret access key in {where}, with key {keys}. Please *delete the message now*: "
            "hover it, click More actions (⋮), then Delete message."
        )
    text = (
        f"{first}\nAnyone who saw it could use the key, so it must be deactivated and replaced. {who_was_told(f)} "
        "Never paste a secret into Slack; share it through a secrets manager."
    )
    return first, [section(text)]


def _key_blocks(k: ExposedKey, n: int, names: AccountNames) -> Blocks:
    lines = [f"`{k.key_id}` of *{k.where(names)}*" + (f", owner <@{k.owner}>" if k.owner else "")]
    if not k.managed:
        if k.account is None and k.aws_account_id:
            lines.append(
                f"AWS account {k.aws_account_id} is not managed by Keywarden: tell its administrators to "
                "deactivate the key now."
            )
        elif not is_user_key(k.key_id):
            lines.append("A temporary (STS) key: revoke the sessions of the role it came from.")
        else:
            lines.append("The key was not found in AWS (already deleted?). `check` tells more.")
        return [section("\n".join(lines))]
    assert k.account is not None
    return [
        section("\n".join(lines)),
        {"type": "actions", "block_id": f"exposed-{n}", "elements": response_buttons(k.account, k.key_id)},
    ]


def response_buttons(account: str, key_id: str) -> list[dict]:
    """Deactivate now (break-glass, confirmed) and Rotate: the answer to a key that leaked or AWS quarantined."""
    value = ids.key_value(account, key_id)
    deactivate = button(
        "Deactivate now",
        ids.EXPOSURE_DEACTIVATE,
        value,
        "danger",
        confirm_dialog(
            "Deactivate now?",
            f"`{key_id}` stops working at once, for everything that uses it.",
            "Deactivate now",
        ),
    )
    return [deactivate, button("Rotate", ids.EXPOSURE_ROTATE, value, "primary")]


def deactivate_now_reason(exposed: bool, quarantined: bool) -> str:
    """The reason a click on Deactivate now files, from what Keywarden knows of the key (alert, DM or `check`)."""
    if exposed:
        return "Deactivate now: the key was reported exposed"
    if quarantined:
        return "Deactivate now: AWS quarantined the key's user"
    return "Deactivate now"


def build_exposure_alert(f: ExposureFacts, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    """The critical alert in the alert channel: each key with Deactivate now and Rotate when Keywarden manages it."""
    title = f":rotating_light: *Critical: AWS access key {_what(f)}* — {_where_seen(f)}"
    blocks: Blocks = [section(title)]
    for n, k in enumerate(f.keys[:10]):
        blocks.extend(_key_blocks(k, n, names))
    who_may = "Deactivate now (break-glass) is for the key's owner or an approver."
    blocks.append(context(f"{_since(f)}Seen {when(f.at)}. {who_may}"))
    key_ids = ", ".join(k.key_id for k in f.keys)
    return f"Critical: AWS access key {_what(f)}: {key_ids}", blocks


def _since(f: ExposureFacts) -> str:
    return f"AWS Health: since {when(f.reported_at)}. " if f.reported_at else ""


def build_owner_dm(f: ExposureFacts, keys: Sequence[ExposedKey], names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    title = f":rotating_light: *Your AWS access key was {_what(f)}* — {_where_seen(f)}"
    blocks: Blocks = [section(title)]
    for n, k in enumerate(keys[:10]):
        blocks.extend(_key_blocks(k, n, names))
    blocks.append(
        context(
            f"{_since(f)}Deactivate it now if nothing critical depends on it, then rotate; or rotate first and "
            "deactivate as soon as the new key is in place."
        )
    )
    return f"Your AWS access key {', '.join(k.key_id for k in keys)} was {_what(f)}", blocks


def exposure_note(
    source: str,
    at: datetime,
    channel: str | None,
    poster: str | None,
    permalink: str | None,
    health_type: str | None = None,
) -> str:
    """One line under a key in `list` and `check`: when, where and by whom it was exposed."""
    if source == AWS_HEALTH:
        what = HEALTH_REPORTS.get(health_type or EXPOSED_TYPE, HEALTH_REPORTS[EXPOSED_TYPE])[0]
        return f":rotating_light: reported {what} by AWS Health on {when(at)}"
    if source == TYPED:
        return f":rotating_light: typed with its secret into Keywarden on {when(at)} by <@{poster}>"
    link = f" (<{permalink}|message>)" if permalink else ""
    return f":rotating_light: exposed in Slack on {when(at)} in <#{channel}> by <@{poster}>{link}"


def typed_secret_refusal(key_ids: Sequence[str], what: str = "That text") -> str:
    """The answer to a command or form that holds a secret access key: refused, and what happens to the key.
    Never the secret; the key ids are the typist's own words, shown only to them."""
    first = f"{what} contains what looks like an AWS secret access key, so nothing was done and none of it was kept."
    if key_ids:
        keys = ", ".join(f"`{k}`" for k in key_ids)
        then = (
            f"{keys} is treated as exposed: Keywarden alerts the security team, and the key's owner when it has one, "
            "with buttons to deactivate and rotate it."
        )
    else:
        then = (
            "Treat its key as exposed: deactivate it (`deactivate <key-id> --now`) and rotate it, or ask the "
            "security team to."
        )
    return f":rotating_light: {first} {then} Never paste a secret into Slack."


def typed_secret_field_error(key_ids: Sequence[str]) -> str:
    """The same, short enough for an inline error under a form field."""
    if key_ids:
        return f"Remove the secret access key: nothing was saved. {mask(key_ids[0])} is treated as exposed (alerted)."
    return "Remove the secret access key: nothing was saved. Treat its key as exposed: deactivate and rotate it."


def quarantine_note(account: str, user: str, first_seen: datetime, names: AccountNames = SEVERAL_ACCOUNTS) -> str:
    """One line under a key in `list` and `check`: AWS quarantined its user, seen by a scan since when."""
    return (
        f":rotating_light: AWS quarantined {names.user(account, user)} (a quarantine policy on the user), "
        f"first seen by the scan on {when(first_seen)}"
    )


def quarantine_blocks(note: str) -> Blocks:
    """What `check` adds about a key on a quarantined user (its next step follows, with the buttons)."""
    return [
        section(f"*This key's user is quarantined by AWS:* {note.removeprefix(':rotating_light: AWS quarantined ')}")
    ]


def exposure_blocks(note: str) -> Blocks:
    """What `check` adds about an exposed key (its next step follows, with the buttons)."""
    return [section(f"*This key was exposed:* {note.removeprefix(':rotating_light: ')}")]
