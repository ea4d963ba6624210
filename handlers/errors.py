"""Errors in one place: domain errors become short messages, bugs are logged with their stack."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.aws import AwsError
from bot.domain.keys import InputError
from bot.slack.messages.common import escape
from bot.slack.messages.trouble import aws_refusal
from bot.slack.observe import work_failed

log = logging.getLogger(__name__)


def user_message(error: Exception) -> str:
    """What a person is told about an error (never a stack trace)."""
    if isinstance(error, InputError):
        return escape(str(error))  # it may quote what the person typed
    if isinstance(error, AwsError):
        ref = uuid.uuid4().hex[:8]
        words = aws_refusal(error.code, error.account, ref)
        if words is None:
            return error.message
        log.warning("AWS refused Keywarden (ref %s): %s", ref, error.message)  # the operator's detail
        return words
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error (ref %s)", ref, exc_info=error)
    return f"Something went wrong on our side (reference `{ref}`). Nothing was changed; try again or tell the admins."


def replies_on_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """For work after the ack: report an error to the user through `respond` instead of losing it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # the one place that turns any failure into a reply
            work_failed("input" if isinstance(e, InputError) else "aws" if isinstance(e, AwsError) else "error")
            respond = kwargs.get("respond")
            if respond is not None:
                try:
                    respond(text=user_message(e), response_type="ephemeral", replace_original=False)
                except Exception:
                    log.exception("could not tell the user about an error")
            else:
                user_message(e)
            return None

    return wrapper


def on_error(error: Exception) -> BoltResponse:
    """Bolt's error handler, for what escapes a listener before or in its ack: an ephemeral answer."""
    return BoltResponse(status=200, body={"response_type": "ephemeral", "text": user_message(error)})


def register(app: App) -> None:
    app.error(on_error)
