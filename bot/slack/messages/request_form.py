"""The request form's target: a menu of the person's own IAM users and keys (Slack asks Keywarden for its options
as the person types), with what was typed offered too. Pure builders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.slack import ids

MAX_OPTIONS = 100  # Slack shows at most 100 options per menu
_TYPED = re.compile(r"^[\w+=,.@:-]{1,140}$")  # an IAM user name (with `account:`) or a key id, as typed
# Which targets each operation takes: create names a user; the others a key (rotate: a user too).
_WANTS_USERS = {None, "create", "rotate"}
_WANTS_KEYS = {None, "rotate", "deactivate", "reactivate", "delete"}


@dataclass(frozen=True)
class TargetChoices:
    """What a person may name in the form: the IAM users they own and those users' keys (from Keywarden's memory)."""

    users: list[tuple[str, str]] = field(default_factory=list)  # (account, user)
    keys: list[tuple[str, str, str]] = field(default_factory=list)  # (account, user, key id)
    several_accounts: bool = False


def target_element() -> dict[str, Any]:
    """The form's target field: Slack fills the menu from `target_options` (min_query_length 0: on opening)."""
    return {
        "type": "external_select",
        "action_id": ids.TARGET_CHOICE,
        "min_query_length": 0,
        "placeholder": {"type": "plain_text", "text": "Your IAM users and keys, or type a name"},
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value[:150]}


def target_options(choices: TargetChoices, operation: str | None, typed: str) -> dict[str, Any]:
    """The menu for what was typed so far (`typed`, matched anywhere, any case): the person's users, then their keys;
    when none matches, the typed text itself (a user or key someone else owns). Slack's `option_groups`."""
    query = typed.strip().lower()
    groups: list[dict[str, Any]] = []
    room = MAX_OPTIONS - 1  # one left for the typed text
    if operation in _WANTS_USERS:
        names = [f"{a}:{u}" if choices.several_accounts else u for a, u in choices.users]
        users = [_option(n, n) for n in names if query in n.lower()][:room]
        room -= len(users)
        if users:
            groups.append({"label": {"type": "plain_text", "text": "Your IAM users"}, "options": users})
    if operation in _WANTS_KEYS:
        keys = [
            _option(f"{k} ({a}:{u})" if choices.several_accounts else f"{k} ({u})", k)
            for a, u, k in choices.keys
            if query in k.lower() or query in u.lower()
        ][:room]
        if keys:
            groups.append({"label": {"type": "plain_text", "text": "Their access keys"}, "options": keys})
    cleaned = typed.strip()
    if not groups and _TYPED.match(cleaned):  # nothing of theirs matches: another user, or a key id typed whole
        groups.append({"label": {"type": "plain_text", "text": "As typed"}, "options": [_option(cleaned, cleaned)]})
    return {"option_groups": groups} if groups else {"options": []}
