"""The layering rules in pyproject.toml ([tool.importlinter]) hold: a pure domain, boto3 only behind bot.aws,
handlers without database or AWS code of their own, layers importing only downward, no import cycles;
and no module is over 350 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


MAX_LINES = 350


def test_no_module_is_over_350_lines() -> None:
    too_long: dict[str, int] = {}
    for path in sorted(p for package in ("bot", "handlers") for p in (ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            too_long[name] = lines
    assert not too_long, f"over {MAX_LINES} lines (split them along their jobs): " + ", ".join(
        f"{name} ({lines})" for name, lines in sorted(too_long.items())
    )
