"""Parsing the slash command's text into a command, with specific messages for bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.keys import InputError, UserRef, looks_like_key_id, parse_key_id, parse_user_ref

REQUEST_ID = re.compile(r"^R-?[A-Z0-9]{6}$", re.IGNORECASE)
MAX_REASON = 300

USAGE = {
    "help": ("help", "help"),
    "list": ("list [user | account:user]", "list ci-deployer"),
    "check": ("check <access-key-id>", "check AKIAIOSFODNN7EXAMPLE"),
    "create": ("create <user> [reason]", "create ci-deployer new pipeline"),
    "rotate": ("rotate <user | key-id> [reason]", "rotate AKIAIOSFODNN7EXAMPLE 90-day rotation"),
    "deactivate": ("deactivate <key-id> [--now] [reason]", "deactivate AKIAIOSFODNN7EXAMPLE not needed"),
    "reactivate": ("reactivate <key-id> [reason]", "reactivate AKIAIOSFODNN7EXAMPLE deploy broke"),
    "delete": ("delete <key-id> [reason]", "delete AKIAIOSFODNN7EXAMPLE replaced"),
    "requests": ("requests", "requests"),
    "cancel": ("cancel <request-id>", "cancel R-7KQ2ZD"),
    "audit": ("audit [user | key-id]", "audit ci-deployer"),
    "scan": ("scan", "scan"),
    "activity": ("activity <access-key-id> [days]", "activity AKIAIOSFODNN7EXAMPLE 30"),
    "access": ("access <user | account:user> [days]", "access ci-deployer 90"),
}
# `days` of each reading command: (default, most). CloudTrail's event history keeps 90 days;
# IAM Access Advisor about 400.
DAYS = {"activity": (30, 90), "access": (90, 400)}


@dataclass(frozen=True)
class Command:
    name: str
    user: UserRef | None = None
    key_id: str | None = None
    raw: str = ""
    reason: str = ""
    now: bool = False
    request_id: str | None = None
    days: int | None = None


def usage(name: str) -> str:
    form, example = USAGE[name]
    return f"Usage: `{form}`, for example `{example}`."


def parse(text: str, aliases: list[str]) -> Command:
    """Parse the text after the slash command. Raises InputError with the correct form."""
    if not text.strip():
        return Command("modal")
    head, rest = ([*re.split(r"\s", text.lstrip(), maxsplit=1), ""])[:2]
    name = head.lower()
    if name not in USAGE:
        raise InputError(f"Unknown command `{head[:40]}`. Try `help` to see what I can do.")
    words = rest.split()
    try:
        return _PARSERS[name](name, rest, words, aliases)
    except _Missing:
        raise InputError(f"`{name}` needs more. {usage(name)}") from None
    except InputError as e:
        raise InputError(f"{e} {usage(name)}") from None


class _Missing(Exception):
    pass


def _first(words: list[str]) -> str:
    if not words:
        raise _Missing
    return words[0]


def _reason(words: list[str]) -> str:
    reason = " ".join(words)
    if len(reason) > MAX_REASON:
        raise InputError(f"The reason is {len(reason)} characters long; keep it under {MAX_REASON}.")
    return reason


def _no_args(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    if words:
        raise InputError(f"`{name}` takes nothing after it.")
    return Command(name)


def _list(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    if len(words) > 1:
        raise InputError("`list` takes at most one user.")
    return Command(name, user=parse_user_ref(words[0], aliases) if words else None)


def _check(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    # Keep the text as typed: stray spaces are part of the diagnosis.
    if not rest.strip():
        raise _Missing
    return Command(name, raw=rest[:200])


def _create(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    return Command(name, user=parse_user_ref(_first(words), aliases), reason=_reason(words[1:]))


def _rotate(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    target = _first(words)
    if looks_like_key_id(target):
        return Command(name, key_id=parse_key_id(target), reason=_reason(words[1:]))
    return Command(name, user=parse_user_ref(target, aliases), reason=_reason(words[1:]))


def _key_operation(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    now = "--now" in words
    if now and name != "deactivate":
        raise InputError("`--now` works only with `deactivate`.")
    words = [w for w in words if w != "--now"]
    return Command(name, key_id=parse_key_id(_first(words)), reason=_reason(words[1:]), now=now)


def _cancel(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    request_id = _first(words)
    if len(words) > 1 or not REQUEST_ID.match(request_id):
        raise InputError(f"`{request_id[:40]}` is not a request id (they look like `R-7KQ2ZD`).")
    return Command(name, request_id=normalise_request_id(request_id))


def _audit(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    if len(words) > 1:
        raise InputError("`audit` takes at most one user or key id.")
    if not words:
        return Command(name)
    if looks_like_key_id(words[0]):
        return Command(name, key_id=parse_key_id(words[0]))
    return Command(name, user=parse_user_ref(words[0], aliases))


def _days(name: str, words: list[str]) -> int:
    default, most = DAYS[name]
    if len(words) > 1:
        raise InputError(
            f"`{name}` takes at most a number of days after the {'key id' if name == 'activity' else 'user'}."
        )
    if not words:
        return default
    text = words[0]
    if not text.isascii() or not text.isdigit():
        raise InputError(f"`{text[:20]}` is not a number of days: give a whole number from 1 to {most}.")
    days = int(text)
    if not 1 <= days <= most:
        why = "CloudTrail keeps 90 days of events" if name == "activity" else "Access Advisor remembers about 400 days"
        raise InputError(f"{days} days is out of range: {why}, so give 1 to {most}.")
    return days


def _activity(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    return Command(name, key_id=parse_key_id(_first(words)), days=_days(name, words[1:]))


def _access(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    target = _first(words)
    if looks_like_key_id(target):
        raise InputError("`access` takes a user, not a key id (a key has the permissions of its user).")
    return Command(name, user=parse_user_ref(target, aliases), days=_days(name, words[1:]))


def normalise_request_id(text: str) -> str:
    body = text.upper().removeprefix("R").removeprefix("-")
    return f"R-{body}"


_PARSERS = {
    "help": _no_args,
    "requests": _no_args,
    "scan": _no_args,
    "list": _list,
    "check": _check,
    "create": _create,
    "rotate": _rotate,
    "deactivate": _key_operation,
    "reactivate": _key_operation,
    "delete": _key_operation,
    "cancel": _cancel,
    "audit": _audit,
    "activity": _activity,
    "access": _access,
}
