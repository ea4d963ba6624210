"""Errors in one place: domain errors become short messages, bugs are logged with their stack."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.aws import AwsError
from bot.bootstrap import Services
from bot.domain.keys import InputError, NotFound
from bot.services.trouble import new_reference
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, escape
from bot.slack.messages.trouble import aws_trouble
from bot.slack.observe import work_failed
from handlers.wiring import CONTEXT_KEY

log = logging.getLogger(__name__)


def user_message(error: Exception, names: AccountNames = SEVERAL_ACCOUNTS) -> str:
    """What a person is told about an error (never a stack trace). An AWS error whose message is the operator's
    (which permission, which policy file, AWS's own text) is told in people's words with a reference, and its
    message logged under that reference; `names`: the account is named only where there are several."""
    if isinstance(error, (InputError, NotFound)) and not isinstance(error, AwsError):
        return escape(str(error))  # written for people; it may quote what the person typed
    if isinstance(error, AwsError):
        if error.for_people:
            return error.message
        ref = new_reference()
        log.warning("AWS refused or failed Keywarden (ref %s): %s", ref, error.message)  # the operator's detail
        return aws_trouble(error.code, names.account(error.account), ref)
    ref = new_reference()
    log.error("unexpected error (ref %s)", ref, exc_info=error)
    return f"Something went wrong on our side (reference `{ref}`). Nothing was changed; try again or tell the admins."


def names_in(context: Mapping[str, Any] | None) -> AccountNames:
    """How this app names accounts, from a request's context (in full before the wiring is in it)."""
    wired = context.get(CONTEXT_KEY) if context is not None else None
    return getattr(wired.services, "names", SEVERAL_ACCOUNTS) if wired is not None else SEVERAL_ACCOUNTS


def _names_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AccountNames:
    """How accounts are named for a listener's (or its work's) arguments: its context, or the services it got."""
    services = next((a for a in (*args, *kwargs.values()) if isinstance(a, Services)), None)
    return services.names if services is not None else names_in(kwargs.get("context"))


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
                    words = user_message(e, _names_of(args, kwargs))
                    respond(text=words, response_type="ephemeral", replace_original=False)
                except Exception:
                    log.exception("could not tell the user about an error")
            else:
                user_message(e)
            return None

    return wrapper


def on_error(error: Exception, context: BoltContext | None = None) -> BoltResponse:
    """Bolt's error handler, for what escapes a listener before or in its ack: an ephemeral answer."""
    words = user_message(error, names_in(context))
    return BoltResponse(status=200, body={"response_type": "ephemeral", "text": words})


def register(app: App) -> None:
    app.error(on_error)
