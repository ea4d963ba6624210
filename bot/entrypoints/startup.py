"""Start-up shared by every entry point: settings read once, a bad one ends the program with one line."""

from __future__ import annotations

import sys

from dotenv import load_dotenv

from bot.settings import Settings
from bot.settings.reader import SettingsError


def load_settings_or_exit(*, slack: bool = True) -> Settings:
    """Settings from the environment and `.env`; a bad variable ends the program with one line."""
    load_dotenv(override=False)
    try:
        return Settings.from_env(slack=slack)
    except SettingsError as e:
        print(f"keywarden: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
