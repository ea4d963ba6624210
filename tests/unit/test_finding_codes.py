"""Finding codes are kebab-case, for machines; the old snake_case names are still read wherever people name codes."""

from __future__ import annotations

import re

import pytest

from bot.domain.catalogue import CATALOGUE, LEGACY_CODES, canonical_code, title_of
from bot.settings import Settings
from bot.settings.reader import SettingsError

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def test_every_code_is_kebab_case() -> None:
    assert all(KEBAB.match(code) for code in CATALOGUE), sorted(CATALOGUE)
    assert set(LEGACY_CODES.values()) <= set(CATALOGUE)
    assert {"root_key", "key_too_old", "key_age_warning", "key_unused", "two_active_keys", "inactive_key"} == set(
        LEGACY_CODES
    )


@pytest.mark.parametrize("name", ["key-too-old", "key_too_old", "KEY_TOO_OLD", " Key-Too-Old "])
def test_old_and_new_names_mean_the_same_finding(name: str) -> None:
    assert canonical_code(name) == "key-too-old"
    assert title_of(name) == "Older than the limit"


def test_an_unknown_name_is_no_code() -> None:
    assert canonical_code("key-too-young") is None and title_of("key-too-young") == "key-too-young"


@pytest.mark.parametrize(
    "value", ["unused=60,age=120", "key-unused=60,key-too-old=120", "key_unused=60, KEY_TOO_OLD=120"]
)
def test_enforce_reads_kinds_codes_and_old_codes(value: str) -> None:
    assert Settings.from_env(BASE | {"ENFORCE": value}).enforce == {"unused": 60, "age": 120}


def test_enforce_refuses_a_code_it_does_not_enforce() -> None:
    with pytest.raises(SettingsError, match="'inactive-key=30' does not name a kind"):
        Settings.from_env(BASE | {"ENFORCE": "inactive-key=30"})
