"""Settings that start-up depends on: secrets from files, the database URL as platforms write it, Socket Mode
without a signing secret, the start-up timeout; and the command line's own promises (help, version, dates)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.entrypoints.cli import _parser, main
from bot.settings import Settings
from bot.settings.reader import SECRET_VARIABLES, SettingsError
from bot.store.db import Database

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-from-file\n", lambda s: s.slack_bot_token.get_secret_value()),
        ("SLACK_SIGNING_SECRET", "0123abcd\r\n", lambda s: s.slack_signing_secret.get_secret_value()),
        ("SLACK_APP_TOKEN", "xapp-1-A1-x\n", lambda s: s.slack_app_token.get_secret_value()),
        ("SLACK_ADMIN_TOKEN", "xoxp-admin\n", lambda s: s.slack_admin_token.get_secret_value()),
        ("AUDIT_WEBHOOK_SECRET", "sixteen-chars-long-secret\n", lambda s: s.audit_webhook_secret.get_secret_value()),
        ("DATABASE_URL", "postgres://kw:pw@db/kw\n", lambda s: s.database_url),
    ],
)
def test_every_secret_reads_from_its_file(name: str, value: str, read, tmp_path: Path) -> None:
    path = tmp_path / name.lower()
    path.write_text(value)
    env = {k: v for k, v in BASE.items() if k != name} | {f"{name}_FILE": str(path)}
    if name == "AUDIT_WEBHOOK_SECRET":
        env["AUDIT_WEBHOOK_URL"] = "https://siem.example.com/in"
    expected = "postgresql+psycopg://kw:pw@db/kw" if name == "DATABASE_URL" else value.rstrip("\r\n")
    assert read(Settings.from_env(env)) == expected
    assert name in SECRET_VARIABLES


def test_a_secret_set_twice_or_in_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET and SLACK_SIGNING_SECRET_FILE are both set"):
        Settings.from_env(BASE | {"SLACK_SIGNING_SECRET_FILE": str(tmp_path / "x")})
    folder = tmp_path / "a-directory"
    folder.mkdir()
    with pytest.raises(
        SettingsError, match=r"^DATABASE_URL_FILE names a file that cannot be read \(.*a-directory: Is a"
    ):
        Settings.from_env(BASE | {"DATABASE_URL_FILE": str(folder)})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match=r"^SLACK_APP_TOKEN_FILE names an empty file"):
        Settings.from_env(BASE | {"SLACK_APP_TOKEN_FILE": str(tmp_path / "empty")})


def test_heroku_postgres_urls_become_psycopg_and_other_drivers_are_refused() -> None:
    url = Settings.from_env(BASE | {"DATABASE_URL": "postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1"})
    assert url.database_url == "postgresql+psycopg://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1"
    db = Database(url.database_url)  # no connection yet: SQLAlchemy picks the driver we ship
    assert (db.engine.dialect.name, db.engine.dialect.driver) == ("postgresql", "psycopg")
    db.dispose()
    for kept in ("sqlite:///kw.db", "sqlite+pysqlite:///kw.db", "postgresql+psycopg://h/d"):
        assert Settings.from_env(BASE | {"DATABASE_URL": kept}).database_url.endswith(kept.split("://")[1])
    for refused in ("postgresql+psycopg2://h/d", "postgresql+asyncpg://h/d", "mysql://h/d", "oracle+cx://h/d"):
        with pytest.raises(SettingsError, match=r"^DATABASE_URL is malformed"):
            Settings.from_env(BASE | {"DATABASE_URL": refused})


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A1-x"})
    assert settings.slack_app_token is not None
    assert settings.slack_app_token.get_secret_value() == "xapp-1-A1-x"
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET is not set"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"})


def test_startup_timeout() -> None:
    assert Settings.from_env(BASE).startup_timeout_seconds == 60
    assert Settings.from_env(BASE | {"STARTUP_TIMEOUT_SECONDS": "0"}).startup_timeout_seconds == 0
    with pytest.raises(SettingsError, match=r"^STARTUP_TIMEOUT_SECONDS is malformed"):
        Settings.from_env(BASE | {"STARTUP_TIMEOUT_SECONDS": "soon"})


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommands(sub, (*prefix, name))


def test_every_subcommand_has_help_and_every_positional_argument_says_what_it_is(capsys) -> None:
    commands = list(_subcommands(_parser()))
    assert {c for c, _ in commands} >= {("run",), ("scheduler",), ("db",), ("scan",), ("audit",), ("policy", "explain")}
    for command, sub in commands:
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
        assert "usage: python -m bot " + " ".join(command) in capsys.readouterr().out
        positionals = [
            a for a in sub._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
        ]
        assert all(a.help for a in positionals), command


def test_an_audit_window_that_ends_before_it_starts_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--json", "--since", "2026-05-01", "--until", "2026-04-01"])
    assert exit_.value.code == 2
    assert "audit: --since (2026-05-01T00:00:00+00:00) must be before --until" in capsys.readouterr().err
