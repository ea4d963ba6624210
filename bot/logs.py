"""Logging setup, with a record factory that redacts secret access keys.

The factory runs for every record of every logger (ours, botocore's at DEBUG, slack_sdk's),
before any handler sees it, so no handler or log level can let a secret through. It removes:
- anything shaped like an AWS secret key, also with `/` written as JSON escapes it (`\\/`);
- every secret the bot handled in the last minutes (`remember_secret`), in any form it may take
  on the way: raw, JSON-escaped (`\\/`, `\\u002f`), URL-encoded and base64;
- any piece of 8 characters or more of such a secret (a reply that quoted the first 40 characters of what
  was typed holds half a secret): the whole run of secret-alphabet characters holding it.

slack_sdk also logs every request and response body at DEBUG, and the body of a `views.*` call
is the whole view (Slack echoes it back): those bodies are never logged (`_QuietSlackViews`).
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bot.domain.keys import SECRET_SHAPE

# The same shape as Slack's JSON writes it (`/` as `\/` or `\u002f`; backslashes doubled inside a repr()).
_SLASH = r"(?:\\*/|\\+u002[fF])"
ESCAPED_SECRET_SHAPE = re.compile(rf"(?<![A-Za-z0-9/+\\])(?:[A-Za-z0-9+]|{_SLASH}){{40}}(?![A-Za-z0-9/+=]|{_SLASH})")
REDACTED = "[redacted]"
MIN_PIECE = 8  # a piece of a remembered secret this long is redacted wherever it appears
# A run of the secret's alphabet, `/` and `+` also as JSON or URL encoding write them, long enough to hold a piece.
_RUN = re.compile(r"(?:[A-Za-z0-9+]|\\*/|\\+u002[fFbB]|%(?:25)*2[fFbB]){8,}")
_ENCODED_SLASH = re.compile(r"\\*/|\\+u002[fF]|%(?:25)*2[fF]")
_ENCODED_PLUS = re.compile(r"\\+u002[bB]|%(?:25)*2[bB]")
SLACK_CLIENT_LOGGER = "slack_sdk.web.base_client"

_installed = False
_lock = threading.Lock()


class KnownSecrets:
    """Secrets the bot handled recently, kept in memory only, for a short time and a bounded number."""

    def __init__(
        self, ttl_seconds: float = 900, limit: int = 256, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._limit = limit
        self._monotonic = monotonic
        self._secrets: OrderedDict[str, float] = OrderedDict()  # secret -> when it was added
        self._pattern: re.Pattern[str] | None = None
        self._pieces: frozenset[str] = frozenset()  # every MIN_PIECE-character piece of every secret
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if len(secret) < 16:  # too short to be a secret key; redacting it would blank ordinary words
            return
        with self._lock:
            self._secrets.pop(secret, None)
            self._secrets[secret] = self._monotonic()
            while len(self._secrets) > self._limit:
                self._secrets.popitem(last=False)
            self._changed()

    def _changed(self) -> None:
        self._pattern = None
        self._pieces = frozenset(s[i : i + MIN_PIECE] for s in self._secrets for i in range(len(s) - MIN_PIECE + 1))

    def _expire(self) -> None:
        expired = [s for s, at in self._secrets.items() if self._monotonic() - at >= self._ttl]
        for secret in expired:
            del self._secrets[secret]
        if expired:
            self._changed()

    def pattern(self) -> re.Pattern[str] | None:
        """One regular expression for every encoding of every secret still remembered (None: none)."""
        with self._lock:
            self._expire()
            if self._pattern is None and self._secrets:
                forms = sorted({form for s in self._secrets for form in _encodings(s)}, key=len, reverse=True)
                self._pattern = re.compile("|".join(forms))
            return self._pattern if self._secrets else None

    def redact_pieces(self, text: str) -> str:
        """Every run of secret-alphabet characters that holds a piece of a remembered secret, as REDACTED."""
        with self._lock:
            self._expire()
            pieces = self._pieces
        if not pieces:
            return text

        def clean(run: re.Match[str]) -> str:
            plain = _ENCODED_PLUS.sub("+", _ENCODED_SLASH.sub("/", run.group(0)))
            held = any(plain[i : i + MIN_PIECE] in pieces for i in range(len(plain) - MIN_PIECE + 1))
            return REDACTED if held else run.group(0)

        return _RUN.sub(clean, text)

    def __len__(self) -> int:
        with self._lock:
            return len(self._secrets)


# `/`, `+` and `=` as JSON, a repr() of JSON, and (once or twice) URL encoding may write them.
_CHAR_FORMS = {
    "/": r"(?:\\*/|\\+u002[fF]|%(?:25)*2[fF])",
    "+": r"(?:\\*\+|\\+u002[bB]|%(?:25)*2[bB])",
    "=": r"(?:=|\\+u003[dD]|%(?:25)*3[dD])",
}


def _encodings(secret: str) -> list[str]:
    """Regular expressions for the forms a secret takes in logs: as text (escaped any way) and as base64."""
    forms = ["".join(_CHAR_FORMS.get(c, re.escape(c)) for c in secret)]
    forms += [re.escape(core) for core in base64_cores(secret.encode())]
    return forms


def base64_cores(data: bytes) -> set[str]:
    """The base64 characters that encode only `data`, wherever it sits in a longer encoded text.

    Base64 works on 3-byte groups, so the bytes before `data` shift it to one of three alignments;
    the characters that mix in a neighbouring byte differ, the ones in between do not.
    """
    cores = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            text = encode(b"\0" * offset + data).decode()
            start = -(-8 * offset // 6)  # the first character made of `data`'s bits alone
            end = 8 * (offset + len(data)) // 6
            cores.add(text[start:end])
    return cores


_known = KnownSecrets()


def remember_secret(secret: str) -> None:
    """Redact this secret, in every encoding, and any piece of it, from every log record for the next minutes."""
    _known.add(secret)


def remember_secrets_in(text: str) -> None:
    """Remember every secret-shaped token of a text that holds a secret someone typed (see remember_secret)."""
    for match in SECRET_SHAPE.finditer(text):
        _known.add(match.group(0))


def redact(text: str) -> str:
    pattern = _known.pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
        text = _known.redact_pieces(text)
    text = SECRET_SHAPE.sub(REDACTED, text)
    if "\\" in text:
        text = ESCAPED_SECRET_SHAPE.sub(REDACTED, text)
    return text


# Which Slack Web API method the current thread is calling, for _QuietSlackViews.
_slack_call = threading.local()
_API_URL = re.compile(r"https?://\S+?/([a-z]+(?:\.[A-Za-z]+)+)(?=[\s,?]|$)")


@contextmanager
def slack_api_call(method: str) -> Iterator[None]:
    """Mark the current thread as calling Slack's `method` (set by the bot's own Web API client)."""
    previous = getattr(_slack_call, "method", None)
    _slack_call.method = method
    try:
        yield
    finally:
        _slack_call.method = previous


class _QuietSlackViews(logging.Filter):
    """Never log the request or response bodies of Slack's `views.*` calls.

    A views.* body is a whole view, and Slack echoes the view back in its answer: the Reveal modal's
    answer holds the secret, with every `/` escaped. slack_sdk logs both bodies at DEBUG. The method is
    known from the bot's client (`slack_api_call`), or, for the clients Bolt makes per request (which
    share this logger), from the URL in the record slack_sdk writes before sending each request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's to report
            return True
        method = getattr(_slack_call, "method", None)
        url = _API_URL.search(message)
        if url:
            _slack_call.seen = url.group(1)
        method = method or getattr(_slack_call, "seen", None)
        if method and method.startswith("views."):
            what = message.split(" - ", 1)[0][:60]
            record.msg, record.args = f"{method}: {what} (views.* bodies are not logged)", None
            record.exc_info = record.exc_text = None
        return True


def install_secret_redaction() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logging module's to report
                return record
            clean = redact(message)
            if clean != message or record.args:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                # Formatters use exc_text when it is set: an exception's text (a Slack error's response) is cleaned too.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            return record

        logging.setLogRecordFactory(factory)
        logging.getLogger(SLACK_CLIENT_LOGGER).addFilter(_QuietSlackViews())
        _installed = True


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    install_secret_redaction()
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if level != "DEBUG":
        # Their INFO lines (each migration step, where credentials were found) are noise in operation.
        for name in ("alembic", "botocore", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)


# What is known about the work in hand (a Slack request, a job): request id, Slack user id, Keywarden request
# id. Set where the work starts; carried into the work after the ack with the context (contextvars).
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("keywarden_log_context", default=None)
CONTEXT_FIELDS = ("request_id", "slack_user_id", "keywarden_request_id", "rotation_id")


@contextmanager
def log_context(**fields: str | None) -> Iterator[dict[str, str]]:
    """Add fields to every log record made inside the block (in this thread, and in work it hands on)."""
    merged = current_log_context() | {k: v for k, v in fields.items() if v}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, str]:
    return _context.get() or {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json). Messages arrive already redacted by the record factory."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_log_context()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(record.exc_text or self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
