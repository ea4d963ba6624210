"""Parsing the slash command's text into a command, with specific messages for bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.domain.exposure import detect_typed
from bot.domain.keys import InputError, UserRef, looks_like_key_id, parse_key_id, parse_user_ref
from bot.domain.operations import REQUEST_OPERATIONS, Operation, Picks
from bot.domain.retirement import ROLE_FORMS, RoleRef, parse_role
from bot.domain.time_bound import DurationError, parse_valid_for

REQUEST_ID = re.compile(r"^R-?[A-Z0-9]{6}$", re.IGNORECASE)
MAX_REASON = 300

_READING = {
    "help": ("help", "help"),
    "list": ("list [user | account:user]", "list ci-deployer"),
    "check": ("check <access-key-id>", "check AKIAIOSFODNN7EXAMPLE"),
}
_OTHERS = {
    "requests": ("requests", "requests"),
    "cancel": ("cancel <request-id>", "cancel R-7KQ2ZD"),
    "audit": ("audit [user | key-id]", "audit ci-deployer"),
    "scan": ("scan", "scan"),
    "activity": ("activity <access-key-id> [days]", "activity AKIAIOSFODNN7EXAMPLE 30"),
    "access": ("access <user | account:user> [days]", "access ci-deployer 90"),
    "replace": ("replace <access-key-id> [days]", "replace AKIAIOSFODNN7EXAMPLE"),
}
# Every command's (form, example), in the order `help` lists them; the request operations come from their registry.
USAGE = {
    **_READING,
    **{spec.name: (spec.usage, spec.example) for spec in REQUEST_OPERATIONS.values()},
    **_OTHERS,
}
# Who may run each command, the groups `help` shows them in: anyone; the key's or user's owner (and approvers);
# approvers. `deactivate --now` (break-glass) is for the key's owner or an approver (bot/access.py).
ANYONE, OWNER, APPROVER = "anyone", "owner", "approver"
ROLES = {name: ANYONE for name in USAGE} | {
    "activity": OWNER,
    "access": OWNER,
    "replace": OWNER,
    "audit": APPROVER,
    "scan": APPROVER,
}
BREAK_GLASS_USAGE = ("deactivate <key-id> --now [reason]", "deactivate AKIAIOSFODNN7EXAMPLE --now pasted in a log")
# `days` of each reading command: (default, most). CloudTrail's event history keeps 90 days;
# IAM Access Advisor about 400.
DAYS = {"activity": (30, 90), "access": (90, 400), "replace": (30, 90)}


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
    valid_for_hours: int | None = None  # `create --for`: a time-bound key
    role: RoleRef | None = None  # `retire --role`: the role to watch (else the one `replace` suggests)


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
        words, valid_for_hours = _valid_for(name, words)
        words, role = _role(name, words)
        cmd = _PARSERS[name](name, rest, words, aliases)
    except _Missing:
        raise InputError(f"`{name}` needs more. {usage(name)}") from None
    except InputError as e:
        raise type(e)(f"{e} {usage(name)}") from None
    cmd = replace(cmd, valid_for_hours=valid_for_hours) if valid_for_hours else cmd
    return replace(cmd, role=role) if role else cmd


class _Missing(Exception):
    pass


def _option_at(flag: str, words: list[str]) -> list[int]:
    """Where `flag` stands in `words`, as `--flag value` or `--flag=value`."""
    return [i for i, w in enumerate(words) if w.lower() == flag or w.lower().startswith(flag + "=")]


def _take_option(flag: str, words: list[str], i: int, missing: InputError) -> tuple[list[str], str]:
    """The value of `flag` at `words[i]` and the other words; `missing` when `--flag` ends the words."""
    value, taken = words[i][len(flag) + 1 :], 1
    if words[i].lower() == flag:
        if i + 1 >= len(words):
            raise missing
        value, taken = words[i + 1], 2
    return words[:i] + words[i + taken :], value


_FOR = "--for"
_OPERATIONS = frozenset(op.value for op in REQUEST_OPERATIONS)
_TIME_BOUND = " or ".join(f"`{spec.name}`" for spec in REQUEST_OPERATIONS.values() if spec.time_bound)


def _valid_for(name: str, words: list[str]) -> tuple[list[str], int | None]:
    """`--for 8h` (or `--for=8h`) taken out of `words`: (the other words, the hours), or (words, None) without it."""
    at = _option_at(_FOR, words)
    if not at or name not in _OPERATIONS:
        return words, None
    spec = REQUEST_OPERATIONS[Operation(name)]
    if not spec.time_bound:
        raise DurationError(f"`--for` works only with {_TIME_BOUND}: it makes a new key time-bound.")
    if len(at) > 1:
        raise DurationError("`--for` is given more than once: give one duration, such as `8h` or `30d`.")
    missing = DurationError("`--for` needs a duration after it, such as `8h` or `30d` (at most 90 days).")
    rest, value = _take_option(_FOR, words, at[0], missing)
    return rest, parse_valid_for(value)


_ROLE = "--role"
_NAMES_ROLE = " or ".join(f"`{spec.name}`" for spec in REQUEST_OPERATIONS.values() if spec.names_role)


def _role(name: str, words: list[str]) -> tuple[list[str], RoleRef | None]:
    """`--role app-role` (or `--role=…`, or a role ARN) taken out of `words`: (the other words, the role)."""
    at = _option_at(_ROLE, words)
    if not at or name not in _OPERATIONS:
        return words, None
    if not REQUEST_OPERATIONS[Operation(name)].names_role:
        raise InputError(f"`--role` works only with {_NAMES_ROLE}: it names the role that replaces the key.")
    if len(at) > 1:
        raise InputError("`--role` is given more than once: name one role.")
    missing = InputError(f"`--role` needs a role after it: {ROLE_FORMS}.")
    rest, value = _take_option(_ROLE, words, at[0], missing)
    if not value:
        raise missing
    return rest, parse_role(value)


def _first(words: list[str]) -> str:
    if not words:
        raise _Missing
    return words[0]


# The slash command and the forms refuse such text before parsing, and answer it as an exposure; this keeps a
# secret out of any Command however it was made.
SECRET_TYPED = "That holds what looks like an AWS secret access key: nothing was filed, and none of it was kept."


def _reason(words: list[str]) -> str:
    reason = " ".join(words)
    if detect_typed(reason).secret:
        raise InputError(f"The reason is refused. {SECRET_TYPED}")
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
    if detect_typed(rest).secret:
        raise InputError(f"`check` takes only the key id, never its secret. {SECRET_TYPED}")
    return Command(name, raw=rest[:200])


def _for_user(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    return Command(name, user=parse_user_ref(_first(words), aliases), reason=_reason(words[1:]))


def _key_or_user(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    target = _first(words)
    if looks_like_key_id(target):
        return Command(name, key_id=parse_key_id(target), reason=_reason(words[1:]))
    return Command(name, user=parse_user_ref(target, aliases), reason=_reason(words[1:]))


def _key_operation(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    now = "--now" in words
    if now and not REQUEST_OPERATIONS[Operation(name)].break_glass:
        raise InputError(f"`--now` works only with {_BREAK_GLASS}.")
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
            f"`{name}` takes at most a number of days after the {'user' if name == 'access' else 'key id'}."
        )
    if not words:
        return default
    text = words[0]
    if not text.isascii() or not text.isdigit():
        raise InputError(f"`{text[:20]}` is not a number of days: give a whole number from 1 to {most}.")
    days = int(text)
    if not 1 <= days <= most:
        why = "Access Advisor remembers about 400 days" if name == "access" else "CloudTrail keeps 90 days of events"
        raise InputError(f"{days} days is out of range: {why}, so give 1 to {most}.")
    return days


def _activity(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    """`activity` and `replace`: a key id, then the days of CloudTrail to read."""
    return Command(name, key_id=parse_key_id(_first(words)), days=_days(name, words[1:]))


def _access(name: str, rest: str, words: list[str], aliases: list[str]) -> Command:
    target = _first(words)
    if looks_like_key_id(target):
        raise InputError("`access` takes a user, not a key id (a key has the permissions of its user).")
    return Command(name, user=parse_user_ref(target, aliases), days=_days(name, words[1:]))


def normalise_request_id(text: str) -> str:
    body = text.upper().removeprefix("R").removeprefix("-")
    return f"R-{body}"


_BREAK_GLASS = " or ".join(f"`{spec.name}`" for spec in REQUEST_OPERATIONS.values() if spec.break_glass)
# How each way of picking a key is parsed: a user, a key id or either, then the reason.
_BY_PICKS = {Picks.USER: _for_user, Picks.KEY_OR_USER: _key_or_user, Picks.KEY: _key_operation}
_PARSERS = {
    "help": _no_args,
    "requests": _no_args,
    "scan": _no_args,
    "list": _list,
    "check": _check,
    **{spec.name: _BY_PICKS[spec.picks] for spec in REQUEST_OPERATIONS.values()},
    "cancel": _cancel,
    "audit": _audit,
    "activity": _activity,
    "access": _access,
    "replace": _activity,
}
