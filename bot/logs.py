"""Logging setup, with a record factory that redacts anything shaped like an AWS secret key.

The factory runs for every record of every logger (ours, botocore's at DEBUG, slack_sdk's),
before any handler sees it, so no handler or log level can let a secret through.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
REDACTED = "[redacted]"

_installed = False
_lock = threading.Lock()


def redact(text: str) -> str:
    return SECRET_SHAPE.sub(REDACTED, text)


def install_secret_redaction() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):  # type: ignore[no-untyped-def]
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logging module's to report
                return record
            clean = redact(message)
            if clean != message or record.args:
                record.msg, record.args = clean, None
            return record

        logging.setLogRecordFactory(factory)
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
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
