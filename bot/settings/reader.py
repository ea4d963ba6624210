"""Reading the environment for the settings, and saying in one line what is wrong with it.

`Environment` is the settings source: each declared variable, stripped (blank is unset), a secret perhaps from the
file `<NAME>_FILE` names. `describe` turns pydantic's first validation error into the line start-up prints:
`NAME is not set: expected …` or `NAME is malformed (why): expected …`, the form being the field's description.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and the expected form.

    Raised inside a validator, its message is the whole line (a rule between variables words its own)."""


class Malformed(ValueError):
    """A value a validator refuses, when the form to expect is not the field's description."""

    def __init__(self, why: str, expected: str) -> None:
        super().__init__(why)
        self.expected = expected


# Each may instead name a file holding it in <NAME>_FILE (Docker and Kubernetes secrets are mounted as files).
SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_ADMIN_TOKEN",
    "AUDIT_WEBHOOK_SECRET",
    "DATABASE_URL",
    "GITHUB_TOKEN",
    "GITHUB_APP_PRIVATE_KEY",
    "GITLAB_TOKEN",
    "VAULT_TOKEN",
)
_OUT_OF_RANGE = {"greater_than_equal", "less_than_equal"}


def names(field: FieldInfo) -> list[str]:
    """The variables a field reads, the first set one winning: its name in capitals, or its AliasChoices."""
    alias = field.validation_alias
    return [n for n in (alias.choices if isinstance(alias, AliasChoices) else [alias]) if isinstance(n, str)]


def variables(settings_cls: type[BaseSettings]) -> Iterator[tuple[str, FieldInfo]]:
    """(variable name, field) for every variable the settings read, in declaration order."""
    for field in settings_cls.model_fields.values():
        for name in names(field):
            yield name, field


def secret_file(name: str, env: Mapping[str, str]) -> str | None:
    """The secret in the file `<NAME>_FILE` names (stripped), None when unset; refused when `NAME` is set too."""
    path = env.get(f"{name}_FILE", "").strip()
    if not path:
        return None
    if env.get(name, "").strip():
        raise SettingsError(f"{name} and {name}_FILE are both set: set one of them")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or type(e).__name__
        raise SettingsError(f"{name}_FILE names a file that cannot be read ({path}: {why})") from None
    if not value:
        raise SettingsError(f"{name}_FILE names an empty file ({path})")
    return value


class Environment(PydanticBaseSettingsSource):
    """The variables the settings declare, read from `env` (the process environment, or a test's mapping)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in names(field):
            value = self.env.get(name, "").strip() or None
            if name in SECRET_VARIABLES:
                value = secret_file(name, self.env) or value
            if value is not None:
                return value, name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[name] = value
        return values


def describe(error: ValidationError, settings_cls: type[BaseSettings]) -> SettingsError:
    """The first problem pydantic found, as the one line that names the variable and the form it expects."""
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, SettingsError):
        return cause
    name = str(first["loc"][0])
    expected = getattr(cause, "expected", None) or dict(variables(settings_cls))[name].description
    if first["type"] == "missing":
        return SettingsError(f"{name} is not set: expected {expected}")
    if first["type"] in _OUT_OF_RANGE:
        why = f"{first['input']} is out of range"
    else:
        why = str(cause) if isinstance(cause, ValueError) else ""
    return SettingsError(f"{name} is malformed{f' ({why})' if why else ''}: expected {expected}")
