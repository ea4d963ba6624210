"""Scan memory written with the old snake_case finding codes keeps working after the upgrade: its rows are rewritten
to the kebab-case codes, so a finding already announced is not announced again, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.domain.findings import KEY_TOO_OLD, TWO_ACTIVE_KEYS, catalogued
from bot.domain.keys import KeyFacts
from bot.domain.scan import ScanFinding
from bot.store.audit import AuditLog
from bot.store.db import MIGRATIONS, Database
from bot.store.finding_notices import FindingNotices

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
RENAMING = "kebab_finding_codes"  # the migration's file name ends so


def _config(connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _before_renaming() -> str:
    script = ScriptDirectory.from_config(_config(None))
    renaming = next(r for r in script.walk_revisions() if r.path.endswith(f"{RENAMING}.py"))
    assert isinstance(renaming.down_revision, str)
    return renaming.down_revision


def _notice(connection, subject: str, code: str, notified: datetime | None) -> None:
    connection.execute(
        text(
            "INSERT INTO finding_notices (account, subject, code, iam_user, severity, owner, first_seen, last_seen, "
            "notified_at, notified_severity, resolved_at, notify_count) VALUES ('default', :subject, :code, 'ci', 4, "
            "'alice@example.com', :seen, :seen, :notified, :severity, NULL, 1)"
        ),
        {"subject": subject, "code": code, "seen": NOW - timedelta(days=3), "notified": notified, "severity": 4},
    )


def test_old_codes_in_the_scan_memory_are_rewritten(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    with db.engine.connect() as connection:
        command.upgrade(_config(connection), _before_renaming())
        _notice(connection, "AKIAOLDOLDOLDOLDOLD1", "key_too_old", NOW - timedelta(days=1))
        _notice(connection, "user:ci", "two_active_keys", NOW - timedelta(days=1))
        _notice(connection, "AKIAOLDOLDOLDOLDOLD2", "key_unused", None)  # a newer process wrote it again:
        _notice(connection, "AKIAOLDOLDOLDOLDOLD2", "key-unused", NOW - timedelta(days=2))  # this row is kept
        _notice(connection, "AKIAOLDOLDOLDOLDOLD3", "admin-key", NOW - timedelta(days=1))  # already kebab-case
        connection.commit()
    db.migrate()
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT subject, code, notified_at FROM finding_notices")).all()
    assert sorted((subject, code) for subject, code, _ in rows) == [
        ("AKIAOLDOLDOLDOLDOLD1", "key-too-old"),
        ("AKIAOLDOLDOLDOLDOLD2", "key-unused"),
        ("AKIAOLDOLDOLDOLDOLD3", "admin-key"),
        ("user:ci", "two-active-keys"),
    ]
    assert next(n for s, c, n in rows if c == "key-unused") is not None  # the newer row stood

    # The next scan sees the same findings under the new codes: nothing is new, nothing resolved, so nothing is
    # announced again before the reminder interval.
    key = KeyFacts("default", "ci", "AKIAOLDOLDOLDOLDOLD1", "Active", NOW - timedelta(days=100))
    seen = [
        ScanFinding("default", "ci", "AKIAOLDOLDOLDOLDOLD1", catalogued(KEY_TOO_OLD, "old"), key),
        ScanFinding("default", "ci", "user:ci", catalogued(TWO_ACTIVE_KEYS, "two"), None),
        ScanFinding("default", "ci", "AKIAOLDOLDOLDOLDOLD2", catalogued("key-unused", "unused"), key),
        ScanFinding("default", "ci", "AKIAOLDOLDOLDOLDOLD3", catalogued("admin-key", "admin"), key),
    ]
    notices = FindingNotices(db, AuditLog(db, lambda: NOW))
    remembered = notices.remember(seen, {"default"}, NOW)
    assert remembered.new == set() and remembered.resolved == 0
    assert remembered.states[("default", "AKIAOLDOLDOLDOLDOLD1", KEY_TOO_OLD)].notified_at is not None
    db.dispose()
