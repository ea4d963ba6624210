"""manifest.yaml asks for what the code uses: the scopes of the Web API methods it calls, the events it handles."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from handlers.events import HANDLED

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text())

# The bot scopes each Web API method needs (api.slack.com/methods); views.* need none but a trigger or view id.
SCOPES_OF_METHOD: dict[str, frozenset[str]] = {
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "chat_delete": frozenset({"chat:write"}),
    "chat_getPermalink": frozenset(),
    "files_upload_v2": frozenset({"files:write"}),
    "views_open": frozenset(),
    "views_update": frozenset(),
    "views_publish": frozenset(),
    "users_info": frozenset({"users:read"}),
    "users_lookupByEmail": frozenset({"users:read", "users:read.email"}),
    "usergroups_users_list": frozenset({"usergroups:read"}),
    "usergroups_list": frozenset({"usergroups:read"}),
    "conversations_open": frozenset({"im:write"}),
    "conversations_info": frozenset({"channels:read", "groups:read"}),  # start-up: the channels exist, the bot is in
}
# The bot scopes each event subscription needs.
SCOPES_OF_EVENT: dict[str, frozenset[str]] = {
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "message.im": frozenset({"im:history"}),
    "message.mpim": frozenset({"mpim:history"}),
    "app_home_opened": frozenset(),
}
_CALL = re.compile(r"\.((?:chat|files|views|users|usergroups|conversations|reactions|pins|team|bots)_\w+)\(")


def web_api_methods_called() -> set[str]:
    sources = [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]
    return {m for path in sources for m in _CALL.findall(path.read_text())}


def test_bot_scopes_are_exactly_those_the_code_needs() -> None:
    """The scopes of the Web API methods the code calls and of the events it subscribes to, no more."""
    called = web_api_methods_called()
    unknown = called - SCOPES_OF_METHOD.keys()
    assert not unknown, f"add the scopes of {sorted(unknown)} to SCOPES_OF_METHOD"
    needed = {scope for method in called for scope in SCOPES_OF_METHOD[method]}
    needed |= {scope for event in subscribed() for scope in SCOPES_OF_EVENT[event]}
    if MANIFEST["features"].get("slash_commands"):
        needed.add("commands")
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def subscribed() -> set[str]:
    return set(MANIFEST["settings"].get("event_subscriptions", {}).get("bot_events", []))


def test_subscribed_events_are_the_handled_ones() -> None:
    assert subscribed() == set(HANDLED)


def test_the_admin_token_gets_the_one_user_scope_it_needs() -> None:
    """SLACK_ADMIN_TOKEN deletes another person's message (chat.delete): a workspace admin's user token with
    chat:write, the only user scope the manifest asks for."""
    assert MANIFEST["oauth_config"]["scopes"]["user"] == ["chat:write"]
    from bot.settings import Settings

    field = Settings.model_fields["slack_admin_token"]  # read from SLACK_ADMIN_TOKEN
    assert "xoxp-" in (field.description or "")  # the user token that uses it


def test_every_kind_of_conversation_the_bot_is_in_is_watched_for_pasted_keys() -> None:
    """Public and private channels, DMs with the bot and group DMs (mpim) it was added to."""
    assert {"message.channels", "message.groups", "message.im", "message.mpim"} <= subscribed()
