"""Reading one variable from the environment: blank is unset, and a value a parser refuses stops the start
with a `SettingsError` naming the variable and the expected form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from bot.settings.parsers import on_off

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and the expected form."""


# Each may instead name a file holding it in <NAME>_FILE (Docker and Kubernetes secrets are mounted as files).
SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_ADMIN_TOKEN",
    "AUDIT_WEBHOOK_SECRET",
    "DATABASE_URL",
)


def with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with each secret named by `<NAME>_FILE` read from its file (the trailing newline stripped)."""
    resolved = dict(env)
    for name in SECRET_VARIABLES:
        path = env.get(f"{name}_FILE", "").strip()
        if not path:
            continue
        if env.get(name, "").strip():
            raise SettingsError(f"{name} and {name}_FILE are both set: set one of them")
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or type(e).__name__
            raise SettingsError(f"{name}_FILE names a file that cannot be read ({path}: {why})") from None
        if not value.strip():
            raise SettingsError(f"{name}_FILE names an empty file ({path})")
        resolved[name] = value
    return resolved


class Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def required(self, name: str, parse: Callable[[str], T], form: str) -> T:
        value = self.env.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is not set: expected {form}")
        return self._parse(name, value, parse, form)

    def optional(self, name: str, parse: Callable[[str], T], form: str) -> T | None:
        value = self.env.get(name, "").strip()
        if not value:
            return None
        return self._parse(name, value, parse, form)

    def flag(self, name: str, default: bool) -> bool:
        if not self.env.get(name, "").strip():
            return default
        return bool(self.optional(name, on_off, "true or false"))

    @staticmethod
    def _parse(name: str, value: str, parse: Callable[[str], T], form: str) -> T:
        try:
            return parse(value)
        except ValueError as e:
            detail = f" ({e})" if str(e) else ""
            raise SettingsError(f"{name} is malformed{detail}: expected {form}") from None
