"""Every CSV Keywarden writes (scan findings, CloudTrail events, the audit log) is safe to open in a spreadsheet."""

import ast
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.activity import TrailEvent
from bot.domain.findings import KEY_TOO_OLD, catalogued
from bot.domain.keys import KeyFacts
from bot.domain.scan import ScanFinding
from bot.slack.messages.csv_files import csv_text
from bot.slack.messages.scans import findings_csv
from bot.slack.messages.usage import events_csv

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
# Each starts like a formula; IAM user names allow `+ = , . @ -`, CloudTrail user agents and error codes anything.
FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("formula", FORMULAS)
def test_findings_csv_cells_cannot_run(formula: str) -> None:
    facts = KeyFacts("default", formula, "AKIA" + "A" * 16, "Active", NOW - timedelta(days=100), NOW)
    finding = ScanFinding(formula, formula, facts.key_id, catalogued(KEY_TOO_OLD, "old"), facts, owner=formula)
    header, row = _rows(findings_csv([finding], NOW))
    cells = dict(zip(header, row, strict=True))
    assert (cells["account"], cells["user"], cells["owner"]) == (f"'{formula}",) * 3
    assert cells["age_days"] == "100" and cells["finding"] == KEY_TOO_OLD


@pytest.mark.parametrize("formula", FORMULAS)
def test_activity_csv_cells_cannot_run(formula: str) -> None:
    event = TrailEvent(NOW, formula, formula, "eu-west-1", formula, formula, formula, formula, None)
    header, row = _rows(events_csv([event]))
    cells = dict(zip(header, row, strict=True))
    for column in ("service", "event", "source_ip", "user_agent", "error", "event_id"):
        assert cells[column] == f"'{formula}", column
    assert cells["time_utc"] == "2026-11-28T12:00:00Z"


def test_pipe_percent_tab_and_return_starts_are_guarded_and_plain_text_is_kept() -> None:
    (_, row) = _rows(csv_text(["a", "b", "c", "d", "e", "f"], [["|cmd", "%x", "\tx", "\rx", "a = b - c", 7]]))
    assert row[0].startswith("'") and row[1] == "'%x" and row[2] == "'\tx" and row[3] == "'\rx"
    assert row[4:] == ["a = b - c", "7"]


def test_no_csv_is_written_but_through_csv_files() -> None:
    imports: dict[str, set[str]] = {}
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("csv", "defusedcsv"):
                    imports.setdefault(name.split(".")[0], set()).add(path.relative_to(ROOT).as_posix())
    # The standard library's csv only reads (the credential report); only csv_files writes, through defusedcsv.
    assert imports == {"csv": {"bot/domain/report.py"}, "defusedcsv": {"bot/slack/messages/csv_files.py"}}
    assert "writer" not in (ROOT / "bot/domain/report.py").read_text()
