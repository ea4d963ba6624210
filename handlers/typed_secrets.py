"""A secret access key typed into Keywarden's own command or forms: refused in the ack, before anything parses,
stores or echoes the text, and answered after the ack as an exposure (ExposureService.handle_typed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.bootstrap import Services
from bot.domain.exposure import detect_typed
from bot.logs import remember_secrets_in
from bot.slack.messages.exposures import typed_secret_field_error, typed_secret_refusal


def refusal(text: str, what: str) -> str | None:
    """For an ack: the refusal when `text` holds a secret (remembered, so no log line shows a piece of it)."""
    found = detect_typed(text)
    if not found.secret:
        return None
    remember_secrets_in(text)
    return typed_secret_refusal(found.key_ids, what)


def field_errors(fields: Mapping[str, str]) -> dict[str, str]:
    """For a form's ack: an inline error under each field (block id -> its text) that holds a secret."""
    found = detect_typed(" ".join(fields.values()))
    if not found.secret:
        return {}
    remember_secrets_in(" ".join(fields.values()))
    error = typed_secret_field_error(found.key_ids)
    holding = [block for block, text in fields.items() if detect_typed(text).secret]
    return dict.fromkeys(holding or list(fields)[-1:], error)


def answered(services: Services, user: str, text: str, place: str, withheld: Sequence[str] | None = None) -> bool:
    """After the ack: when `text` holds a secret, the exposure response (`place`: a key of TYPED_PLACES). True
    when it did, and the caller does nothing more with the text. `withheld`: the key ids found in the ack, on
    a resumed request whose text was not kept (handlers/durable.py)."""
    if withheld is not None:
        services.exposures.handle_typed(user, withheld, place)
        return True
    found = detect_typed(text)
    if not found.secret:
        return False
    remember_secrets_in(text)
    services.exposures.handle_typed(user, found.key_ids, place)
    return True
