"""Reading one variable from the environment: blank is unset, and a value a parser refuses stops the start
with a `SettingsError` naming the variable and the expected form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from bot.settings.parsers import on_off

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and the expected form."""


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
