"""Parsers of one variable's value: each takes the stripped text and returns the value or raises ValueError
(its message, when any, says what is wrong; `reader.describe` adds the variable's name and expected form)."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.domain.catalogue import KEY_TOO_OLD, KEY_UNUSED, canonical_code
from bot.domain.delivery import SECRET_PREFIX
from bot.domain.operations import REQUEST_OPERATIONS
from bot.domain.slack_ids import is_user_id
from bot.domain.standard_webhooks import signing_key

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
CHANNEL_FORM = "a channel id such as C0123ABCD (C… or G…; the channel's details in Slack show it)"

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_OPERATIONS = frozenset(op.value for op in REQUEST_OPERATIONS)


def token(prefix: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not value.startswith(prefix) or len(value) <= len(prefix):
            raise ValueError("")
        return value

    return parse


def base_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("")
    return value if value.endswith("/") else value + "/"


def private_key(value: str) -> str:
    """A PEM private key (a GitHub App's): the text, with `\\n` read as line breaks (one-line variables)."""
    text = value.replace("\\n", "\n").strip()
    if not (text.startswith("-----BEGIN") and "PRIVATE KEY-----" in text):
        raise ValueError("")
    return text + "\n"


def queue_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+/\d{12}/[\w-]{1,80}(\.fifo)?$", value):
        raise ValueError("")
    return value


def database_url(value: str) -> str:
    """SQLite or PostgreSQL with the driver we ship (psycopg 3); `postgres://`, as Heroku writes it, works too."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise ValueError("")
    dialect, _, driver = scheme.lower().partition("+")
    if dialect == "sqlite" and driver in ("", "pysqlite"):
        return value
    if dialect in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"the {driver} driver is not installed: write postgresql:// (psycopg 3 is used)")
        return "postgresql+psycopg://" + rest
    if dialect == "sqlite":
        raise ValueError(f"the {driver} driver is not installed: write sqlite://")
    raise ValueError("only sqlite and postgresql are supported")


def webhook_url(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme == "https" and host:
        return value
    if parts.scheme == "http" and host in {"127.0.0.1", "localhost", "::1"}:
        return value  # a relay on the same host (or a test receiver); anything further away needs TLS
    raise ValueError("the audit trail leaves the host only over https")


def webhook_secret(value: str) -> str:
    """A Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes), or the older form: 16 characters or more."""
    signing_key(value)  # ValueError saying what is wrong
    return value


def whole_number(value: str) -> int:
    """Digits, perhaps after a minus (not 1.0, +1 or 1_000); the field's bounds are checked after."""
    if not re.fullmatch(r"-?\d+", value):
        raise ValueError("")
    return int(value)


def matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not pattern.match(value):
            raise ValueError("")
        return value

    return parse


def pattern_list(pattern: re.Pattern[str], what: str) -> Callable[[str], frozenset[str]]:
    def parse(value: str) -> frozenset[str]:
        items = [p.strip() for p in value.split(",") if p.strip()]
        bad = [i for i in items if not pattern.match(i)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not {what}")
        return frozenset(items)

    return parse


def on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered in {"on", "true", "1", "yes"}:
        return True
    if lowered in {"off", "false", "0", "no"}:
        return False
    raise ValueError("")


def channel_id(value: str) -> str:
    """A channel id: files.completeUploadExternal and chat.update take ids, not names."""
    if _CHANNEL_ID.match(value):
        return value
    if value.startswith("#") or value == value.lower():
        raise ValueError(f"{value!r} looks like a channel name; Slack's API needs the channel's id")
    if value.startswith("D"):
        raise ValueError(f"{value!r} is a direct message, not a channel")
    raise ValueError(f"{value!r} is not a channel id")


def slack_user_ids(value: str) -> frozenset[str]:
    ids = [part.strip() for part in value.split(",") if part.strip()]
    bad = [i for i in ids if not is_user_id(i)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a Slack user id")
    return frozenset(ids)


def secret_name_prefix(value: str) -> str:
    if len(value) > 200 or not SECRET_PREFIX.match(value):
        raise ValueError("")
    return value


def approval_counts(value: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        name, sep, count = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in _OPERATIONS:
            raise ValueError(f"{part!r} does not name an operation ({', '.join(sorted(_OPERATIONS))})")
        if not count.strip().isdigit() or not 1 <= int(count) <= 5:
            raise ValueError(f"{part!r} needs a count from 1 to 5")
        result[name] = int(count)
    return result


# ENFORCE names a kind (`unused`, `age`) or its finding's code (`key-unused`, or the old `key_unused`).
_ENFORCED_CODES = {KEY_UNUSED: "unused", KEY_TOO_OLD: "age"}


def enforce_days(value: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        kind, sep, days = part.partition("=")
        kind = _ENFORCED_CODES.get(canonical_code(kind) or "", kind.strip().lower())
        if not sep or kind not in {"unused", "age"}:
            raise ValueError(f"{part!r} does not name a kind (unused, age)")
        if not days.strip().isdigit() or not 1 <= int(days) <= 3650:
            raise ValueError(f"{part!r} needs a number of days from 1 to 3650")
        if kind in result:
            raise ValueError(f"{kind!r} appears twice")
        result[kind] = int(days)
    return result


def crontab(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    CronTrigger.from_crontab(value)  # raises ValueError with what is wrong
    return value


def time_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def exempt_subjects(value: str) -> frozenset[str]:
    items = [p.strip() for p in value.split(",") if p.strip()]
    bad = [i for i in items if not re.match(r"^([a-z0-9-]+:)?[\w+=,.@-]{1,64}$", i)]
    if bad:
        raise ValueError(f"{bad[0]!r} is neither a key id nor a user")
    return frozenset(items)


def regions(value: str) -> tuple[str, ...]:
    names = [p.strip() for p in value.split(",") if p.strip()]
    bad = [r for r in names if not REGION.match(r)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an AWS region name")
    return tuple(dict.fromkeys(names))
