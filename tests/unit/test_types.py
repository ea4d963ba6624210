"""The types hold: mypy, configured in pyproject.toml ([tool.mypy]; strict on bot/domain and bot/access.py),
finds no error in bot/ and handlers/."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Outside the work tree and kept between runs, so a run after a small change re-checks only what changed.
CACHE = Path(tempfile.gettempdir()) / f"keywarden-mypy-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"


def test_mypy_finds_no_error() -> None:
    mypy = [sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), "bot", "handlers"]
    result = subprocess.run(mypy, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
