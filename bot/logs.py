"""Logging setup, with a record factory that redacts anything shaped like an AWS secret key.

The factory runs for every record of every logger (ours, botocore's at DEBUG, slack_sdk's),
before any handler sees it, so no handler or log level can let a secret through.
"""

from __future__ import annotations

import logging
import re
import threading

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


def setup_logging(level: str = "INFO") -> None:
    install_secret_redaction()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if level != "DEBUG":
        # Their INFO lines (each migration step, where credentials were found) are noise in operation.
        for name in ("alembic", "botocore", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)
