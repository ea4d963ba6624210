"""AWS trouble told twice: the operator's detail (which permission, which policy file, botocore's text) to the log
under a short reference, and people's words (bot/slack/messages/trouble.py) that give that reference."""

from __future__ import annotations

import logging
import uuid

from bot.aws import AwsError

log = logging.getLogger(__name__)


def new_reference() -> str:
    """A short reference that ties what a person was told to the log line with the detail."""
    return uuid.uuid4().hex[:8]


def logged(error: AwsError, what: str, logger: logging.Logger = log) -> str:
    """Log `error`'s detail for whoever runs Keywarden, saying `what` failed, under a new reference; returns it."""
    reference = new_reference()
    logger.warning("%s (ref %s): %s", what, reference, error.message)
    return reference
