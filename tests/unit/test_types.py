"""The types hold: mypy, configured in pyproject.toml ([tool.mypy]; strict on bot/domain and bot/access.py),
finds no error in bot/ and handlers/."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Outside the work tree and kept between runs (and shared by checkouts: mypy compares each file's hash), so a run
# re-checks only what changed.
CACHE = Path(tempfile.gettempdir()) / "keywarden-mypy"


def test_mypy_finds_no_error() -> None:
    mypy = [sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), "bot", "handlers"]
    result = subprocess.run(mypy, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
