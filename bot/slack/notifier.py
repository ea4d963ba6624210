"""Posting to Slack for the services. Failures (after the client's retries) are logged and reported
as None/False, so callers can keep their database state and try again later."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.clock import Pacer
from bot.slack.messages.common import Message

log = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self,
        client: WebClient,
        *,
        per_channel_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._pacer = Pacer(per_channel_interval, monotonic=monotonic, sleep=sleep)  # Slack's 1 a second per channel

    def post(self, channel: str, message: Message, thread_ts: str | None = None) -> tuple[str, str] | None:
        text, blocks = message
        self._pacer.take(channel)
        try:
            reply = self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("chat.postMessage to %s failed: %s", channel, _reason(e))
            return None
        return reply["channel"], reply["ts"]

    def update(self, channel: str, ts: str, message: Message) -> bool:
        text, blocks = message
        try:
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("chat.update of %s/%s failed: %s", channel, ts, _reason(e))
            return False
        return True

    def delete(self, channel: str, ts: str) -> bool:
        """chat.delete; with a workspace admin's user token, also other people's messages."""
        try:
            self._client.chat_delete(channel=channel, ts=ts)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("chat.delete of %s/%s failed: %s", channel, ts, _reason(e))
            return False
        return True

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return self._client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        except (SlackApiError, SlackClientError, OSError, KeyError, TypeError) as e:
            log.warning("chat.getPermalink of %s/%s failed: %s", channel, ts, type(e).__name__)
            return None

    def dm(self, user: str, message: Message) -> tuple[str, str] | None:
        """A direct message: posting to a user id opens (or reuses) the bot's DM with them."""
        return self.post(user, message)

    def upload(self, channel: str, filename: str, content: str, title: str, thread_ts: str | None = None) -> bool:
        return self._files_upload(channel, thread_ts=thread_ts, filename=filename, content=content, title=title)

    def post_file(self, channel: str, filename: str, data: bytes, title: str, comment: str) -> bool:
        """A file (a chart) with a message introducing it, in a channel (files_upload_v2)."""
        return self._files_upload(channel, filename=filename, content=data, title=title, initial_comment=comment)

    def _files_upload(self, channel: str, **upload: Any) -> bool:
        try:
            self._client.files_upload_v2(channel=channel, **upload)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("file upload to %s failed: %s", channel, _reason(e))
            return False
        except (KeyError, TypeError, ValueError):  # an answer not shaped as documented: the upload's state is unknown
            log.exception("file upload to %s got an unexpected answer", channel)
            return False
        return True

    def upload_dm(self, user: str, filename: str, content: str, title: str) -> bool:
        """A file in the bot's DM with a user (uploads need the DM's channel id, not the user id)."""
        try:
            channel = self._client.conversations_open(users=user)["channel"]["id"]
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("conversations.open with %s failed: %s", user, _reason(e))
            return False
        return self.upload(channel, filename, content, title)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        try:
            return self._client.views_open(trigger_id=trigger_id, view=view)["view"]["id"]
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("views.open failed: %s", _reason(e))
            return None

    def update_view(self, view_id: str, view: dict[str, Any]) -> bool:
        try:
            self._client.views_update(view_id=view_id, view=view)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("views.update failed: %s", _reason(e))
            return False
        return True

    def publish_home(self, user_id: str, view: dict[str, Any]) -> bool:
        try:
            self._client.views_publish(user_id=user_id, view=view)
        except (SlackApiError, SlackClientError, OSError) as e:
            log.warning("views.publish failed: %s", _reason(e))
            return False
        return True


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or error.response.status_code)
    return type(error).__name__
