"""Start-up shared by every entry point: settings read once, the database reached, and for the processes that
serve, Slack and AWS checked (bot/entrypoints/preflight.py). A failure ends the program with one line naming the
variable to fix, exit 2; the traceback only at LOG_LEVEL=DEBUG."""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

from dotenv import load_dotenv

from bot.settings import Settings
from bot.settings.reader import SettingsError

if TYPE_CHECKING:
    from bot.aws import AwsGateway

EXIT_REFUSED = 2


def load_settings_or_exit(*, slack: bool = True) -> Settings:
    """Settings from the environment and `.env`; a bad variable ends the program with one line."""
    load_dotenv(override=False)
    try:
        return Settings.from_env(slack=slack)
    except SettingsError as e:
        print(f"keywarden: configuration error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None


def refuse(settings: Settings, lines: list[str], errors: list[BaseException | None] | None = None) -> NoReturn:
    """End the program: one line per failure on stderr (tracebacks first, at LOG_LEVEL=DEBUG), exit 2."""
    if settings.log_level == "DEBUG":
        for error in errors or []:
            if error is not None:
                traceback.print_exception(error, file=sys.stderr)
    for line in lines:
        print(f"keywarden: {line}", file=sys.stderr)
    raise SystemExit(EXIT_REFUSED)


def reach_database_or_exit(settings: Settings) -> None:
    """Connect to DATABASE_URL once; one line and exit 2 when that fails (instead of a driver's traceback)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import Database

    try:
        db = Database(settings.database_url)
        try:
            db.ping()
        finally:
            db.dispose()
    except (SQLAlchemyError, OSError) as e:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        refuse(settings, [f"DATABASE_URL: cannot reach the database {where} ({_reason(e)})"], [e])


def _reason(error: BaseException) -> str:
    """The driver's own first line (psycopg: which host and port, and what it answered), or the error's type."""
    cause = getattr(error, "orig", None) or error
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
    return first[:300] or type(cause).__name__


def check_dependencies_or_exit(settings: Settings, aws: AwsGateway) -> None:
    """The start-up checks of a process that serves (bot, scheduler, web): any failure ends it, exit 2."""
    from bot.entrypoints.preflight import Preflight

    failures = Preflight(settings, aws).run()
    if failures:
        refuse(settings, [f.line for f in failures], [f.error for f in failures])
