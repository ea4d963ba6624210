"""The Slack edges of the services in memory: `FakeNotifier` (bot/slack/notifier.py's `Notifier`) and
`FakeDirectory` (bot/slack/client.py's `SlackDirectory`), with the same public methods and signatures.

The notifier keeps what Slack would show: each message as the builders made it (text, blocks), updated in
place, in its channel (a message to a user id lands in the bot's DM with them, `D` + the id's tail, as Slack
answers); the views opened and updated; each user's App Home. `fail` makes the next calls of a method fail
as the real notifier reports Slack failures after its retries: None or False, nothing shown.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.domain.slack_ids import is_user_id
from bot.slack.client import Person
from bot.slack.messages.common import Message
from tests.support.block_kit import refusal


@dataclass
class Shown:
    """A message or a view as Slack shows it now; `versions` counts the updates it had."""

    text: str
    blocks: list[dict[str, Any]]
    channel: str = ""
    ts: str = ""
    thread_ts: str | None = None
    versions: int = 1

    @property
    def raw(self) -> str:
        """The text and the blocks, for `in` checks."""
        return self.text + "\n" + json.dumps(self.blocks)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(action id, value) of each button."""
        return [(e["action_id"], e["value"]) for b in self.blocks if b["type"] == "actions" for e in b["elements"]]


@dataclass
class _Fault:
    method: str
    channel: str | None


def dm_channel(user: str) -> str:
    """The id of the bot's DM with a user, as Slack answers a post to the user's id."""
    return "D" + user[1:] if user[:1] in ("U", "W") else user


class FakeNotifier:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # attempts by method, failed ones included
        self.messages: list[Shown] = []  # in the order they were posted
        self.views: dict[str, Shown] = {}  # by view id
        self.opened: list[str] = []  # the trigger ids views were opened with
        self.homes: dict[str, dict[str, Any]] = {}  # the App Home published for each user
        self.deleted: list[tuple[str, str]] = []
        self.uploads: list[tuple[str, str, str | bytes]] = []  # (channel, filename, content)
        self._faults: list[_Fault] = []
        self._ts = itertools.count(1)

    # Controls
    def fail(self, method: str, *, times: int = 1, channel: str | None = None) -> None:
        """The next `times` calls of `method` (to `channel` only, when given) fail as after Slack's retries.

        `dm` goes through `post`, as in the real notifier: failing `post` fails DMs too."""
        self._faults.extend(_Fault(method, channel) for _ in range(times))

    def in_channel(self, channel: str) -> list[Shown]:
        """The top-level messages of a channel, as they read now."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def in_thread(self, channel: str, ts: str) -> list[Shown]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def dms(self, user: str) -> list[Shown]:
        """The bot's messages in its DM with `user`, as they read now."""
        return self.in_channel(dm_channel(user))

    # The Notifier's methods
    def post(self, channel: str, message: Message, thread_ts: str | None = None) -> tuple[str, str] | None:
        if self._failed("post", channel):
            return None
        text, blocks = message
        _as_slack_would("chat.postMessage", {"blocks": blocks})
        shown = Shown(text, blocks, dm_channel(channel), f"{1700000000 + next(self._ts)}.000100", thread_ts)
        self.messages.append(shown)
        return shown.channel, shown.ts

    def update(self, channel: str, ts: str, message: Message) -> bool:
        shown = next((m for m in self.messages if (m.channel, m.ts) == (channel, ts)), None)
        if self._failed("update", channel) or shown is None:  # Slack: message_not_found
            return False
        _as_slack_would("chat.update", {"blocks": message[1]})
        shown.text, shown.blocks = message
        shown.versions += 1
        return True

    def delete(self, channel: str, ts: str) -> bool:
        if self._failed("delete", channel):
            return False
        self.messages = [m for m in self.messages if (m.channel, m.ts) != (channel, ts)]
        self.deleted.append((channel, ts))
        return True

    def permalink(self, channel: str, ts: str) -> str | None:
        if self._failed("permalink", channel):
            return None
        return f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"

    def dm(self, user: str, message: Message) -> tuple[str, str] | None:
        self.calls["dm"] += 1
        return self.post(user, message)

    def upload(self, channel: str, filename: str, content: str, title: str, thread_ts: str | None = None) -> bool:
        if self._failed("upload", channel):
            return False
        self.uploads.append((channel, filename, content))
        return True

    def post_file(self, channel: str, filename: str, data: bytes, title: str, comment: str) -> bool:
        if self._failed("post_file", channel):
            return False
        self.uploads.append((channel, filename, data))
        return True

    def upload_dm(self, user: str, filename: str, content: str, title: str) -> bool:
        if self._failed("upload_dm", user):
            return False
        return self.upload(dm_channel(user), filename, content, title)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        if self._failed("open_view", None):
            return None
        _as_slack_would("views.open", {"view": view})
        view_id = f"V{next(self._ts)}"
        self.views[view_id] = Shown(view.get("title", {}).get("text", ""), view.get("blocks", []))
        self.opened.append(trigger_id)
        return view_id

    def update_view(self, view_id: str, view: dict[str, Any]) -> bool:
        if self._failed("update_view", None) or view_id not in self.views:
            return False
        _as_slack_would("views.update", {"view": view})
        shown = self.views[view_id]
        shown.text, shown.blocks = view.get("title", {}).get("text", ""), view.get("blocks", [])
        shown.versions += 1
        return True

    def publish_home(self, user_id: str, view: dict[str, Any]) -> bool:
        if self._failed("publish_home", user_id):
            return False
        _as_slack_would("views.publish", {"view": view})
        self.homes[user_id] = view
        return True

    def _failed(self, method: str, channel: str | None) -> bool:
        self.calls[method] += 1
        fault = next((f for f in self._faults if f.method == method and f.channel in (None, channel)), None)
        if fault is None:
            return False
        self._faults.remove(fault)
        return True


@dataclass
class FakeDirectory:
    """Who is who in Slack: people by id (with their email) and user groups by id."""

    people: dict[str, Person] = field(default_factory=dict)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    def add_person(self, user_id: str, email: str | None = None, name: str | None = None) -> None:
        self.people[user_id] = Person(user_id, email, name or user_id.lower())

    def person(self, user_id: str) -> Person:
        return self.people.get(user_id, Person(user_id, None, None))  # as after users.info: user_not_found

    def user_id_for(self, owner: str) -> str | None:
        owner = owner.strip()
        if is_user_id(owner):
            return owner
        found = [p.user_id for p in self.people.values() if p.email and p.email.lower() == owner.lower()]
        return found[0] if found else None

    def group_members(self, group_id: str) -> frozenset[str] | None:
        return self.groups.get(group_id)  # None: as when Slack does not answer


def _as_slack_would(method: str, params: dict[str, Any]) -> None:
    """Block Kit Slack would refuse fails the test where it is sent, as the fake Slack fails it over HTTP."""
    refused = refusal(method, params)
    assert refused is None, f"Slack would refuse this Block Kit ({method}): {refused}"
