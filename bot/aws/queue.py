"""The SQS queue of EventBridge events, long-polled."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from bot.aws.account import GLOBAL_REGION, RETRIES
from bot.aws.errors import (
    translate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt: str
    body: str
    receive_count: int


_SQS_HOST = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


class EventQueue:
    """Long polling of one SQS queue: receive up to 10 messages, delete each once handled."""

    def __init__(self, session: boto3.Session, url: str, wait_seconds: int = 20) -> None:
        self.url = url
        self.wait_seconds = wait_seconds
        match = _SQS_HOST.match(url)
        region = match.group(1) if match else (session.region_name or GLOBAL_REGION)
        # A long poll holds the connection for wait_seconds: the read timeout must outlast it.
        config = RETRIES.merge(Config(read_timeout=wait_seconds + 15))
        self._sqs = session.client("sqs", region_name=region, config=config)

    def receive(self, max_messages: int = 10) -> list[QueueMessage]:
        try:
            reply = self._sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None
        return [
            QueueMessage(
                m["MessageId"],
                m["ReceiptHandle"],
                m.get("Body", ""),
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1") or 1),
            )
            for m in reply.get("Messages", [])
        ]

    def delete(self, message: QueueMessage) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None

    def depth(self) -> int:
        """How many messages wait to be received (ApproximateNumberOfMessages): a dead-letter queue's backlog."""
        try:
            reply = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events dead-letter queue", "sqs") from None
        return int(reply.get("Attributes", {}).get("ApproximateNumberOfMessages", "0") or 0)

    def retry_later(self, message: QueueMessage, seconds: int) -> None:
        """Show the message again after `seconds` (a handling failure backs off instead of spinning)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message.receipt, VisibilityTimeout=max(0, min(seconds, 43_200))
            )
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None
